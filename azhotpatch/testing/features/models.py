"""Registration as Microsoft.Features and Microsoft.Resources run it on a subscription: a
preview feature goes ``Registering`` (or ``Pending``, for features that need approval) and
later ``Registered``; a resource provider goes ``Registering`` and later ``Registered``. Both
take time on the emulated clock, as in Azure."""

from __future__ import annotations

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.world.state import World
from azhotpatch.testing.world.subscriptions import FeatureState, Subscription

_UNREGISTERED = ("NotRegistered", "Unregistered", "Unregistering")
_REGISTERED = ("Registered", "Registering", "Pending")


class FeaturesBackend:
    """Preview features and resource providers of the world's subscriptions."""

    def __init__(self, world: World) -> None:
        self.world = world

    def feature(self, sub: str, namespace: str, name: str) -> tuple[Subscription, FeatureState]:
        subscription = self.world.require_subscription(sub)
        full_name = f"{namespace}/{name}"
        state = subscription.features.get(full_name.lower())
        if state is None:
            raise ArmError(404, "FeatureNotFound", f"The feature '{full_name}' could not be found.")
        return subscription, state

    def features(self, sub: str, namespace: str | None = None) -> list[FeatureState]:
        """The subscription's features, of one namespace or all, in name order."""
        prefix = f"{namespace.lower()}/" if namespace else ""
        features = self.world.require_subscription(sub).features
        return [state for key, state in sorted(features.items()) if key.startswith(prefix)]

    def register(self, state: FeatureState) -> None:
        if state.state not in _UNREGISTERED:
            return
        if state.name.lower() in self.world.pending_features:
            state.state = "Pending"
            return
        state.state = "Registering"
        self._settle_later(state, "Registered")

    def unregister(self, state: FeatureState) -> None:
        if state.state in _REGISTERED:
            state.state = "Unregistering"
            self._settle_later(state, "Unregistered")

    def _settle_later(self, state: FeatureState, final: str) -> None:
        expected = state.state

        def settle() -> None:
            if state.state == expected:
                state.state = final

        self.world.scheduler.at(
            self.world.now() + self.world.durations.feature_registration, settle
        )

    def set_provider(self, subscription: Subscription, namespace: str, *, registered: bool) -> None:
        """Start registering (again: how feature changes propagate) or unregistering a
        provider; it settles after the provider registration time."""
        key = namespace.lower()
        moving, final = (
            ("Registering", "Registered") if registered else ("Unregistering", "Unregistered")
        )
        subscription.providers[key] = moving

        def settle() -> None:
            if subscription.providers.get(key) == moving:
                subscription.providers[key] = final

        when = self.world.now() + self.world.durations.provider_registration
        self.world.scheduler.at(when, settle)
