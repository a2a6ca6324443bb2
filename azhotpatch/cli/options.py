"""The options commands share, each declared once: resource ids, the fleet filter, the
journal and the concurrency cap.

A command that works on "these machines" takes ``ids`` and the fleet filter; `machines`
turns them into what the API takes (ids, or inventory filter keywords), checked before
anything is sent. To give every fleet command a new option, declare it here once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from azhotpatch import _validation
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.ids import ResourceId, parse_resource_id

IDS = Annotated[
    list[str] | None, typer.Argument(help="resource ids (VMs or Arc machines)", show_default=False)
]
JOURNAL = Annotated[
    str | None,
    typer.Option(help="SQLite journal: a killed run resumes from it", show_default=False),
]
HTML = Annotated[
    str | None,
    typer.Option(
        "--html",
        help="also write the report as one self-contained HTML page (opens offline)",
        show_default=False,
    ),
]
CONCURRENCY = Annotated[
    int | None,
    typer.Option(
        help="cap on machines in flight (default: as many as Azure's limits serve)",
        show_default=False,
    ),
]
INSTALL_AGAIN = Annotated[
    bool,
    typer.Option(
        "--install-again",
        help="send installs even where another run, a person or the platform already "
        "installed (or is installing) the current release",
    ),
]
RELEASED = Annotated[
    str | None,
    typer.Option(
        help="YYYY-MM-DD: the day of an out-of-band release; installs started before it do "
        "not count as this release's",
        show_default=False,
    ),
]

# The fleet filter: option name -> its declaration. Every fleet command gets all of them.
_FILTER_OPTIONS: Mapping[str, Any] = {
    "subscription": Annotated[
        list[str] | None,
        typer.Option("--subscription", "-s", help="subscription id (repeat)", show_default=False),
    ],
    "management_group": Annotated[
        list[str] | None,
        typer.Option("--management-group", help="management group id (repeat)", show_default=False),
    ],
    "resource_group": Annotated[
        list[str] | None,
        typer.Option(
            "--resource-group", "-g", help="resource group name (repeat)", show_default=False
        ),
    ],
    "location": Annotated[
        list[str] | None,
        typer.Option(
            "--location", "-l", help="region, e.g. westeurope (repeat)", show_default=False
        ),
    ],
    "tag": Annotated[
        list[str] | None,
        typer.Option("--tag", help="key=value; every one must match (repeat)", show_default=False),
    ],
    "kind": Annotated[
        list[str] | None,
        typer.Option("--kind", help="vm or arc (default both)", show_default=False),
    ],
}


@dataclass(frozen=True)
class FleetFilter:
    """The fleet filter as given on the command line."""

    subscription: Sequence[str] = ()
    management_group: Sequence[str] = ()
    resource_group: Sequence[str] = ()
    location: Sequence[str] = ()
    tag: Sequence[str] = ()
    kind: Sequence[str] = ()

    @property
    def given(self) -> bool:
        return any(getattr(self, name) for name in _FILTER_OPTIONS)

    def keywords(self) -> dict[str, Any]:
        """The API's inventory keywords, checked."""
        from azhotpatch.fleet.inventory import InventoryFilter

        keywords: dict[str, Any] = {
            "subscriptions": list(self.subscription),
            "management_groups": list(self.management_group),
            "resource_groups": list(self.resource_group),
            "locations": list(self.location),
            "tags": _tags(self.tag),
            "kinds": list(self.kind) or ["vm", "arc"],
        }
        InventoryFilter.build(**keywords)
        return keywords


NO_FILTER = FleetFilter()  # what a command receives when no filter option is given


def _tags(given: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in given:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise InvalidArgumentError(
                "--tag", f"{item!r} is not key=value", fix="write e.g. --tag env=prod"
            )
        tags[key] = value
    return dict(_validation.tags(tags))


def with_fleet_filter(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the fleet filter options; it receives them as one `FleetFilter` in its
    ``fleet`` parameter."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "fleet"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in _FILTER_OPTIONS.items()
    ]

    @functools.wraps(command)
    def with_filter(**given: Any) -> Any:
        filters = {name: tuple(given.pop(name) or ()) for name in _FILTER_OPTIONS}
        return command(**given, fleet=FleetFilter(**filters))

    parameters = [*own, *added]
    with_filter.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_filter.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_filter


@dataclass(frozen=True)
class Machines:
    """Which machines a command acts on: exact ids, or an inventory filter (empty: all an
    emulator holds)."""

    ids: tuple[ResourceId, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def single(self) -> ResourceId | None:
        return self.ids[0] if len(self.ids) == 1 else None

    def keywords(self, emulated_subscriptions: Sequence[str]) -> dict[str, Any]:
        """The API's keywords: ``machines=``, or the inventory filter, scoped to the
        emulator's subscriptions when it names none (an emulator has no "every subscription
        the credential sees")."""
        if self.ids:
            return {"machines": [str(i) for i in self.ids]}
        keywords = dict(self.filters)
        scoped = keywords.get("subscriptions") or keywords.get("management_groups")
        if not scoped and emulated_subscriptions:
            keywords["subscriptions"] = list(emulated_subscriptions)
        return keywords


def machines(ids: Sequence[str] | None, fleet: FleetFilter, *, emulated: bool) -> Machines:
    """Every id parsed (all of them, before the first is sent), or the filter checked."""
    if ids and fleet.given:
        raise InvalidArgumentError(
            "resource ids and the fleet filter",
            "are given together; the filter would be ignored",
            fix="give resource ids, or a fleet filter, not both",
        )
    if ids:
        return Machines(ids=tuple(dict.fromkeys(parse_resource_id(i) for i in ids)))
    if not fleet.given and not emulated:
        raise InvalidArgumentError(
            "machines",
            "none given",
            fix="give resource ids, or a fleet filter such as --subscription or --resource-group",
        )
    return Machines(filters=fleet.keywords() if fleet.given else {})
