"""Posture against the emulator's ground truth: every machine's verdict on a generated estate
is the one its generator drew for it (`MachineTruth.posture`), it moves as a partial run's
installs move the machines, it costs Resource Graph queries only, and two snapshots of an
estate changed in between say what changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from azhotpatch.fleet.posture import MachinePosture, Posture
from azhotpatch.posture_rules import Verdict
from azhotpatch.testing import Emulator, VmSpec
from azhotpatch.testing.patching.releases import PRODUCTS

# The November 2026 release (a hotpatch month after October's baseline) is in force; the
# next Patch Tuesday is 2026-12-08.
START = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def builds(emu: Emulator) -> dict[str, dict[str, int]]:
    """The first build revision of each release in the emulated world: what a caller gives
    azhotpatch for releases it does not know (the emulator's builds are its own model's)."""
    model = emu.world.patch_model
    return {
        p.build: model.release_builds(p, date(2026, 1, 1), date(2027, 6, 1))
        for p in PRODUCTS.values()
    }


def verdicts(posture: Posture) -> dict[str, tuple[str, int | None]]:
    return {m.resource.lower(): (m.verdict.value, m.behind) for m in posture.machines}


def truths(emu: Emulator) -> dict[str, tuple[str, int | None]]:
    return {rid: (t.posture.verdict, t.posture.behind) for rid, t in emu.truth().items()}


@pytest.fixture(scope="module")
def estate() -> Iterator[Emulator]:
    with Emulator(fleet="sample:2000", start=START, time_scale=600) as emu:
        yield emu


def test_every_verdict_is_the_truth_from_resource_graph_alone(estate: Emulator) -> None:
    before = len(estate.requests())
    with estate.client() as client:
        posture = client.posture(builds=builds(estate))
    sent = Counter(r.route for r in estate.requests()[before:])
    expected = truths(estate)
    assert len(posture.machines) == len(expected) == 2000
    wrong = {rid: (v, expected[rid]) for rid, v in verdicts(posture).items() if v != expected[rid]}
    assert wrong == {}
    # every verdict word (but policy-mismatch: this estate assigns no Policy, see
    # test_policy.py), and behind by one and by two releases, is in this estate
    assert set(posture.counts) == {v.value for v in Verdict} - {"policy-mismatch"}
    assert {m.behind for m in posture.machines if m.verdict is Verdict.BEHIND} == {1, 2}
    # the machines, their assessments and their installs: pages of three queries, no GET
    assert set(sent) == {"graph.resources"}
    assert sent["graph.resources"] <= 8
    assert (
        sum(
            posture.by("subscription")[s][Verdict.CURRENT.value] for s in posture.by("subscription")
        )
        == posture.counts["current"]
    )


def test_a_partial_run_moves_the_verdicts_as_its_installs_move_the_machines() -> None:
    with Emulator(fleet="sample:400", start=START, time_scale=2400) as emu:
        truth = truths(emu)
        movable = ("behind", "restart-needed", "stale", "not-enrolled", "unknown")
        chosen = sorted(rid for rid, (word, _) in truth.items() if word in movable)[::2]
        with emu.client() as client:
            client.run(machines=chosen, actions=["install"])
            after = verdicts(client.posture(builds=builds(emu)))
        installed = {
            rid
            for rid in chosen
            if emu.azure_record(rid).installs
            and emu.azure_record(rid).installs[-1].status == "Succeeded"
        }
    # an install of this month's release makes an enrolled machine current, restarting one
    # whose restart was pending; it assesses nothing, so a stale machine stays stale, and it
    # enrolls nothing
    expected = {
        rid: ("current", None)
        if rid in installed and word in ("behind", "restart-needed")
        else (word, behind)
        for rid, (word, behind) in truth.items()
    }
    moved = {rid for rid in chosen if expected[rid] != truth[rid]}
    assert len(moved) >= 10  # the test moves machines, and the verdicts must follow them
    assert {rid: v for rid, v in after.items() if v != expected[rid]} == {}


def test_a_snapshot_says_what_changed_in_the_estate_since(tmp_path: Path) -> None:
    """Between two snapshots: three VMs enrolled, one enrolled VM taken out of Hotpatch, a
    VM created, and December's Patch Tuesday passed (every current machine falls behind)."""
    with Emulator(fleet="sample:300", start=START, time_scale=2400) as emu:
        fleet = emu.fleet
        assert fleet is not None
        truth = emu.truth()
        specs = {vm.id.lower(): vm for vm in fleet.vms}
        assessed = {
            rid
            for rid, vm in specs.items()
            if vm.history and vm.history.assessed_lately and vm.agent_ready
        }
        enroll = sorted(
            r
            for r in assessed
            if truth[r].posture.verdict == "not-enrolled" and not truth[r].blockers
        )[:3]
        current = sorted(r for r in truth if truth[r].posture.verdict == "current")
        leaving = next(r for r in current if r in specs)
        with emu.client() as client:
            table = builds(emu)
            client.posture(builds=table).save(tmp_path / "november.json")
            for rid in enroll:
                client.enable(specs[rid].id)
            client.disable(specs[leaving].id)
            new = VmSpec(
                subscription=fleet.subscriptions[0],
                group=fleet.groups[fleet.subscriptions[0]][0],
                name="vm-new",
                location="westeurope",
            )
            emu.add_vm(new)
            emu.advance(timedelta(days=19))  # 2026-12-09: the December release is in force
            # as old as it was then, an assessment was as fresh: stale ones stay stale
            aged = timedelta(days=7 + 19)
            december = client.posture(builds=table, stale_after=aged)
    changes = december.since(Posture.load(tmp_path / "november.json"))
    assert december.expected == "2026-12"
    assert set(changes.newly_enrolled) == {specs[r].id for r in enroll}
    assert changes.lost_enrollment == (specs[leaving].id,)
    assert changes.appeared == (new.id,)
    assert changes.disappeared == ()
    behind = {r for r in current if r != leaving} | set(enroll)
    assert set(changes.newly_behind) == {truth[r].id for r in behind}
    assert changes.newly_current == ()


def test_a_snapshot_reads_back_as_it_was_written(tmp_path: Path) -> None:
    reason_fix_kept = MachinePosture.from_snapshot
    with Emulator(fleet="sample:40", start=START, time_scale=2400) as emu, emu.client() as client:
        posture = client.posture(builds=builds(emu))
    posture.save(tmp_path / "p.json")
    loaded = Posture.load(tmp_path / "p.json")
    assert loaded == posture
    assert [reason_fix_kept(m.snapshot()) for m in posture.machines] == list(posture.machines)
    gone = Posture(posture.machines[1:], posture.taken, posture.expected, posture.stale_after)
    assert gone.since(posture).disappeared == (posture.machines[0].resource,)
    lines = posture.to_csv().splitlines()
    assert lines[0].startswith("resource,subscription")
    assert len(lines) == 41


def test_a_run_s_journal_says_which_machines_it_enrolled_lost_it_since(tmp_path: Path) -> None:
    """A run enrolls three machines; one is then taken out of Hotpatch (as an update or a
    settings change would). Against the run's journal, that one has lost enrollment, and
    the two others have not."""
    with Emulator(fleet="sample:300", start=START, time_scale=2400) as emu:
        truth = emu.truth()
        eligible = sorted(
            t.id
            for t in truth.values()
            if t.posture.verdict == "not-enrolled" and t.enable == "succeeded" and not t.blockers
        )[:3]
        journal = tmp_path / "run.sqlite"
        with emu.client() as client:
            run = client.run(machines=eligible, actions=["enable"], journal=journal)
            assert {m.resource for m in run.machines if m.outcome.value == "succeeded"} == set(
                eligible
            )
            client.disable(eligible[1])
            now = client.posture(builds=builds(emu))
    changes = now.since_run(journal)
    assert changes.lost_enrollment == (now.of(eligible[1]).resource,)  # type: ignore[union-attr]
    assert all(now.of(r).enrolled for r in (eligible[0], eligible[2]))  # type: ignore[union-attr]
    assert changes.appeared == changes.disappeared == changes.newly_enrolled == ()
