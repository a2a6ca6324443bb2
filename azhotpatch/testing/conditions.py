"""The conditions of a real estate an `Emulator` can be put in: faults in Azure's answers,
roles revoked, management locks, deny policies, Azure Policy's patch orchestration
assignments and their compliance states, disabled subscriptions, machines busy with
someone else's operation or deleted behind an inventory's back.

Each is a condition Azure's own state would hold, set under the front doors' locks so no
request sees half of it; `admin.ROUTES` sets the same over HTTP. Kept apart from the
emulator's lifecycle and observation so each reads on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from azhotpatch.testing._faults import FaultRule, Faults
from azhotpatch.testing.arm.dispatch import Dispatcher
from azhotpatch.testing.arm.estate import Lock, PolicyDenial, Revocation
from azhotpatch.testing.graph.policy import PolicyStates
from azhotpatch.testing.msgraph.front import GraphFront
from azhotpatch.testing.services import Services
from azhotpatch.testing.world.state import World

__all__ = ["EstateConditions"]


class EstateConditions:
    """Setting an estate's conditions on the world behind ARM's and Graph's front doors."""

    world: World
    dispatcher: Dispatcher  # ARM's front door: its lock guards the world
    graph: GraphFront  # Microsoft Graph's, which takes the same faults
    services: Services  # the services' state (Azure Policy's lives beside Resource Graph)

    def set_faults(self, faults: Faults | None) -> None:
        """Inject these faults from now on (None: none), e.g. to rerun against a calm Azure
        after a stormy run over the same world."""
        with self.dispatcher.lock, self.graph.lock:
            self.world.faults = faults or Faults(seed=self.world.seed)

    def fault_hits(self) -> dict[FaultRule, int]:
        """How many times each aimed `FaultRule` has fired so far (Resource Manager's and
        Microsoft Graph's fronts together)."""
        with self.dispatcher.lock, self.graph.lock:
            return dict(self.world.fault_ledger.hits)

    def revoke(self, scope: str, actions: Iterable[str] = ("*",), *, principal: str = "*") -> None:
        """The identity holds no role granting ``actions`` (RBAC patterns) on ``scope``:
        ARM answers 403 ``AuthorizationFailed``, and Resource Graph leaves out rows it may
        not read."""
        with self.dispatcher.lock:
            self.world.estate.revocations.append(Revocation(scope, tuple(actions), principal))
            self.world.changed()

    def lock(self, scope: str, *, name: str = "do-not-change", level: str = "ReadOnly") -> None:
        """A management lock on ``scope``: changes answer 409 ``ScopeLocked``."""
        with self.dispatcher.lock:
            self.world.estate.locks.append(Lock(scope, name, level))

    def deny_by_policy(self, scope: str, *, name: str = "deny-patch-settings-changes") -> None:
        """A deny policy assignment on ``scope``: PUT and PATCH of VMs and Arc machines
        answer 403 ``RequestDisallowedByPolicy``."""
        with self.dispatcher.lock:
            self.world.estate.policies.append(PolicyDenial(scope, name))

    @property
    def _policy(self) -> PolicyStates:
        return self.services.graph.policy

    def assign_policy(self, definition: str, scope: str, *, name: str | None = None) -> str:
        """Assign a built-in patch orchestration definition (its name: the
        ``testing.graph.policy`` constants) to ``scope`` (``/subscriptions/<id>`` or a
        resource group's id); Policy evaluates it at once, and Resource Graph's
        ``policyresources`` shows the states. Returns the assignment's name."""
        with self.dispatcher.lock:
            return self._policy.assign(definition, scope, name).name

    def evaluate_policies(self) -> None:
        """A Policy compliance scan: every assignment's states from the settings now. Until
        one, a setting changed since the last evaluation keeps its old (stale) state."""
        with self.dispatcher.lock:
            self._policy.evaluate()

    def disable_subscription(self, subscription_id: str) -> None:
        """The subscription becomes disabled, hence read-only: writes answer 409
        ``ReadOnlyDisabledSubscription``."""
        with self.dispatcher.lock:
            self.world.estate.disabled.add(subscription_id.lower().rsplit("/", 1)[-1])

    def occupy(self, resource_id: str, seconds: float) -> None:
        """Someone else's operation holds the machine for ``seconds`` (Azure seconds): its
        writes and patch actions answer 409 until then."""
        with self.dispatcher.lock:
            self.world.estate.busy[resource_id.lower()] = self.world.now() + seconds

    def delete(self, resource_id: str) -> None:
        """Delete the machine from ARM while Resource Graph, whose index lags, still lists it:
        a machine deleted after an inventory saw it."""
        with self.dispatcher.lock:
            self.world.remove_machine(resource_id.lower())
