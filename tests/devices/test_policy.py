"""The hotpatch quality update policy and its assignments, converged against the emulator:
read, compare, and write only what differs; judged by what Intune holds and the writes its
front door served."""

from __future__ import annotations

import pytest

from azhotpatch.devices.models import Change
from azhotpatch.errors import DuplicatePolicyError, InvalidArgumentError
from azhotpatch.testing import Emulator
from azhotpatch.testing.msgraph.models import Policy
from tests.devices.conftest import groups, writes


def test_converging_twice_sends_no_second_write(tenant: Emulator) -> None:
    ring = groups(tenant)
    with tenant.devices_client() as devices:
        first = devices.enable("Hotpatch: Windows 11", include=ring[:2], exclude=ring[2:3])
        sent = writes(tenant)
        second = devices.enable("Hotpatch: Windows 11", include=ring[:2], exclude=ring[2:3])
    assert first.change is Change.CREATE
    assert first.policy is not None
    assert first.policy.hotpatch
    assert sent == [
        ("POST", "intune.policies.create"),
        ("POST", "intune.policies.assign"),
    ]
    assert second.change is Change.NONE
    assert second.writes == 0
    assert writes(tenant) == sent  # nothing more was written
    held = tenant.intune.policies[first.policy.id]
    assert held.body["hotpatchEnabled"] is True
    targets = {(a["target"]["groupId"], a["target"]["@odata.type"]) for a in held.assignments}
    assert targets == {
        (ring[0], "#microsoft.graph.groupAssignmentTarget"),
        (ring[1], "#microsoft.graph.groupAssignmentTarget"),
        (ring[2], "#microsoft.graph.exclusionGroupAssignmentTarget"),
    }
    assert len(tenant.intune.policies) == 1


def test_an_assignment_change_writes_only_what_differs(tenant: Emulator) -> None:
    ring = groups(tenant)
    with tenant.devices_client() as devices:
        devices.enable("Hotpatch", include=ring[:2])
        policy_id = next(iter(tenant.intune.policies))
        kept = {
            a["target"]["groupId"]: a["id"] for a in tenant.intune.policies[policy_id].assignments
        }
        before = len(writes(tenant))
        plan = devices.plan("Hotpatch", include=[ring[0], ring[3]])
        assert [t.group_id for t in plan.assignments.add] == [ring[3]]
        assert [t.group_id for t in plan.assignments.remove] == [ring[1]]
        assert plan.change is Change.NONE
        assert plan.writes == 1
        devices.apply(plan)
    assert writes(tenant)[before:] == [("POST", "intune.policies.assign")]
    now = {a["target"]["groupId"]: a["id"] for a in tenant.intune.policies[policy_id].assignments}
    assert set(now) == {ring[0], ring[3]}
    assert now[ring[0]] == kept[ring[0]]  # the assignment that stayed is the same one
    last = tenant.intune.writes.assigned[-1][1]
    assert len(last) == 2


def test_a_changed_setting_is_patched_alone(tenant: Emulator) -> None:
    with tenant.devices_client() as devices:
        devices.enable("Hotpatch")
        policy_id = next(iter(tenant.intune.policies))
        tenant.intune.policies[policy_id].body["hotpatchEnabled"] = False  # someone turned it off
        again = devices.enable("Hotpatch", description="by azhotpatch")
    assert again.change is Change.UPDATE
    assert tenant.intune.writes.updated[-1] == (
        policy_id,
        {"hotpatchEnabled": True, "description": "by azhotpatch"},
    )
    assert tenant.intune.policies[policy_id].body["hotpatchEnabled"] is True


def test_two_policies_of_one_name_are_refused_and_nothing_is_written(tenant: Emulator) -> None:
    with tenant.devices_client() as devices:
        devices.enable("Hotpatch")
        body = next(iter(tenant.intune.policies.values())).body
        # someone makes a second policy of that name in the portal
        tenant.intune.policies["dup"] = Policy("dup", {**body, "id": "dup"})
        before = tenant.intune.writes.total
        with pytest.raises(DuplicatePolicyError) as raised:
            devices.enable("Hotpatch", include=groups(tenant)[:1])
    assert "delete or rename" in str(raised.value.fix)
    assert tenant.intune.writes.total == before


def test_bad_input_is_refused_before_any_request(tenant: Emulator) -> None:
    with tenant.devices_client() as devices:
        sent = len(tenant.graph.records)
        with pytest.raises(InvalidArgumentError, match="200"):
            devices.enable("x" * 201)
        with pytest.raises(InvalidArgumentError, match="GUID"):
            devices.enable("Hotpatch", include=["ring-0"])
        ring = groups(tenant)
        with pytest.raises(InvalidArgumentError, match="not both"):
            devices.enable("Hotpatch", include=ring[:1], exclude=ring[:1])
    assert len(tenant.graph.records) == sent


def test_a_dry_run_writes_nothing(tenant: Emulator) -> None:
    with tenant.devices_client() as devices:
        plan = devices.enable("Hotpatch", include=groups(tenant)[:1], dry_run=True)
    assert plan.change is Change.CREATE
    assert plan.writes == 2
    assert tenant.intune.writes.total == 0
