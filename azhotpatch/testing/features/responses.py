"""Microsoft.Features and Microsoft.Resources provider registration on the wire. Both answer
synchronously (200, no LRO headers), as recorded."""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.arm.exchange import Request, Response
from azhotpatch.testing.features.models import FeaturesBackend
from azhotpatch.testing.world.subscriptions import FeatureState, Subscription

# The resource types a provider document lists, for the providers azhotpatch reads.
_RESOURCE_TYPES = {
    "microsoft.compute": ("virtualMachines", "locations/operations", "locations/publishers"),
    "microsoft.hybridcompute": (
        "machines",
        "machines/licenseProfiles",
        "locations/operationStatus",
    ),
}


class FeaturesResponses:
    """The handlers of the features and providers route table."""

    def __init__(self, backend: FeaturesBackend) -> None:
        self.backend = backend
        self.world = backend.world

    def _feature(self, request: Request) -> tuple[Subscription, FeatureState]:
        p = request.params
        return self.backend.feature(p["sub"], p["ns"], p["feature"])

    def get(self, request: Request) -> Response:
        subscription, state = self._feature(request)
        return Response(200, render_feature(subscription.id, state))

    def register(self, request: Request) -> Response:
        subscription, state = self._feature(request)
        self.backend.register(state)
        return Response(200, render_feature(subscription.id, state))

    def unregister(self, request: Request) -> Response:
        subscription, state = self._feature(request)
        self.backend.unregister(state)
        return Response(200, render_feature(subscription.id, state))

    def list_namespace(self, request: Request) -> Response:
        return self._listing(request, request.params["ns"])

    def list_all(self, request: Request) -> Response:
        return self._listing(request, None)

    def _listing(self, request: Request, namespace: str | None) -> Response:
        sub = request.params["sub"]
        found = self.backend.features(sub, namespace)
        return Response(200, {"value": [render_feature(sub.lower(), s) for s in found]})

    def provider_get(self, request: Request) -> Response:
        subscription = self.world.require_subscription(request.params["sub"])
        return Response(200, render_provider(subscription, request.params["ns"]))

    def provider_register(self, request: Request) -> Response:
        return self._set_provider(request, registered=True)

    def provider_unregister(self, request: Request) -> Response:
        return self._set_provider(request, registered=False)

    def _set_provider(self, request: Request, *, registered: bool) -> Response:
        subscription = self.world.require_subscription(request.params["sub"])
        namespace = request.params["ns"]
        self.backend.set_provider(subscription, namespace, registered=registered)
        return Response(200, render_provider(subscription, namespace))


def render_feature(sub: str, state: FeatureState) -> dict[str, Any]:
    namespace, _, feature = state.name.partition("/")
    return {
        "properties": {"state": state.state},
        "id": f"/subscriptions/{sub}/providers/Microsoft.Features/providers/{namespace}/features/"
        f"{feature}",
        "type": "Microsoft.Features/providers/features",
        "name": state.name,
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
