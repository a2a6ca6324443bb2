"""The schedule derived from the Hotpatch calendar, its validation, and who may join it."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azhotpatch._facts import ArcFacts, VmFacts
from azhotpatch._timezones import to_windows_zone, zone_info
from azhotpatch.calendar import MonthKind, patch_tuesday, planned_kind
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.models import RebootSetting, Rule
from azhotpatch.schedule import (
    Schedule,
    ScheduleFit,
    WindowRole,
    arc_fit,
    parse_recurrence,
    vm_fit,
)

NOV_22 = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def conflicts(facts: VmFacts | ArcFacts, schedule: Schedule) -> ScheduleFit:
    return vm_fit(facts, schedule) if isinstance(facts, VmFacts) else arc_fit(facts, schedule)


def test_split_schedule_from_the_calendar() -> None:
    schedule = Schedule.build(now=NOV_22)
    by_name = {w.name: w for w in schedule.windows}
    assert set(by_name) == {"azhotpatch-baseline", "azhotpatch-hotpatch-1", "azhotpatch-hotpatch-2"}
    baseline = by_name["azhotpatch-baseline"]
    assert baseline.recur_every == "3Months Second Tuesday Offset1"
    assert baseline.start_text == "2027-01-01 03:00"
    assert baseline.install.reboot is RebootSetting.IF_REQUIRED
    # Patch Tuesday of January 2027 is the 12th; one day after, at 03:00 UTC.
    assert baseline.next_run(NOV_22) == datetime(2027, 1, 13, 3, 0, tzinfo=timezone.utc)
    hot = by_name["azhotpatch-hotpatch-2"]
    assert hot.next_run(NOV_22) == datetime(2026, 12, 9, 3, 0, tzinfo=timezone.utc)
    assert hot.install.reboot is RebootSetting.NEVER
    assert hot.install.exclude_kbs_requiring_reboot
    assert hot.duration_text == "02:00"
    assert baseline.duration_text == "03:30"


@settings(max_examples=40, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2032, 12, 31),
        timezones=st.just(timezone.utc),
    ),
    offset=st.integers(0, 6),
    zone=st.sampled_from(
        ["UTC", "W. Europe Standard Time", "Pacific Standard Time", "Tokyo Standard Time"]
    ),
)
def test_every_window_opens_only_in_months_of_its_kind(
    now: datetime, offset: int, zone: str
) -> None:
    schedule = Schedule.build(now=now, days_after_patch_tuesday=offset, time_zone=zone)
    for window in schedule.windows:
        openings = list(islice(window.occurrences(now), 8))
        assert openings[0] >= now + timedelta(minutes=15)
        for opening in openings:
            local = opening.astimezone(zone_info(window.time_zone))
            assert local.time() == time(3, 0)
            release = local.date() - timedelta(days=offset)
            assert release == patch_tuesday(release.year, release.month)
            kind = planned_kind(release.year, release.month)
            if window.role is WindowRole.BASELINE:
                assert kind is MonthKind.BASELINE
            elif window.role is WindowRole.HOTPATCH:
                assert kind is MonthKind.HOTPATCH


def test_daylight_saving_follows_the_windows_zone() -> None:
    schedule = Schedule.build(now=NOV_22, time_zone="W. Europe Standard Time")
    baseline = schedule.window("azhotpatch-baseline")
    assert baseline is not None
    january, april, july = islice(baseline.occurrences(NOV_22), 3)
    assert january.hour == 2  # 03:00 CET
    assert april.hour == 1  # 03:00 CEST
    assert july.hour == 1


def test_single_mode_is_one_monthly_configuration() -> None:
    schedule = Schedule.build(mode="single", now=NOV_22, start_time=time(22, 30))
    (window,) = schedule.windows
    assert window.recur_every == "Month Second Tuesday Offset1"
    assert window.install.reboot is RebootSetting.IF_REQUIRED
    assert not schedule.needs_hotpatch
    assert window.next_run(NOV_22) == datetime(2026, 12, 9, 22, 30, tzinfo=timezone.utc)


def test_a_later_day_gives_the_same_runs() -> None:
    """Re-running on another day computes another start date for the same openings."""
    first = Schedule.build(now=NOV_22)
    later = Schedule.build(now=NOV_22 + timedelta(days=12))
    for a, b in zip(first.windows, later.windows, strict=True):
        assert a.same_runs(b, NOV_22 + timedelta(days=30))


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"time_zone": "W Europe Standard Time"}, "time_zone"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"hotpatch_window": timedelta(minutes=80)}, "hotpatch_window"),
        ({"baseline_window": timedelta(hours=4)}, "baseline_window"),
        ({"days_after_patch_tuesday": 7}, "days_after_patch_tuesday"),
        ({"start_time": "25:00"}, "start_time"),
        ({"mode": "weekly"}, "mode"),
        ({"name": "bad name!"}, "name"),
        ({"classifications": ["Nonsense"]}, "classifications"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(arguments: dict, argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        Schedule.build(now=NOV_22, **arguments)
    assert caught.value.argument == argument
    assert caught.value.fix


def test_time_zone_names() -> None:
    assert to_windows_zone("w. europe standard time") == "W. Europe Standard Time"
    assert to_windows_zone("Europe/Berlin") == "W. Europe Standard Time"
    with pytest.raises(InvalidArgumentError, match=r"W\. Europe Standard Time"):
        to_windows_zone("W Europe Standard Time")


def test_recurrence_round_trip() -> None:
    for text in (
        "Month Second Tuesday Offset1",
        "3Months Last Sunday Offset-3",
        "2Months First Monday",
    ):
        parsed = parse_recurrence(text)
        assert parsed is not None
        assert parse_recurrence(parsed.text()) == parsed
    assert parse_recurrence("Week Saturday,Sunday") is None


def _vm(**fields: object) -> VmFacts:
    base: dict[str, object] = {
        "id": "/subscriptions/x/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v",
        "location": "westeurope",
        "os_type": "Windows",
        "image": {},
        "patch_mode": "AutomaticByPlatform",
        "provision_vm_agent": True,
        "enable_automatic_updates": True,
        "bypass_platform_safety_checks": True,
        "enable_hotpatching": False,
        "power_state": "running",
        "vm_agent_status": "Ready",
        "provisioning_state": "Succeeded",
    }
    base.update(fields)
    return VmFacts(**base)  # type: ignore[arg-type]


def _arc(**fields: object) -> ArcFacts:
    base: dict[str, object] = {
        "id": "/subscriptions/x/resourceGroups/g/providers/Microsoft.HybridCompute/machines/a",
        "location": "westeurope",
        "status": "Connected",
        "os_name": "windows",
        "os_sku": "Windows Server 2025 Datacenter",
        "os_version": "10.0.26100.1",
        "os_type": "windows",
        "enable_hotpatching": True,
        "enablement_status": "Enabled",
        "patch_mode": None,
        "hotpatch_license": "Enabled",
        "cores": 8,
    }
    base.update(fields)
    return ArcFacts(**base)  # type: ignore[arg-type]


SPLIT = Schedule.build(now=NOV_22)
SINGLE = Schedule.build(mode="single", now=NOV_22)


def _rules(facts: VmFacts | ArcFacts, schedule: Schedule) -> list[Rule]:
    return [r.rule for r in conflicts(facts, schedule).reasons]


def test_a_hotpatch_vm_cannot_follow_a_schedule() -> None:
    verdict = conflicts(_vm(enable_hotpatching=True, bypass_platform_safety_checks=False), SINGLE)
    assert [r.rule for r in verdict.reasons] == [Rule.SCHEDULE_HOTPATCH_VM]
    assert not verdict.fixable
    assert "scenario 3" in verdict.reasons[0].message


def test_vm_orchestration_is_fixable_and_named() -> None:
    verdict = conflicts(_vm(bypass_platform_safety_checks=False), SINGLE)
    assert [r.rule for r in verdict.reasons] == [Rule.SCHEDULE_ORCHESTRATION]
    assert verdict.fixable
    assert _rules(_vm(enable_automatic_updates=False), SINGLE) == [Rule.SCHEDULE_ORCHESTRATION]
    assert _rules(_vm(provision_vm_agent=False), SINGLE) == [Rule.VM_AGENT_NOT_PROVISIONED]
    assert conflicts(_vm(), SINGLE).ok
    # Split schedules never reboot in hotpatch months: only enrolled machines fit, and a VM
    # cannot be both enrolled and scheduled.
    assert _rules(_vm(), SPLIT) == [Rule.SCHEDULE_NOT_HOTPATCHED]


def test_arc_rules() -> None:
    assert conflicts(_arc(), SPLIT).ok
    assert _rules(_arc(enablement_status="Disabled", enable_hotpatching=False), SPLIT) == [
        Rule.SCHEDULE_NOT_HOTPATCHED
    ]
    assert conflicts(_arc(enablement_status="Disabled"), SINGLE).ok
    assert _rules(_arc(status="Disconnected"), SINGLE) == [Rule.ARC_DISCONNECTED]
    assert _rules(_arc(os_type="linux"), SINGLE) == [Rule.SCHEDULE_NOT_WINDOWS]
