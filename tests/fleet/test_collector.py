"""The fleet engine's garbage-collector settings: raised for a run, restored after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from azhotpatch.fleet import collector
from azhotpatch.testing import Emulator, FleetSpec


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)
    if enabled:
        gc.enable()


def test_a_run_raises_the_first_threshold_and_freezes_what_exists() -> None:
    frozen = gc.get_freeze_count()
    with collector.tuned_for_a_run():
        assert gc.get_threshold() == (collector.FIRST_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_concurrent_runs_restore_when_the_last_one_ends() -> None:
    with collector.tuned_for_a_run():
        with collector.tuned_for_a_run():
            pass
        assert gc.get_threshold()[0] == collector.FIRST_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_a_collector_the_process_turned_off_is_left_alone() -> None:
    gc.disable()
    with collector.tuned_for_a_run():
        assert gc.get_threshold() == (700, 10, 10)
        assert not gc.isenabled()
    gc.enable()
    gc.set_threshold(0)
    with collector.tuned_for_a_run():
        assert gc.get_threshold()[0] == 0
    with collector.tuned_for_a_run(enabled=False):
        assert gc.get_threshold()[0] == 0


@pytest.mark.parametrize("tune", [True, False])
def test_a_fleet_run_tunes_the_collector_only_while_it_runs(tune: bool) -> None:
    seen: list[int] = []
    spec = FleetSpec(vms=6, arc=2, subscriptions=1, mix="clean", seed=3)
    with (
        Emulator(fleet=spec, time_scale=600, record_requests=False) as emu,
        emu.client() as client,
    ):
        report = client.run(
            subscriptions=sorted(emu.world.subscriptions),
            actions=["assess"],
            progress=lambda event: seen.append(gc.get_threshold()[0]),
            tune_collector=tune,
        )
    assert report.counts["succeeded"] == 8
    assert set(seen) == {collector.FIRST_THRESHOLD if tune else 700}
    assert gc.get_threshold() == (700, 10, 10)
