"""What real estates put between a client and its machines, as ARM answers it.

Roles not granted on a scope (403 ``AuthorizationFailed``), management locks (409
``ScopeLocked``), Azure Policy denials (403 ``RequestDisallowedByPolicy``), disabled
subscriptions (409 ``ReadOnlyDisabledSubscription``), machines busy with someone else's
operation (409), and machines deleted after an inventory saw them (Resource Graph's index
lags ARM, so it still lists them while ARM answers 404). Each condition applies to a scope:
a resource id and everything under it, compared case-insensitively as ARM does.

Message shapes follow Microsoft's error references (ARM locks, Azure Policy, subscription
states); where Azure documents no wording (a busy VM, a busy Arc machine) the text is a
model and says so.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field

from azhotpatch.testing.arm.endpoints import Route
from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import Request

__all__ = ["Estate", "Lock", "PolicyDenial", "Revocation", "not_authorized"]

_WRITES = ("PUT", "PATCH", "POST", "DELETE")


def _under(target: str, scope: str) -> bool:
    scope = scope.lower().rstrip("/")
    return target == scope or target.startswith(scope + "/")


@dataclass(frozen=True)
class Revocation:
    """The identity ``principal`` (``*``: everyone) holds no role granting ``actions`` (RBAC
    action patterns, ``*`` wildcards) on ``scope``."""

    scope: str
    actions: tuple[str, ...] = ("*",)
    principal: str = "*"

    def denies(self, principal: str, action: str, target: str) -> bool:
        return (
            self.principal in ("*", principal)
            and _under(target, self.scope)
            and any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in self.actions)
        )


@dataclass(frozen=True)
class Lock:
    """A management lock on ``scope``: ``ReadOnly`` refuses every change, ``CanNotDelete``
    deletions only."""

    scope: str
    name: str = "do-not-change"
    level: str = "ReadOnly"

    def __post_init__(self) -> None:
        if self.level not in ("ReadOnly", "CanNotDelete"):
            raise ValueError(f"lock level {self.level!r} is not ReadOnly or CanNotDelete")

    @property
    def id(self) -> str:
        return f"{self.scope.rstrip('/')}/providers/Microsoft.Authorization/locks/{self.name}"

    def refuses(self, method: str, target: str) -> bool:
        blocked = _WRITES if self.level == "ReadOnly" else ("DELETE",)
        return method in blocked and _under(target, self.scope)


@dataclass(frozen=True)
class PolicyDenial:
    """A ``deny`` policy assignment named ``name`` on ``scope`` that refuses PUT and PATCH
    of the resource types given (ARM evaluates policy on resource writes, not on actions)."""

    scope: str
    name: str = "deny-patch-settings-changes"
    resource_types: tuple[str, ...] = (
        "Microsoft.Compute/virtualMachines",
        "Microsoft.HybridCompute/machines",
    )

    @property
    def assignment_id(self) -> str:
        return (
            f"{self.scope.rstrip('/')}/providers/Microsoft.Authorization/policyAssignments/"
            f"{self.name}"
        )

    def refuses(self, method: str, action: str, target: str) -> bool:
        written = action.lower().removesuffix("/write")
        return (
            method in ("PUT", "PATCH")
            and action.lower().endswith("/write")
            and _under(target, self.scope)
            and any(written == t.lower() for t in self.resource_types)
        )


@dataclass
class Estate:
    """The conditions in force; the dispatcher asks `check` before handling a request."""

    revocations: list[Revocation] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)
    policies: list[PolicyDenial] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)  # subscription ids, lower-cased
    busy: dict[str, float] = field(default_factory=dict)  # machine key -> emulated end

    def check(self, request: Request, route: Route, action: str, now: float) -> None:
        """Raise the error ARM would give this request, if any condition applies."""
        target = request.targets[0] if request.targets else request.path.lower()
        subscription = request.params.get("sub", "").lower()
        if subscription in self.disabled and request.method in _WRITES:
            raise _disabled(subscription)
        for revocation in self.revocations:
            if revocation.denies(request.principal, action, target):
                raise not_authorized(request, route, action)
        for policy in self.policies:
            if policy.refuses(request.method, action, target):
                raise _disallowed(request, policy)
        for lock in self.locks:
            if lock.refuses(request.method, target):
                raise _locked(request, lock)
        if route.machine_write and self.busy.get(target, -1.0) > now:
            raise _busy(request, route)

    def can_read(self, principal: str, resource_type: str, target: str) -> bool:
        """Whether the identity may read the resource (Resource Graph leaves out the rows it
        may not)."""
        action = f"{resource_type}/read"
        return not any(r.denies(principal, action, target) for r in self.revocations)


def _disabled(subscription: str) -> ArmError:
    return ArmError(
        409,
        "ReadOnlyDisabledSubscription",
        f"The subscription '{subscription}' is disabled and therefore marked as read only. You "
        "cannot perform any write actions on this subscription until it is re-enabled.",
    )


def not_authorized(request: Request, route: Route, action: str) -> ArmError:
    scope = request.path.rsplit("/", 1)[0] if route.method == "POST" else request.path
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{request.principal}' with object id '{request.principal}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials.",
    )


def _disallowed(request: Request, policy: PolicyDenial) -> ArmError:
    identifiers = json.dumps(
        [
            {
                "policyAssignment": {"name": policy.name, "id": policy.assignment_id},
                "policyDefinition": {
                    "name": policy.name,
                    "id": f"/providers/Microsoft.Authorization/policyDefinitions/{policy.name}",
                },
            }
        ],
        separators=(",", ":"),
    )
    name = request.params.get("name", request.path.rsplit("/", 1)[-1])
    return ArmError(
        403,
        "RequestDisallowedByPolicy",
        f"Resource '{name}' was disallowed by policy. Policy identifiers: '{identifiers}'.",
        target=name,
    )


def _locked(request: Request, lock: Lock) -> ArmError:
    return ArmError(
        409,
        "ScopeLocked",
        f"The scope '{request.path}' cannot perform write operation because following scope(s) "
        f"are locked: '{lock.id}'. Please remove the lock and try again.",
    )


def _busy(request: Request, route: Route) -> ArmError:
    name = request.params.get("name", "")
    operation = route.name.split(".", 1)[-1]
    if route.provider == "Microsoft.Compute":  # model: Compute's code, our wording
        return ArmError(
            409,
            "OperationNotAllowed",
            f"Operation '{operation}' is not allowed on VM '{name}' since another operation is "
            "in progress on it. Retry after it completes.",
        )
    return ArmError(  # model
        409,
        "Conflict",
        f"The operation '{operation}' cannot be performed on machine '{name}' because another "
        "operation is in progress. Retry after it completes.",
    )
