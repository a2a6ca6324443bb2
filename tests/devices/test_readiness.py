"""Readiness per device, judged against the ground truth the emulator built each device to
show; and the rules themselves, on their own."""

from __future__ import annotations

import time
from datetime import date

import pytest

from azhotpatch.calendar import MonthKind
from azhotpatch.devices.models import ManagedDevice
from azhotpatch.devices.readiness import BASELINES, baseline_on, device_readiness, parse_os_version
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.models import Rule
from azhotpatch.testing import Emulator


def test_a_5000_device_check_matches_the_ground_truth_per_device() -> None:
    with Emulator(devices=5000, seed=2, time_scale=600) as emulator:
        truth = emulator.device_truth()
        with emulator.devices_client(concurrency=32) as devices:
            started = time.perf_counter()
            report = devices.readiness()
            took = time.perf_counter() - started
        windows = {k for k, v in truth.items() if "DeviceNotWindows" not in v.rules}
        assert {d.device.id for d in report.devices} == windows
        wrong = {
            d.device.id: (
                sorted(r.rule.value for r in d.verdict.reasons),
                sorted(truth[d.device.id].rules),
            )
            for d in report.devices
            if frozenset(r.rule.value for r in d.verdict.reasons) != truth[d.device.id].rules
        }
        assert wrong == {}
        # every rule is shown by some device, and every reason carries its fix
        assert set(report.by_rule()) == {r.value for r in Rule if r.name.startswith("DEVICE_")} - {
            "DeviceNotWindows"
        }
        assert all(r.fix for d in report.devices for r in d.verdict.reasons)
        throttled = sum(1 for r in emulator.graph.records if r.throttled)
    assert throttled == 0  # paced to Intune's limits
    print(f"5000-device readiness: {took:.1f} s wall")


def _device(**fields: str | None) -> ManagedDevice:
    base: dict[str, str | None] = {
        "id": "d1",
        "name": "pc",
        "operating_system": "Windows",
        "os_version": "10.0.26100.7000",
        "architecture": "x64",
        "sku_family": "Enterprise",
        "edition": "Enterprise",
        "vbs": "running",
    }
    base.update(fields)
    return ManagedDevice(**base)  # type: ignore[arg-type]


OCTOBER = baseline_on(date(2025, 11, 20))


def test_a_ready_device_has_no_reason() -> None:
    assert device_readiness(_device(), OCTOBER).reasons == ()


@pytest.mark.parametrize(
    ("fields", "rules", "ok"),
    [
        ({"os_version": "10.0.22631.4000"}, {Rule.DEVICE_OS_BUILD}, False),
        ({"os_version": "10.0.26100.2032"}, {Rule.DEVICE_OS_BUILD}, False),
        ({"os_version": "10.0.26100.2033"}, {Rule.DEVICE_BEHIND_BASELINE}, True),
        ({"os_version": "10.0.26200.6899"}, set(), True),
        ({"sku_family": "Pro", "edition": "Professional"}, {Rule.DEVICE_EDITION}, False),
        ({"sku_family": "", "edition": "Education"}, set(), True),
        ({"architecture": "arM64"}, {Rule.DEVICE_ARM64_PREVIEW}, True),
        ({"architecture": "x86"}, {Rule.DEVICE_ARCHITECTURE}, False),
        ({"vbs": "rebootRequired"}, {Rule.DEVICE_VBS_OFF}, False),
        ({"vbs": None}, {Rule.DEVICE_VBS_UNKNOWN}, True),
        ({"operating_system": "iOS"}, {Rule.DEVICE_NOT_WINDOWS}, False),
        (
            {"architecture": "x86", "vbs": "notConfigured", "sku_family": "Pro", "edition": ""},
            {Rule.DEVICE_ARCHITECTURE, Rule.DEVICE_VBS_OFF, Rule.DEVICE_EDITION},
            False,
        ),
    ],
)
def test_every_reason_is_found(fields: dict[str, str | None], rules: set[Rule], ok: bool) -> None:
    verdict = device_readiness(_device(**fields), OCTOBER)
    assert verdict.rules == rules
    assert verdict.ok is ok


def test_the_baseline_follows_the_calendar() -> None:
    october = baseline_on(date(2025, 12, 31))
    assert (october.month, october.revision, october.known) == (
        "2025-10",
        BASELINES["2025-10"],
        True,
    )
    before_tuesday = baseline_on(date(2025, 10, 13))  # October's Patch Tuesday is the 14th
    assert before_tuesday.month == "2025-07"
    unplanned = baseline_on(date(2025, 12, 10), unplanned=["2025-12"], baselines={"2025-12": 7400})
    assert unplanned.release.kind is MonthKind.UNPLANNED_BASELINE
    assert (unplanned.revision, unplanned.known) == (7400, True)
    later = baseline_on(date(2026, 2, 1))  # January 2026's build is not in the table
    assert (later.month, later.revision, later.known) == ("2026-01", BASELINES["2025-10"], False)
    with pytest.raises(InvalidArgumentError):
        baseline_on(date(2025, 1, 1))
    with pytest.raises(InvalidArgumentError):
        baseline_on(date(2026, 2, 1), baselines={"January": 1})


def test_os_versions_are_read_or_refused() -> None:
    assert parse_os_version("10.0.26100.4946") == (26100, 4946)
    assert parse_os_version("10.0.26200") == (26200, 0)
    assert parse_os_version("17.5.1") is None
    assert parse_os_version("") is None
