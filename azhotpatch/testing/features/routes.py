"""What Microsoft.Features (preview features) and Microsoft.Resources (provider registration)
serve: one row per operation (see `arm.endpoints.Endpoint`)."""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import Endpoint
from azhotpatch.testing.features.responses import FeaturesResponses

FEATURES = "Microsoft.Features"
RESOURCES = "Microsoft.Resources"
_FEATURES = "/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features"
_FEATURE = _FEATURES + "/{feature}"
_ALL_FEATURES = "/subscriptions/{sub}/providers/Microsoft.Features/features"
_PROVIDER = "/subscriptions/{sub}/providers/{ns}"
_ACTION = "Microsoft.Features/providers/features"
_R = FeaturesResponses

ROUTES: tuple[Endpoint[FeaturesResponses], ...] = (
    Endpoint("features.get", "GET", _FEATURE, _R.get, FEATURES, f"{_ACTION}/read"),
    Endpoint("features.register", "POST", f"{_FEATURE}/register", _R.register, FEATURES,
             f"{_ACTION}/register/action"),
    Endpoint("features.unregister", "POST", f"{_FEATURE}/unregister", _R.unregister, FEATURES,
             f"{_ACTION}/unregister/action"),
    Endpoint("features.list", "GET", _FEATURES, _R.list_namespace, FEATURES, f"{_ACTION}/read"),
    Endpoint("features.listAll", "GET", _ALL_FEATURES, _R.list_all, FEATURES, f"{_ACTION}/read"),
    Endpoint("providers.get", "GET", _PROVIDER, _R.provider_get, RESOURCES,
             "Microsoft.Resources/subscriptions/providers/read"),
    Endpoint("providers.register", "POST", f"{_PROVIDER}/register", _R.provider_register,
             RESOURCES, "{ns}/register/action"),
    Endpoint("providers.unregister", "POST", f"{_PROVIDER}/unregister", _R.provider_unregister,
             RESOURCES, "{ns}/unregister/action"),
)  # fmt: skip
