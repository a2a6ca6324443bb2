"""The verdict rules, pure: each verdict from the facts that make it, with its reason and fix,
and "behind" counted by the OS build against the calendar, not by what an assessment lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from azhotpatch._eligibility import arc_eligibility, vm_eligibility
from azhotpatch._facts import ArcFacts, VmFacts
from azhotpatch.catalog import check_vm_runtime
from azhotpatch.errors import Command, InvalidArgumentError
from azhotpatch.models import Eligibility, Rule
from azhotpatch.posture_rules import (
    AssessmentRow,
    BuildTable,
    InstallRow,
    PolicyState,
    Verdict,
    judge,
    parse_os_version,
)

# 2026-11-20: the November release (a hotpatch month, Patch Tuesday the 10th) is in force
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
BUILDS = BuildTable({}).with_builds(
    {"26100": {"2026-08": 8000, "2026-09": 8100, "2026-10": 8200, "2026-11": 8300}}
)
ENROLLED_VM = VmFacts(
    id="/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/"
    "Microsoft.Compute/virtualMachines/web-01",
    location="westeurope",
    os_type="Windows",
    image={
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "sku": "2025-datacenter-azure-edition",
    },
    patch_mode="AutomaticByPlatform",
    provision_vm_agent=True,
    enable_automatic_updates=True,
    bypass_platform_safety_checks=False,
    enable_hotpatching=True,
    power_state="running",
    vm_agent_status=None,
    provisioning_state="Succeeded",
    os_version="10.0.26100.8300",
)
ASSESSED = AssessmentRow(NOW - timedelta(days=1), "Succeeded", reboot_pending=False)


def verdict_of(
    facts: VmFacts | ArcFacts = ENROLLED_VM,
    assessment: AssessmentRow | None = ASSESSED,
    installs: tuple[InstallRow, ...] = (),
    eligibility: Eligibility | None = None,
    builds: BuildTable = BUILDS,
    **options: object,
):  # type: ignore[no-untyped-def]
    chosen = eligibility if eligibility is not None else vm_eligibility(facts)  # type: ignore[arg-type]
    return judge(facts, chosen, assessment, installs, now=NOW, builds=builds, **options)  # type: ignore[arg-type]


def test_current_on_the_build_of_the_release_in_force() -> None:
    judged = verdict_of()
    assert judged.verdict is Verdict.CURRENT
    assert judged.reason.rule is Rule.ON_CURRENT_RELEASE
    assert "2026-11" in judged.reason.message
    assert "26100.8300" in judged.reason.message
    assert judged.expected == "2026-11"
    assert judged.running == "2026-11"


def test_behind_counts_releases_by_the_build() -> None:
    judged = verdict_of(replace(ENROLLED_VM, os_version="10.0.26100.8105"))
    assert (judged.verdict, judged.behind, judged.running) == (Verdict.BEHIND, 2, "2026-09")
    assert judged.reason.rule is Rule.RELEASES_BEHIND
    assert "2 releases behind 2026-11" in judged.reason.message
    assert Command("install") in judged.reason.fix.parts


def test_a_machine_that_missed_a_baseline_is_behind_though_its_assessment_lists_one_update() -> (
    None
):
    """Off its baseline in a hotpatch month, the machine is offered the baseline alone (its
    hotpatches are "not applicable"): one security update. Its build says two releases."""
    one_update = replace(ASSESSED, security=1)
    judged = verdict_of(replace(ENROLLED_VM, os_version="10.0.26100.8100"), one_update)
    assert (judged.verdict, judged.behind) == (Verdict.BEHIND, 2)


def test_behind_by_an_unknown_count_where_a_release_between_is_not_known() -> None:
    gap = BuildTable({}).with_builds({"26100": {"2026-08": 8000, "2026-11": 8300}})
    judged = verdict_of(replace(ENROLLED_VM, os_version="10.0.26100.8050"), builds=gap)
    assert (judged.verdict, judged.behind) == (Verdict.BEHIND, None)
    assert "an unknown number of releases" in judged.reason.message


def test_without_the_release_build_the_assessment_since_the_release_judges() -> None:
    unknown = BuildTable({})
    lacking = replace(ASSESSED, security=2)
    assert verdict_of(assessment=lacking, builds=unknown).verdict is Verdict.BEHIND
    assert verdict_of(builds=unknown).verdict is Verdict.CURRENT
    before_release = replace(ASSESSED, at=datetime(2026, 11, 9, tzinfo=timezone.utc))
    judged = verdict_of(assessment=before_release, builds=unknown, stale_after=timedelta(days=14))
    assert (judged.verdict, judged.reason.rule) == (Verdict.UNKNOWN, Rule.NO_PATCH_RECORD)


def test_restart_needed_from_the_assessment_until_a_later_install_restarts() -> None:
    waiting = replace(ASSESSED, reboot_pending=True)
    judged = verdict_of(assessment=waiting)
    assert judged.verdict is Verdict.RESTART_NEEDED
    assert judged.reason.rule is Rule.RESTART_PENDING
    restarted = InstallRow(NOW - timedelta(hours=2), None, "Succeeded", "Completed")
    assert verdict_of(assessment=waiting, installs=(restarted,)).verdict is Verdict.CURRENT
    left = InstallRow(NOW - timedelta(hours=2), None, "Succeeded", "Required")
    assert verdict_of(installs=(left,)).verdict is Verdict.RESTART_NEEDED
    earlier = replace(left, at=NOW - timedelta(days=3))  # before the assessment: it had its say
    assert verdict_of(installs=(earlier,)).verdict is Verdict.CURRENT


def test_not_enrolled_and_what_enrolls_it() -> None:
    judged = verdict_of(replace(ENROLLED_VM, enable_hotpatching=False))
    assert (judged.verdict, judged.reason.rule) == (Verdict.NOT_ENROLLED, Rule.NOT_ENROLLED)
    assert Command("enable") in judged.reason.fix.parts


def test_an_arc_machine_that_lost_its_enrollment_says_so() -> None:
    arc = ArcFacts(
        id="/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/"
        "Microsoft.HybridCompute/machines/srv-01",
        location="westeurope",
        status="Connected",
        os_name="windows",
        os_sku="Windows Server 2025 Datacenter",
        os_version="10.0.26100.8300",
        os_type="windows",
        enable_hotpatching=None,
        enablement_status="Unknown",
        patch_mode="AutomaticByPlatform",
        hotpatch_license="Disabled",
        cores=8,
    )
    judged = verdict_of(arc, eligibility=arc_eligibility(arc))
    assert judged.verdict is Verdict.NOT_ENROLLED
    assert "lost it" in judged.reason.message


def test_not_eligible_carries_the_plans_blocking_reasons() -> None:
    stopped = replace(ENROLLED_VM, power_state="deallocated")
    judged = verdict_of(stopped)
    assert judged.verdict is Verdict.NOT_ELIGIBLE
    assert (
        judged.reasons == check_vm_runtime(power_state="deallocated", vm_agent_status=None).reasons
    )


def test_stale_past_the_threshold_and_the_threshold_is_a_parameter() -> None:
    old = replace(ASSESSED, at=NOW - timedelta(days=9))
    judged = verdict_of(assessment=old)
    assert (judged.verdict, judged.reason.rule) == (Verdict.STALE, Rule.ASSESSMENT_STALE)
    assert "9 days old" in judged.reason.message
    assert Command("assess") in judged.reason.fix.parts
    assert verdict_of(assessment=old, stale_after=timedelta(days=10)).verdict is Verdict.CURRENT
    never = verdict_of(assessment=None)  # a build to judge by, no assessment: stale, not unknown
    assert never.verdict is Verdict.STALE
    assert "no assessment" in never.reason.message
    failed = verdict_of(assessment=replace(ASSESSED, status="Failed"))
    assert failed.verdict is Verdict.STALE
    assert "ended Failed" in failed.reason.message


def test_unknown_with_nothing_to_judge_by() -> None:
    silent = replace(ENROLLED_VM, os_version=None)
    judged = verdict_of(silent, assessment=None)
    assert (judged.verdict, judged.reason.rule) == (Verdict.UNKNOWN, Rule.NO_PATCH_RECORD)
    assert Command("assess") in judged.reason.fix.parts


def test_the_order_not_eligible_before_not_enrolled_before_stale() -> None:
    both = replace(ENROLLED_VM, power_state="deallocated", enable_hotpatching=False)
    assert verdict_of(both, assessment=None).verdict is Verdict.NOT_ELIGIBLE
    unenrolled = replace(ENROLLED_VM, enable_hotpatching=False)
    assert verdict_of(unenrolled, assessment=None).verdict is Verdict.NOT_ENROLLED


def test_an_unplanned_baseline_and_today_move_the_release_expected() -> None:
    judged = verdict_of(today=date(2026, 12, 9))  # December's release came on the 8th
    assert judged.expected == "2026-12"
    assert judged.verdict is Verdict.UNKNOWN


@pytest.mark.parametrize(
    "builds",
    [{"x26100": {"2026-11": 1}}, {"26100": {"2026-13": 1}}, {"26100": {"2026-11": "7309"}}],
)
def test_a_build_table_is_checked(builds: dict[str, dict[str, object]]) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        BuildTable().with_builds(builds)  # type: ignore[arg-type]
    assert raised.value.argument == "builds"


def test_os_versions() -> None:
    assert parse_os_version("10.0.26100.4946") == ("26100", 4946)
    assert parse_os_version("22.04") is None
    assert parse_os_version(None) is None


# --- Azure Policy beside the settings -----------------------------------------------------------

_DEFINITIONS = "/providers/Microsoft.Authorization/policyDefinitions/"
_HOTPATCH_POLICY = _DEFINITIONS + "6d02d2f7-e38b-4bdc-96f3-adc0a8726abc"
_ASSESSMENT_POLICY = _DEFINITIONS + "bd876905-5b84-4f73-ab2d-2e7a7c4568d9"


def _state(definition: str, compliance: str) -> PolicyState:
    return PolicyState.of(
        {
            "policyDefinitionId": definition,
            "complianceState": compliance,
            "timestamp": "2026-11-19T08:00:00Z",
        }
    )


def test_policy_compliant_with_the_setting_off_is_a_mismatch_before_not_enrolled() -> None:
    off = replace(ENROLLED_VM, enable_hotpatching=False)
    judged = verdict_of(off, policies=[_state(_HOTPATCH_POLICY, "Compliant")])
    assert judged.verdict is Verdict.POLICY_MISMATCH
    assert "enableHotpatching is false, not true" in judged.reason.message
    assert "evaluated 2026-11-19 08:00 UTC" in judged.reason.message
    assert judged.fix is not None
    assert Command("enable") in judged.fix.parts
    # Policy that says NonCompliant is right, and the machine is simply not enrolled
    right = verdict_of(off, policies=[_state(_HOTPATCH_POLICY, "NonCompliant")])
    assert right.verdict is Verdict.NOT_ENROLLED


def test_policy_agreeing_with_the_settings_or_not_a_patch_definition_changes_nothing() -> None:
    assessed_by_platform = replace(ENROLLED_VM, assessment_mode="AutomaticByPlatform")
    states = [_state(_HOTPATCH_POLICY, "Compliant"), _state(_ASSESSMENT_POLICY, "Compliant")]
    assert verdict_of(assessed_by_platform, policies=states).verdict is Verdict.CURRENT
    other = _state("/providers/Microsoft.Authorization/policyDefinitions/other", "Compliant")
    assert verdict_of(ENROLLED_VM, policies=[other]).verdict is Verdict.CURRENT
    # the assessment definition vouches for a setting this VM does not have
    mismatch = verdict_of(ENROLLED_VM, policies=states)
    assert [r.rule for r in mismatch.reasons] == [Rule.POLICY_MISMATCH]
    assert "assessmentMode is not set, not AutomaticByPlatform" in mismatch.reason.message


def test_a_machine_nothing_makes_eligible_stays_not_eligible_whatever_policy_says() -> None:
    linux = replace(ENROLLED_VM, os_type="Linux", enable_hotpatching=False)
    judged = verdict_of(linux, policies=[_state(_HOTPATCH_POLICY, "Compliant")])
    assert judged.verdict is Verdict.NOT_ELIGIBLE
