"""Subscriptions as ARM knows them: their resource groups, and what is registered on them
(preview features, resource providers)."""

from __future__ import annotations

from dataclasses import dataclass, field

KNOWN_FEATURES = (
    "Microsoft.Compute/InGuestHotPatchVMPreview",
    "Microsoft.Compute/InGuestAutoPatchVMPreview",
    "Microsoft.Compute/InGuestPatchVMPreview",
)
REGISTERED_BY_DEFAULT = (
    "Microsoft.Compute",
    "Microsoft.HybridCompute",
    "Microsoft.Features",
    "Microsoft.Resources",
    "Microsoft.ResourceGraph",
)


@dataclass
class FeatureState:
    """A preview feature's registration on one subscription."""

    name: str  # canonical "Namespace/Feature"
    state: str = "NotRegistered"


@dataclass
class Subscription:
    """A subscription: its resource groups and what is registered on it."""

    id: str
    groups: set[str] = field(default_factory=set)  # lower-cased names
    group_names: dict[str, str] = field(default_factory=dict)  # lower -> display
    features: dict[str, FeatureState] = field(default_factory=dict)  # "ns/name" lower
    providers: dict[str, str] = field(default_factory=dict)  # namespace lower -> state

    def add_group(self, name: str) -> None:
        self.groups.add(name.lower())
        self.group_names.setdefault(name.lower(), name)

    @classmethod
    def new(cls, subscription_id: str) -> Subscription:
        """A fresh subscription as Azure hands one out: the common providers registered, the
        Hotpatch preview features not."""
        subscription = cls(subscription_id.lower())
        for namespace in REGISTERED_BY_DEFAULT:
            subscription.providers[namespace.lower()] = "Registered"
        for feature in KNOWN_FEATURES:
            subscription.features[feature.lower()] = FeatureState(feature)
        return subscription
