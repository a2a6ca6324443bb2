"""The pure side of remediation: the measuring script's output, the judgement over it, and
when a restart may happen."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pytest

from azhotpatch import remediation
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.models import Rule
from azhotpatch.remediation import Fix, RebootPolicy, RebootWhen

HEALTHY: dict[str, Any] = {
    "schema": 1,
    "vbsStatus": 2,
    "availableSecurityProperties": [1, 2, 3, 5],
    "vbsConfigured": 1,
    "firmware": "UEFI",
    "secureBoot": True,
    "build": 26100,
    "revision": 4946,
    "architecture": 9,
    "hotPatchRestrictions": None,
    "lastBoot": "2027-01-19T08:00:00.0000000Z",
}


def measured(**changes: Any) -> remediation.Measurement:
    """A measurement as the script prints it: a warning line, then the JSON object."""
    output = "WARNING: something else printed\n" + json.dumps({**HEALTHY, **changes})
    return remediation.parse_measurement(output)


def test_a_healthy_machine_needs_nothing() -> None:
    found = remediation.diagnose(measured())
    assert found.measurement.vbs_running
    assert found.measurement.architecture == "x64"
    assert found.measurement.last_boot == datetime(2027, 1, 19, 8, tzinfo=timezone.utc)
    assert (found.fixes, found.blockers, found.needs_restart) == ((), (), False)


def test_vbs_off_on_capable_hardware_is_fixed_by_a_script_and_a_restart() -> None:
    found = remediation.diagnose(measured(vbsStatus=0, vbsConfigured=None))
    assert found.fixes == (Fix.ENABLE_VBS,)
    assert found.blockers == ()
    assert found.needs_restart


def test_vbs_configured_but_not_running_only_needs_the_restart() -> None:
    found = remediation.diagnose(measured(vbsStatus=1))
    assert found.fixes == ()
    assert found.needs_restart


def test_arm64_with_chpe_on_needs_both_fixes() -> None:
    found = remediation.diagnose(measured(vbsStatus=0, vbsConfigured=None, architecture=12))
    assert found.fixes == (Fix.ENABLE_VBS, Fix.DISABLE_CHPE)
    already = remediation.diagnose(measured(architecture=12, hotPatchRestrictions=1))
    assert already.fixes == ()
    assert not already.needs_restart


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"secureBoot": False}, Rule.ARC_NO_SECURE_BOOT),
        ({"firmware": "Legacy", "secureBoot": None}, Rule.ARC_NO_UEFI),
        ({"vbsStatus": 0, "availableSecurityProperties": []}, Rule.ARC_NO_VIRTUALIZATION),
        ({"build": 26100, "revision": 1000}, Rule.ARC_BUILD_TOO_OLD),
    ],
)
def test_what_no_script_can_fix_is_a_blocker_with_the_manual_fix(
    changes: dict[str, Any], rule: Rule
) -> None:
    (blocker,) = remediation.diagnose(measured(**changes)).blockers
    assert blocker.rule is rule
    assert blocker.blocking
    assert blocker.fix


def test_output_without_the_measurement_is_refused() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        remediation.parse_measurement("Access is denied.\n{}")


def test_every_script_names_itself_and_says_what_it_changes() -> None:
    names = [remediation.script_named(s.text) for s in remediation.SCRIPTS]
    assert names == [(s.name, remediation.SCRIPT_VERSION) for s in remediation.SCRIPTS]
    assert remediation.script_named("Get-Date") is None
    assert "changes nothing" in remediation.MEASURE.text
    for script in remediation.SCRIPTS:
        assert script.changes
        assert "runAsUser" not in script.text
        assert "password" not in script.text.lower()
    # the fixing scripts leave a value that is already right alone
    assert "'unchanged'" in remediation.ENABLE_VBS.text
    assert "EnableVirtualizationBasedSecurity" in remediation.ENABLE_VBS.text
    assert "HotPatchRestrictions" in remediation.DISABLE_CHPE.text


def test_the_restart_script_names_the_start_it_restarts_from() -> None:
    booted = datetime(2027, 1, 20, 8, 30, tzinfo=timezone.utc)
    script = remediation.restart_from(booted)
    assert remediation.script_named(script.text) == ("restart", remediation.SCRIPT_VERSION)
    assert remediation.restart_measured(script.text) == booted
    assert "'already restarted'" in script.text
    assert "1190" in script.text  # a restart already scheduled is not scheduled again
    assert remediation.restart_measured(remediation.restart_from(None).text) is None
    assert remediation.restart_measured(remediation.RESTART.text) is None  # as documented


# --- restarts -----------------------------------------------------------------------------------


def test_the_baseline_window_is_a_baseline_months_patch_tuesday_to_its_end() -> None:
    assert remediation.baseline_window(date(2026, 12, 1)) == (date(2027, 1, 12), date(2027, 1, 31))
    assert remediation.baseline_window(date(2027, 1, 20)) == (date(2027, 1, 20), date(2027, 1, 31))
    # before a baseline's release, the window opens on its Patch Tuesday
    assert remediation.baseline_window(date(2027, 1, 3))[0] == date(2027, 1, 12)
    # an unplanned baseline opens one earlier
    unplanned = remediation.baseline_window(date(2027, 2, 1), unplanned=["2027-02"])
    assert unplanned == (date(2027, 2, 9), date(2027, 2, 28))


def test_reboot_policies() -> None:
    now = datetime(2026, 12, 2, 9, tzinfo=timezone.utc)
    assert RebootPolicy.parse(None).earliest(now) is None
    assert RebootPolicy.parse("never").when is RebootWhen.NEVER
    assert RebootPolicy.parse("NOW").earliest(now) == now
    assert RebootPolicy.parse("baseline").earliest(now) == datetime(
        2027, 1, 12, tzinfo=timezone.utc
    )
    later = RebootPolicy.parse("2027-03-01T02:00:00Z")
    assert later.earliest(now) == datetime(2027, 3, 1, 2, tzinfo=timezone.utc)
    assert RebootPolicy.parse(datetime(2020, 1, 1, tzinfo=timezone.utc)).earliest(now) == now


@pytest.mark.parametrize("value", ["tomorrow", "2027-01-01T02:00:00", datetime(2027, 1, 1)])
def test_a_restart_time_that_cannot_be_placed_is_refused(value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        RebootPolicy.parse(value)
    assert raised.value.argument == "reboot"
