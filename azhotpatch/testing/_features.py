"""Microsoft.Features (preview features) and Microsoft.Resources provider registration.

Both answer synchronously (200, no LRO headers), as recorded: feature register returns
``Registering`` (or ``Pending`` for features that need approval) and the feature becomes
``Registered`` later; provider register returns ``Registering`` and later ``Registered``.
"""

from __future__ import annotations

from typing import Any

from azhotpatch.testing._arm import ArmError, Request, Response, Route
from azhotpatch.testing._arm import route as _route
from azhotpatch.testing._state import FeatureState, Subscription, World

_FEATURES = "/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features"
_RESOURCE_TYPES = {
    "microsoft.compute": ("virtualMachines", "locations/operations", "locations/publishers"),
    "microsoft.hybridcompute": (
        "machines",
        "machines/licenseProfiles",
        "locations/operationStatus",
    ),
}


class FeaturesApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        feature = f"{_FEATURES}/{{feature}}"
        features, resources = "Microsoft.Features", "Microsoft.Resources"
        action = "Microsoft.Features/providers/features"
        return [
            _route(
                "features.get", "GET", feature, self.get, provider=features, action=f"{action}/read"
            ),
            _route(
                "features.register",
                "POST",
                f"{feature}/register",
                self.register,
                provider=features,
                action=f"{action}/register/action",
            ),
            _route(
                "features.unregister",
                "POST",
                f"{feature}/unregister",
                self.unregister,
                provider=features,
                action=f"{action}/unregister/action",
            ),
            _route(
                "features.list",
                "GET",
                _FEATURES,
                self.list_namespace,
                provider=features,
                action=f"{action}/read",
            ),
            _route(
                "features.listAll",
                "GET",
                "/subscriptions/{sub}/providers/Microsoft.Features/features",
                self.list_all,
                provider=features,
                action=f"{action}/read",
            ),
            _route(
                "providers.get",
                "GET",
                "/subscriptions/{sub}/providers/{ns}",
                self.provider_get,
                provider=resources,
                action="Microsoft.Resources/subscriptions/providers/read",
            ),
            _route(
                "providers.register",
                "POST",
                "/subscriptions/{sub}/providers/{ns}/register",
                self.provider_register,
                provider=resources,
                action="{ns}/register/action",
            ),
            _route(
                "providers.unregister",
                "POST",
                "/subscriptions/{sub}/providers/{ns}/unregister",
                self.provider_unregister,
                provider=resources,
                action="{ns}/unregister/action",
            ),
        ]

    # --- features ---------------------------------------------------------------------------

    def _subscription(self, request: Request) -> Subscription:
        sub = self.world.subscription(request.params["sub"])
        if sub is None:
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{request.params['sub']}' could not be found.",
            )
        return sub

    def _feature(self, request: Request) -> tuple[Subscription, str, FeatureState]:
        sub = self._subscription(request)
        name = f"{request.params['ns']}/{request.params['feature']}"
        state = sub.features.get(name.lower())
        if state is None:
            raise ArmError(404, "FeatureNotFound", f"The feature '{name}' could not be found.")
        return sub, state.name, state

    def get(self, request: Request) -> Response:
        sub, name, state = self._feature(request)
        return Response(200, render_feature(sub.id, name, state))

    def register(self, request: Request) -> Response:
        sub, name, state = self._feature(request)
        if state.state in ("NotRegistered", "Unregistered", "Unregistering"):
            if name.lower() in self.world.pending_features:
                state.state = "Pending"
            else:
                state.state = "Registering"
                self._later(self.world.durations.feature_registration, state, "Registered")
        return Response(200, render_feature(sub.id, name, state))

    def unregister(self, request: Request) -> Response:
        sub, name, state = self._feature(request)
        if state.state in ("Registered", "Registering", "Pending"):
            state.state = "Unregistering"
            self._later(self.world.durations.feature_registration, state, "Unregistered")
        return Response(200, render_feature(sub.id, name, state))

    def _later(self, seconds: float, state: FeatureState, final: str) -> None:
        expected = state.state

        def flip() -> None:
            if state.state == expected:
                state.state = final

        self.world.scheduler.at(self.world.now() + seconds, flip)

    def list_namespace(self, request: Request) -> Response:
        sub = self._subscription(request)
        prefix = request.params["ns"].lower() + "/"
        return Response(200, {"value": self._render_all(sub, prefix)})

    def list_all(self, request: Request) -> Response:
        return Response(200, {"value": self._render_all(self._subscription(request), "")})

    def _render_all(self, sub: Subscription, prefix: str) -> list[dict[str, Any]]:
        return [
            render_feature(sub.id, state.name, state)
            for key, state in sorted(sub.features.items())
            if key.startswith(prefix)
        ]

    # --- providers --------------------------------------------------------------------------

    def provider_get(self, request: Request) -> Response:
        sub = self._subscription(request)
        namespace = request.params["ns"]
        return Response(200, render_provider(sub, namespace))

    def provider_register(self, request: Request) -> Response:
        sub = self._subscription(request)
        namespace = request.params["ns"]
        key = namespace.lower()
        # Re-registering a registered provider refreshes it (how feature changes propagate).
        sub.providers[key] = "Registering"

        def done() -> None:
            if sub.providers.get(key) == "Registering":
                sub.providers[key] = "Registered"

        self.world.scheduler.at(self.world.now() + self.world.durations.provider_registration, done)
        return Response(200, render_provider(sub, namespace))

    def provider_unregister(self, request: Request) -> Response:
        sub = self._subscription(request)
        namespace = request.params["ns"]
        key = namespace.lower()
        sub.providers[key] = "Unregistering"

        def done() -> None:
            if sub.providers.get(key) == "Unregistering":
                sub.providers[key] = "Unregistered"

        self.world.scheduler.at(self.world.now() + self.world.durations.provider_registration, done)
        return Response(200, render_provider(sub, namespace))


def render_feature(sub: str, name: str, state: FeatureState) -> dict[str, Any]:
    namespace, _, feature = name.partition("/")
    return {
        "properties": {"state": state.state},
        "id": f"/subscriptions/{sub}/providers/Microsoft.Features/providers/{namespace}/features/"
        f"{feature}",
        "type": "Microsoft.Features/providers/features",
        "name": name,
    }


def render_provider(sub: Subscription, namespace: str) -> dict[str, Any]:
    key = namespace.lower()
    return {
        "id": f"/subscriptions/{sub.id}/providers/{namespace}",
        "namespace": namespace,
        "registrationState": sub.providers.get(key, "NotRegistered"),
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {"resourceType": t, "locations": [], "apiVersions": []}
            for t in _RESOURCE_TYPES.get(key, ())
        ],
    }
