"""Parse and normalise ARM resource ids of the two machine kinds Hotpatch applies to.

ARM treats ids case-insensitively; people paste them with any casing, with or without the
leading slash and sometimes with surrounding whitespace. We accept those variations, emit one
canonical spelling, and compare ids by their lower-cased form. Anything that is not a VM or an
Arc machine id is rejected up front with `InvalidResourceIdError`, before any call is made.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from azhotpatch.errors import InvalidResourceIdError

__all__ = [
    "GROUP_NAME_RULE",
    "MachineKind",
    "ResourceGroupId",
    "ResourceId",
    "is_guid",
    "is_resource_group_name",
    "parse_resource_group",
    "parse_resource_id",
]


class MachineKind(str, enum.Enum):
    """The two kinds of machine Hotpatch applies to."""

    VM = "vm"
    ARC = "arc"

    @property
    def provider(self) -> str:
        return _PROVIDER_TYPE[self][0]

    @property
    def resource_type(self) -> str:
        """``Namespace/type`` as ARM and Resource Graph spell it."""
        namespace, type_name = _PROVIDER_TYPE[self]
        return f"{namespace}/{type_name}"


_PROVIDER_TYPE: dict[MachineKind, tuple[str, str]] = {
    MachineKind.VM: ("Microsoft.Compute", "virtualMachines"),
    MachineKind.ARC: ("Microsoft.HybridCompute", "machines"),
}
_KIND_BY_TYPE = {f"{ns}/{t}".lower(): kind for kind, (ns, t) in _PROVIDER_TYPE.items()}

EXPECTED_SHAPE = (
    "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/"
    "Microsoft.Compute/virtualMachines/<name> or .../Microsoft.HybridCompute/machines/<name>"
)

# Every pattern here is applied with fullmatch: ``$`` would also match before a trailing
# newline, letting "name\n" through as a valid segment.
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Resource group: 1-90 of (Unicode) letters, digits, underscore, hyphen, period, parentheses; no
# trailing period (ARM naming rules, Microsoft.Resources).
_GROUP = re.compile(r"[\w\-.()]{0,89}[\w\-()]")
GROUP_NAME_RULE = "1-90 letters, digits, '_', '-', '.', '(', ')', not ending in '.'"
# VM: 1-64 of letters, digits, underscore, period, hyphen; starts with a letter or digit;
# does not end with a period or hyphen (Microsoft.Compute naming rules).
_VM_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?")
# Arc machine: ^[a-zA-Z0-9-_\.]{1,54}$ (HybridCompute spec, machineName parameter).
_ARC_NAME = re.compile(r"[A-Za-z0-9_.-]{1,54}")
_NAME_RULE = {
    MachineKind.VM: (_VM_NAME, "1-64 letters, digits, '_', '.', '-', not ending in '.' or '-'"),
    MachineKind.ARC: (_ARC_NAME, "1-54 letters, digits, '_', '.', '-'"),
}


@dataclass(frozen=True, order=True)
class ResourceId:
    """A validated machine id. ``str(rid)`` is the canonical spelling; equality, hashing and
    ordering use the case-folded form, as ARM does."""

    key: str = field(init=False, repr=False, compare=True)
    subscription_id: str = field(compare=False)
    resource_group: str = field(compare=False)
    kind: MachineKind = field(compare=False)
    name: str = field(compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self._canonical().lower())

    @classmethod
    def build(
        cls, subscription_id: str, resource_group: str, kind: MachineKind, name: str
    ) -> ResourceId:
        """Assemble an id from parts, validating each one like `parse` does."""
        sub = _check_subscription(subscription_id, subscription_id)
        group = _check_group(resource_group, resource_group)
        _check_name(kind, name, name)
        return cls(subscription_id=sub, resource_group=group, kind=kind, name=name)

    @property
    def provider(self) -> str:
        return self.kind.provider

    @property
    def resource_type(self) -> str:
        return self.kind.resource_type

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def _canonical(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{self.kind.resource_type}/{self.name}"
        )

    def __str__(self) -> str:
        return self._canonical()


def parse_resource_id(value: str | ResourceId) -> ResourceId:
    """Parse a VM or Arc machine id; raise `InvalidResourceIdError` for anything else."""
    if isinstance(value, ResourceId):
        return value
    if not isinstance(value, str):
        raise InvalidResourceIdError(
            value, f"expected a string, got {type(value).__name__}", expected=EXPECTED_SHAPE
        )
    text = value.strip()
    if not text:
        raise InvalidResourceIdError(value, "the id is empty", expected=EXPECTED_SHAPE)
    if not text.startswith("/"):
        text = "/" + text
    parts = text[1:].split("/")
    if _uniform_instance(parts):
        raise InvalidResourceIdError(
            value,
            "this is an instance of a Uniform-orchestration scale set "
            "(virtualMachineScaleSets/<name>/virtualMachines/<instance>): Hotpatch images "
            "cannot run in Uniform scale sets, so there is nothing to enroll; move the "
            "workload to a Flexible-orchestration scale set, whose instances are ordinary VMs",
            expected=EXPECTED_SHAPE,
        )
    if len(parts) != 8 or any(not p for p in parts):
        raise InvalidResourceIdError(
            value,
            f"an id has 8 segments separated by '/', this one has {len(parts)}",
            expected=EXPECTED_SHAPE,
        )
    subs_kw, sub, groups_kw, group, providers_kw, namespace, type_name, name = parts
    for given, wanted in (
        (subs_kw, "subscriptions"),
        (groups_kw, "resourceGroups"),
        (providers_kw, "providers"),
    ):
        if given.lower() != wanted.lower():
            raise InvalidResourceIdError(
                value, f"expected the segment {wanted!r}, found {given!r}", expected=EXPECTED_SHAPE
            )
    kind = _KIND_BY_TYPE.get(f"{namespace}/{type_name}".lower())
    if kind is None:
        raise InvalidResourceIdError(
            value,
            f"{namespace}/{type_name} is not a machine type Hotpatch applies to "
            "(Microsoft.Compute/virtualMachines or Microsoft.HybridCompute/machines)",
            expected=EXPECTED_SHAPE,
        )
    return ResourceId(
        subscription_id=_check_subscription(sub, value),
        resource_group=_check_group(group, value),
        kind=kind,
        name=_check_name(kind, name, value),
    )


def _uniform_instance(parts: list[str]) -> bool:
    """``.../Microsoft.Compute/virtualMachineScaleSets/<name>/virtualMachines/<instance>``:
    a Uniform scale set's instance (a Flexible one's instances have ordinary VM ids)."""
    lowered = [p.lower() for p in parts]
    return (
        len(parts) == 10
        and lowered[5:7] == ["microsoft.compute", "virtualmachinescalesets"]
        and (lowered[8] == "virtualmachines")
    )


@dataclass(frozen=True)
class ResourceGroupId:
    """A resource group, where maintenance configurations live."""

    subscription_id: str
    name: str

    def __str__(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}"


_GROUP_SHAPE = "/subscriptions/<subscription-guid>/resourceGroups/<group>"
_GROUP_ID = re.compile(r"/?subscriptions/([^/]+)/resourcegroups/([^/]+)/?", re.IGNORECASE)


def parse_resource_group(value: str | ResourceGroupId) -> ResourceGroupId:
    """Parse ``/subscriptions/<guid>/resourceGroups/<name>``; raise `InvalidResourceIdError`
    for anything else."""
    if isinstance(value, ResourceGroupId):
        return value
    found = _GROUP_ID.fullmatch(str(value).strip())
    if not found:
        raise InvalidResourceIdError(
            value, "this is not a resource group id", expected=_GROUP_SHAPE
        )
    sub, group = found.groups()
    if not is_guid(sub):
        raise InvalidResourceIdError(
            value, f"subscription id {sub!r} is not a GUID", expected=_GROUP_SHAPE
        )
    if not is_resource_group_name(group):
        raise InvalidResourceIdError(
            value, f"resource group {group!r} is not a valid name", expected=_GROUP_SHAPE
        )
    return ResourceGroupId(sub.lower(), group)


def is_guid(text: str) -> bool:
    """Whether ``text`` is a GUID (a subscription or tenant id), in any case."""
    return _GUID.fullmatch(text) is not None


def is_resource_group_name(text: str) -> bool:
    return _GROUP.fullmatch(text) is not None


def _check_subscription(sub: str, given: object) -> str:
    if not is_guid(sub):
        raise InvalidResourceIdError(
            given, f"subscription id {sub!r} is not a GUID", expected=EXPECTED_SHAPE
        )
    return sub.lower()


def _check_group(group: str, given: object) -> str:
    if not is_resource_group_name(group):
        raise InvalidResourceIdError(
            given,
            f"resource group {group!r} is not a valid name ({GROUP_NAME_RULE})",
            expected=EXPECTED_SHAPE,
        )
    return group


def _check_name(kind: MachineKind, name: str, given: object) -> str:
    pattern, rule = _NAME_RULE[kind]
    if not pattern.fullmatch(name):
        raise InvalidResourceIdError(
            given,
            f"{kind.resource_type} name {name!r} breaks the naming rule ({rule})",
            expected=EXPECTED_SHAPE,
        )
    return name
