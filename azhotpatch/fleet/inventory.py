"""Inventory through Azure Resource Graph: every VM and Arc machine in scope, as typed records
carrying what the Hotpatch rules need, so planning costs no per-machine reads.

One query per batch of up to 300 subscriptions, paged with $skipToken under the pacer's
Resource Graph quota; rows are parsed into compact records as each page arrives and yielded,
so memory holds one page of raw JSON at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azhotpatch import _validation
from azhotpatch._azure.session import Session
from azhotpatch._facts import Facts
from azhotpatch._operations.kinds import KINDS
from azhotpatch.errors import InvalidArgumentError, InvalidInputError
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id

__all__ = ["InventoryFilter", "MachineRecord", "inventory", "query_for"]

_TYPES = {
    MachineKind.VM: "microsoft.compute/virtualmachines",
    MachineKind.ARC: "microsoft.hybridcompute/machines",
}


@dataclass(frozen=True, slots=True)
class MachineRecord:
    """One machine as the inventory saw it."""

    id: ResourceId
    facts: Facts

    @property
    def kind(self) -> MachineKind:
        return self.id.kind

    @property
    def location(self) -> str:
        return self.facts.location

    @property
    def subscription_id(self) -> str:
        return self.id.subscription_id

    @property
    def cores(self) -> int | None:
        return self.facts.cores


@dataclass(frozen=True)
class InventoryFilter:
    """Which machines: by subscription or management group, resource group, location, tags
    (all must match) and kind. Empty means "everything the credential can see"."""

    subscriptions: tuple[str, ...] = ()
    management_groups: tuple[str, ...] = ()
    ids: tuple[ResourceId, ...] = ()
    resource_groups: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    kinds: tuple[MachineKind, ...] = (MachineKind.VM, MachineKind.ARC)

    def __post_init__(self) -> None:
        _validation.subscriptions(self.subscriptions)
        if self.subscriptions and self.management_groups:
            raise InvalidArgumentError(
                "management_groups",
                "give subscriptions or management groups, not both",
                fix="scope the inventory one way",
            )
        if not self.kinds:
            raise InvalidArgumentError(
                "kinds", "no machine kind selected", fix="pass vm and/or arc"
            )

    def describe(self) -> dict[str, Any]:
        """The filter in one canonical form (sorted, lower-cased where Azure ignores case):
        two filters that select the same way describe alike. A run's journal is bound to it."""
        return {
            "subscriptions": sorted(s.lower() for s in self.subscriptions),
            "management_groups": sorted(g.lower() for g in self.management_groups),
            "machines": sorted(str(i).lower() for i in self.ids),
            "resource_groups": sorted(g.lower() for g in self.resource_groups),
            "locations": sorted(loc.lower() for loc in self.locations),
            "tags": dict(sorted(self.tags.items())),
            "kinds": sorted(k.value for k in self.kinds),
        }

    def in_words(self) -> str:
        """The filter as a message says it: ``subscription 0b1f...`` and the rest."""
        parts: list[str] = []
        if self.ids:
            parts.append(f"the {len(self.ids)} machine id(s) given")
        elif self.subscriptions:
            plural = "s" if len(self.subscriptions) > 1 else ""
            parts.append(f"subscription{plural} {', '.join(self.subscriptions)}")
        elif self.management_groups:
            parts.append(f"management group(s) {', '.join(self.management_groups)}")
        else:
            parts.append("every subscription this identity can read")
        if self.resource_groups:
            parts.append(f"resource group(s) {', '.join(self.resource_groups)}")
        if self.locations:
            parts.append(f"location(s) {', '.join(self.locations)}")
        if self.tags:
            parts.append("tags " + ", ".join(f"{k}={v}" for k, v in self.tags.items()))
        if tuple(self.kinds) != (MachineKind.VM, MachineKind.ARC):
            parts.append("kind(s) " + ", ".join(k.value for k in self.kinds))
        return "; ".join(parts)

    def nothing_found(self) -> InvalidArgumentError:
        """The error for a scope in which the inventory found no machine. It can only be
        found by reading Azure, so the message says what was read, and that nothing was
        changed (a typo in a subscription id reads the same as a subscription this identity
        cannot see, or one with no Windows machines: Resource Graph answers with no rows)."""
        return InvalidArgumentError(
            "fleet",
            f"Resource Graph lists no machine in {self.in_words()}: the inventory was read "
            "and nothing was changed",
            fix="check the subscription ids (`az account list`: a subscription this identity "
            "cannot read lists nothing) and the filter (resource groups, locations, tags, "
            "kinds)",
        )

    @classmethod
    def of_ids(cls, ids: Iterable[str | ResourceId]) -> InventoryFilter:
        """Exactly these machines (validated now; an empty list is refused)."""
        parsed = tuple(dict.fromkeys(parse_resource_id(i) for i in ids))
        if not parsed:
            raise InvalidArgumentError(
                "machines", "the fleet is empty", fix="pass at least one resource id"
            )
        return cls(
            subscriptions=tuple(sorted({r.subscription_id for r in parsed})),
            ids=parsed,
            kinds=tuple(sorted({r.kind for r in parsed}, key=lambda k: k.value)),
        )

    @classmethod
    def build(
        cls,
        *,
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> InventoryFilter:
        """A filter from the caller's arguments, every one checked before any query; one
        left out (None) does not narrow the inventory."""
        return cls(
            subscriptions=_validation.subscriptions(_given(subscriptions)),
            management_groups=_validation.management_groups(_given(management_groups)),
            resource_groups=_validation.resource_groups(_given(resource_groups)),
            locations=_validation.locations(_given(locations)),
            tags=_validation.tags(tags),
            kinds=_validation.kinds(ALL_KINDS if kinds is None else kinds),
        )


ALL_KINDS = (MachineKind.VM, MachineKind.ARC)


def _given(values: Iterable[str] | None) -> Iterable[str]:
    return () if values is None else values


def kql_string(value: str) -> str:
    """A KQL string literal (single quotes, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(kql_string(v) for v in values) + ")"


def query_for(scope: InventoryFilter, ids: Iterable[ResourceId] = ()) -> str:
    """The Resource Graph query for a filter (ordered by id so pages are stable)."""
    types = " or ".join(f"type =~ {kql_string(_TYPES[k])}" for k in scope.kinds)
    lines = ["resources", f"| where {types}"]
    wanted = [str(i) for i in ids]
    if wanted:
        lines.append(f"| where id in~ {_in_list(wanted)}")
    if scope.resource_groups:
        lines.append(f"| where resourceGroup in~ {_in_list(scope.resource_groups)}")
    if scope.locations:
        lines.append(f"| where location in~ {_in_list(scope.locations)}")
    for key, value in sorted(scope.tags.items()):
        lines.append(f"| where tags[{kql_string(key)}] =~ {kql_string(value)}")
    lines.append(
        "| project id, name, type, kind, location, subscriptionId, resourceGroup, tags, properties"
    )
    lines.append("| order by id asc")
    return "\n".join(lines)


def record_of(row: Mapping[str, object]) -> MachineRecord | None:
    """A row as a record; None for a row whose id is not a machine id (never expected)."""
    try:
        rid = parse_resource_id(str(row.get("id", "")))
    except InvalidInputError:
        return None
    return MachineRecord(rid, KINDS[rid.kind].facts(row))


_IDS_PER_QUERY = 200


async def inventory(session: Session, scope: InventoryFilter) -> AsyncIterator[MachineRecord]:
    """Every machine in scope, streamed (explicit ids are looked up a few hundred per query)."""
    queries = (
        [
            query_for(scope, scope.ids[i : i + _IDS_PER_QUERY])
            for i in range(0, len(scope.ids), _IDS_PER_QUERY)
        ]
        if scope.ids
        else [query_for(scope)]
    )
    for query in queries:
        async for row in session.query(
            query,
            subscriptions=scope.subscriptions or None,
            management_groups=scope.management_groups or None,
        ):
            record = record_of(row)
            if record is not None:
                # Compute's buckets are per region: the pacer keys a VM's calls by it
                session.regions[record.id.key] = record.facts.location
                yield record
