"""Azure Update Manager objects: maintenance configurations and their assignments.

Every write is read-compare-write: a configuration is left alone when the one in Azure opens
at the same instants and installs the same things (its start date may be older: that is how
re-running `schedule` on another day still sends nothing), and an assignment is sent only
when the machine or subscription does not already have it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.mgmt.maintenance.models import (
    ConfigurationAssignment,
    ConfigurationAssignmentFilterProperties,
    InputPatchConfiguration,
    InputWindowsParameters,
    MaintenanceConfiguration,
    TagSettingsProperties,
)

from azhotpatch._azure import graph
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._parse import installation
from azhotpatch.errors import HotpatchError, ResourceNotFoundError
from azhotpatch.ids import MachineKind, ResourceGroupId, ResourceId
from azhotpatch.models import Classification, Installation, InstallOptions, RebootSetting
from azhotpatch.schedule import Window, WindowRole, parse_recurrence

__all__ = [
    "Change",
    "ConfigurationChange",
    "ScopeFilter",
    "assign_machine",
    "assign_scope",
    "assignments",
    "ensure_configuration",
    "read_window",
]

_IN_GUEST = "InGuestPatch"
_ROLE_TAG = "azhotpatch-role"
# The Maintenance API spells this classification "UpdateRollup"; installPatches "UpdateRollUp".
_CLASS_NAMES = {Classification.UPDATE_ROLLUP: "UpdateRollup"}


class Change(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ConfigurationChange:
    window: Window
    id: str
    change: Change


def configuration_id(group: ResourceGroupId, name: str) -> str:
    return f"{group}/providers/Microsoft.Maintenance/maintenanceConfigurations/{name}"


def configuration_model(window: Window, location: str) -> MaintenanceConfiguration:
    options = window.install
    windows = InputWindowsParameters(
        classifications_to_include=[_CLASS_NAMES.get(c, c.value) for c in options.classifications],
        kb_numbers_to_include=list(options.kb_include) or None,
        kb_numbers_to_exclude=list(options.kb_exclude) or None,
        exclude_kbs_requiring_reboot=options.exclude_kbs_requiring_reboot,
    )
    return MaintenanceConfiguration(
        location=location,
        tags={_ROLE_TAG: window.role.value},
        maintenance_scope=_IN_GUEST,
        extension_properties={"InGuestPatchMode": "User"},
        visibility="Custom",
        start_date_time=window.start_text,
        duration=window.duration_text,
        time_zone=window.time_zone,
        recur_every=window.recur_every,
        install_patches=InputPatchConfiguration(
            reboot_setting=options.reboot.value, windows_parameters=windows
        ),
    )


def read_window(model: MaintenanceConfiguration) -> Window | None:
    """The configuration as a `Window`, or None when it is not a monthly weekday guest-patch
    schedule (then it is ours to overwrite, or someone else's to leave alone)."""
    recurrence = parse_recurrence(str(model.recur_every or ""))
    if recurrence is None or str(model.maintenance_scope or "").lower() != _IN_GUEST.lower():
        return None
    try:
        start = datetime.strptime(str(model.start_date_time), "%Y-%m-%d %H:%M")
        hours, minutes = (int(p) for p in str(model.duration).split(":"))
        install = model.install_patches or InputPatchConfiguration()
        windows = install.windows_parameters or InputWindowsParameters()
        by_name = {c.value.lower(): c for c in Classification} | {
            "updaterollup": Classification.UPDATE_ROLLUP
        }
        options = InstallOptions(
            classifications=tuple(
                by_name[str(c).lower()] for c in windows.classifications_to_include or ()
            ),
            reboot=RebootSetting(str(install.reboot_setting or "IfRequired")),
            kb_include=tuple(windows.kb_numbers_to_include or ()),
            kb_exclude=tuple(windows.kb_numbers_to_exclude or ()),
            exclude_kbs_requiring_reboot=bool(windows.exclude_kbs_requiring_reboot),
        )
        role = WindowRole((model.tags or {}).get(_ROLE_TAG, WindowRole.MONTHLY.value))
    except (ValueError, KeyError):
        return None
    return Window(
        name=str(model.name),
        role=role,
        start=start,
        duration=timedelta(hours=hours, minutes=minutes),
        time_zone=str(model.time_zone),
        recurrence=recurrence,
        install=options,
    )


def _same(current: Window | None, wanted: Window, now: datetime) -> bool:
    if current is None:
        return False

    def install_key(options: InstallOptions) -> tuple[Any, ...]:
        return (
            options.reboot,
            frozenset(options.classifications),
            frozenset(options.kb_include),
            frozenset(options.kb_exclude),
            options.exclude_kbs_requiring_reboot,
        )

    return (
        current.duration == wanted.duration
        and current.time_zone.casefold() == wanted.time_zone.casefold()
        and current.recurrence == wanted.recurrence
        and current.start.time() == wanted.start.time()
        and install_key(current.install) == install_key(wanted.install)
        and current.same_runs(wanted, now)
    )


async def ensure_configuration(
    session: Session,
    group: ResourceGroupId,
    location: str,
    window: Window,
    *,
    now: datetime,
    dry_run: bool,
    deadline: Deadline,
) -> ConfigurationChange:
    """Create or update the configuration for ``window``; unchanged when Azure's matches."""
    client = session.maintenance(group.subscription_id)
    target = configuration_id(group, window.name)

    async def get() -> Any:
        return await client.maintenance_configurations.get(group.name, window.name)

    try:
        existing = await session.call(
            get, resource=target, doing="reading the maintenance configuration", deadline=deadline
        )
    except ResourceNotFoundError:
        existing = None
    if (
        existing is not None
        and _same(read_window(existing), window, now)
        and (
            str(existing.location or "").replace(" ", "").lower()
            == location.replace(" ", "").lower()
        )
    ):
        return ConfigurationChange(window, str(existing.id or target), Change.UNCHANGED)
    change = Change.CREATED if existing is None else Change.UPDATED
    if dry_run:
        return ConfigurationChange(window, target, change)
    model = configuration_model(window, location)

    async def put() -> Any:
        return await client.maintenance_configurations.create_or_update(
            group.name, window.name, model
        )

    written = await session.call(
        put, resource=target, doing="writing the maintenance configuration", deadline=deadline
    )
    return ConfigurationChange(window, str(written.id or target), change)


# --- assignments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeFilter:
    """A dynamic scope's filter (all given lists must match; tags by ``tag_operator``)."""

    resource_types: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    os_types: tuple[str, ...] = ("Windows",)
    tags: Mapping[str, tuple[str, ...]] | None = None
    tag_operator: str = "All"

    def model(self) -> ConfigurationAssignmentFilterProperties:
        tag_settings = None
        if self.tags:
            tag_settings = TagSettingsProperties(
                tags={k: list(v) for k, v in self.tags.items()}, filter_operator=self.tag_operator
            )
        return ConfigurationAssignmentFilterProperties(
            resource_types=list(self.resource_types) or None,
            resource_groups=list(self.resource_groups) or None,
            os_types=list(self.os_types) or None,
            locations=list(self.locations) or None,
            tag_settings=tag_settings,
        )

    @classmethod
    def of_kinds(cls, kinds: Iterable[MachineKind], **fields: Any) -> ScopeFilter:
        return cls(resource_types=tuple(k.resource_type for k in kinds), **fields)


async def assign_machine(
    session: Session,
    rid: ResourceId,
    configuration: str,
    name: str,
    location: str,
    deadline: Deadline,
) -> None:
    """Assign one machine (a PUT; the caller already knows it is missing)."""
    client = session.maintenance(rid.subscription_id)
    body = ConfigurationAssignment(location=location, maintenance_configuration_id=configuration)

    async def put() -> Any:
        return await client.configuration_assignments.create_or_update(
            rid.resource_group,
            rid.provider,
            rid.resource_type.split("/")[1],
            rid.name,
            name,
            body,
        )

    await session.call(
        put,
        resource=str(rid),
        doing=f"assigning maintenance configuration {name}",
        deadline=deadline,
    )


async def assign_scope(
    session: Session,
    subscription: str,
    configuration: str,
    name: str,
    scope: ScopeFilter,
    deadline: Deadline,
) -> None:
    """A subscription's dynamic scope for the configuration."""
    client = session.maintenance(subscription)
    body = ConfigurationAssignment(
        location="global", maintenance_configuration_id=configuration, filter=scope.model()
    )

    async def put() -> Any:
        return await client.configuration_assignments_for_subscriptions.create_or_update(name, body)

    await session.call(
        put,
        resource=f"/subscriptions/{subscription}",
        doing=f"writing dynamic scope {name}",
        deadline=deadline,
    )


@dataclass(frozen=True)
class Assignment:
    """An assignment Resource Graph knows: to a machine, or a subscription's dynamic scope."""

    id: str
    resource_id: str  # lower-cased machine id, or /subscriptions/{sub}
    configuration: str  # lower-cased configuration id
    filter: Mapping[str, Any] | None

    @property
    def dynamic(self) -> bool:
        return self.resource_id.count("/") == 2


_ASSIGNMENTS = (
    "maintenanceresources "
    "| where type =~ 'microsoft.maintenance/configurationassignments' "
    "| project id, resourceId = tolower(tostring(properties.resourceId)), "
    "configurationId = tolower(tostring(properties.maintenanceConfigurationId)), "
    "filter = properties.filter"
)


async def assignments(
    session: Session, subscriptions: Sequence[str], deadline: Deadline | None = None
) -> list[Assignment]:
    """Every configuration assignment in the subscriptions, from Resource Graph.

    Open question: Resource Graph may lag a fresh write by a few minutes on Azure, so a
    re-run right after a first one can re-send an assignment PUT (harmless: PUT is
    idempotent), which the emulator, having no lag, never shows.
    """
    found = []
    async for row in graph.rows(
        session, _ASSIGNMENTS, subscriptions=subscriptions, deadline=deadline
    ):
        found.append(
            Assignment(
                id=str(row.get("id")),
                resource_id=str(row.get("resourceId") or ""),
                configuration=str(row.get("configurationId") or ""),
                filter=row.get("filter") if isinstance(row.get("filter"), dict) else None,
            )
        )
    return found


_RUNS = (
    "maintenanceresources "
    "| where type =~ 'microsoft.maintenance/applyupdates' "
    "| project configurationId = tolower(tostring(properties.maintenanceConfigurationId)), "
    "started = tostring(properties.startDateTime)"
    "| summarize count() by configurationId, started"
)
_SCHEDULED_INSTALLS = (
    "patchinstallationresources "
    "| where type endswith '/patchinstallationresults' "
    "| where properties.startedBy =~ 'Platform' "
    "| project id, properties"
)


async def windows(session: Session, ids: Iterable[str], deadline: Deadline) -> dict[str, Window]:
    """Each configuration's window by id (those that cannot be read are left out)."""
    found: dict[str, Window] = {}
    for config_id in sorted(ids):
        parts = config_id.split("/")
        if len(parts) < 9:
            continue

        async def get(sub: str = parts[2], group: str = parts[4], name: str = parts[-1]) -> Any:
            return await session.maintenance(sub).maintenance_configurations.get(group, name)

        try:
            model = await session.call(
                get,
                resource=config_id,
                doing="reading the maintenance configuration",
                deadline=deadline,
            )
        except HotpatchError:
            continue
        window = read_window(model)
        if window is not None:
            found[config_id] = window
    return found


async def last_runs(
    session: Session, subscriptions: Sequence[str], deadline: Deadline
) -> dict[str, datetime]:
    """Each configuration's latest scheduled run, from Resource Graph's run records."""
    latest: dict[str, datetime] = {}
    async for row in graph.rows(session, _RUNS, subscriptions=subscriptions, deadline=deadline):
        started = _when(row.get("started"))
        key = str(row.get("configurationId") or "")
        if started is not None and (key not in latest or started > latest[key]):
            latest[key] = started
    return latest


async def scheduled_installs(
    session: Session,
    subscriptions: Sequence[str],
    kinds: Mapping[str, MachineKind],
    deadline: Deadline,
) -> dict[str, Installation]:
    """The latest platform-started installation of each machine in ``kinds`` (machine key
    -> kind), from Resource Graph."""
    latest: dict[str, Installation] = {}
    async for row in graph.rows(
        session, _SCHEDULED_INSTALLS, subscriptions=subscriptions, deadline=deadline
    ):
        machine = str(row.get("id") or "").lower().split("/patchinstallationresults/")[0]
        kind = kinds.get(machine)
        properties = row.get("properties")
        if kind is None or not isinstance(properties, dict):
            continue
        run = installation(machine, kind, properties)
        current = latest.get(machine)
        if current is None or (run.started and current.started and run.started > current.started):
            latest[machine] = run
    return latest


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
