"""What real estates do to a fleet run, as scenarios shared by the API and command-line tests.

Each scenario sets one condition on an emulated estate of two subscriptions, each with two
resource groups of two VMs and one Arc machine, then says which machines it affects and the
outcome, code and fix they must end with. Every other machine must finish as a calm run
does, and the affected ones must cost no retry storm.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from azhotpatch.testing import ArcSpec, Emulator, VmSpec

SUBSCRIPTIONS = tuple(str(uuid.uuid5(uuid.NAMESPACE_OID, f"estate/{n}")) for n in range(2))
GROUPS = ("rg-app", "rg-data")


def build(emu: Emulator) -> list[str]:
    """The estate: 2 subscriptions x 2 groups x (2 VMs + 1 Arc machine)."""
    ids = []
    for sub in SUBSCRIPTIONS:
        emu.add_subscription(sub, groups=GROUPS)
        for group in GROUPS:
            for n in range(2):
                spec = VmSpec(
                    sub, group, f"{group}-vm-{n}", "westeurope", patch_mode="AutomaticByOS"
                )
                ids.append(emu.add_vm(spec))
            ids.append(emu.add_arc(ArcSpec(sub, group, f"{group}-arc", "westeurope")))
    return ids


def group_scope(sub_index: int = 1, group: str = "rg-data") -> str:
    return f"/subscriptions/{SUBSCRIPTIONS[sub_index]}/resourceGroups/{group}"


def first_vm(ids: list[str], scope: str) -> str:
    return next(
        i for i in ids if i.lower().startswith(scope.lower()) and "/virtualmachines/" in i.lower()
    )


@dataclass(frozen=True)
class Scenario:
    """``apply`` sets the condition (given the emulator and the machines' ids) and returns
    the affected machines; they must end ``outcome`` with ``code``, the fix mentioning
    ``fix``. ``max_refusals`` bounds the answers with ``status`` Azure gave them (no retry
    storm); ``before_run`` conditions are set after the plan (between inventory and run)."""

    name: str
    apply: Callable[[Emulator, list[str]], list[str]]
    outcome: str
    code: str | None
    fix: str | None
    status: int | None = None
    max_refusals: Callable[[int], int] = lambda affected: affected
    after_plan: bool = False


def _in(ids: list[str], scope: str) -> list[str]:
    return [i for i in ids if i.lower().startswith(scope.lower() + "/")]


def _revoke(emu: Emulator, ids: list[str]) -> list[str]:
    scope = group_scope()
    emu.revoke(scope, actions=("*/write", "*/action"))
    return _in(ids, scope)


def _lock(emu: Emulator, ids: list[str]) -> list[str]:
    scope = group_scope()
    emu.lock(scope, name="change-freeze")
    return _in(ids, scope)


def _policy(emu: Emulator, ids: list[str]) -> list[str]:
    scope = group_scope()
    emu.deny_by_policy(scope, name="no-patch-changes")
    return _in(ids, scope)


def _disable(emu: Emulator, ids: list[str]) -> list[str]:
    scope = f"/subscriptions/{SUBSCRIPTIONS[1]}"
    emu.disable_subscription(SUBSCRIPTIONS[1])
    return _in(ids, scope)


def _busy_a_while(emu: Emulator, ids: list[str]) -> list[str]:
    vm = first_vm(ids, group_scope())
    emu.occupy(vm, 20.0)  # an extension install, say: the retries outlast it
    return []


def _busy_for_hours(emu: Emulator, ids: list[str]) -> list[str]:
    vm = first_vm(ids, group_scope())
    emu.occupy(vm, 6 * 3600.0)
    return [vm]


def _deleted(emu: Emulator, ids: list[str]) -> list[str]:
    vm = first_vm(ids, group_scope())
    arc = next(i for i in _in(ids, group_scope()) if "/machines/" in i.lower())
    emu.delete(vm)
    emu.delete(arc)
    return [vm, arc]


SCENARIOS = (
    Scenario("rbac", _revoke, "failed", "NotAuthorized", "grant the identity", 403),
    Scenario("lock", _lock, "failed", "ScopeLocked", "change-freeze", 409),
    Scenario("policy", _policy, "failed", "PolicyDenied", "no-patch-changes", 403),
    Scenario(
        "disabled-subscription",
        _disable,
        "failed",
        "SubscriptionDisabled",
        "re-enable the subscription",
        409,
    ),
    Scenario("busy-a-while", _busy_a_while, "succeeded", None, None),
    Scenario(
        "busy-for-hours",
        _busy_for_hours,
        "failed",
        "Conflict",
        "wait for the running operation",
        409,
        max_refusals=lambda affected: 6 * affected,  # retried with back-off, within budget
    ),
    Scenario("deleted", _deleted, "skipped", "MachineGone", None, 404, after_plan=True),
)
