"""Microsoft.Maintenance: maintenance configurations, configuration assignments, and the
scheduled runs Azure Update Manager makes of them.

Shapes follow the 2023-04-01 REST spec (what azure-mgmt-maintenance 2.1.0 sends). An
``InGuestPatch`` configuration is validated as Microsoft documents it: ``InGuestPatchMode``
``User``, ``startDateTime`` as ``YYYY-MM-DD hh:mm`` at least 15 minutes ahead on creation,
``duration`` ``HH:mm`` between 1:30 and 3:55, a Windows time zone id, and a ``recurEvery`` in
the documented day/week/month grammar with offsets of -6..6 days.

When the emulator's clock passes a window's opening, every machine assigned to it (one by
one, or through a subscription's dynamic scope whose filter matches it then) gets a run: an
install started by the platform, shown in Resource Graph's ``patchinstallationresources``
with ``startedBy: Platform`` and the run's ``maintenanceRunId``, plus an ``applyupdates`` row in
``maintenanceresources``. An Azure VM runs only with patch orchestration "Customer Managed
Schedules" (``AutomaticByPlatform`` and ``bypassPlatformSafetyChecksOnUserSchedule`` true);
otherwise its run fails with a prerequisites error, as Microsoft documents (the exact error
code is not documented: ``ScheduledPatchingPrerequisitesNotMet`` is ours). A disconnected Arc
machine's run fails the same way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from azhotpatch.testing._arm import ArmError, Request, Response, Route, bad_parameter, iso
from azhotpatch.testing._arm import route as _route
from azhotpatch.testing._compute import require_group
from azhotpatch.testing._paging import page
from azhotpatch.testing._state import (
    ApplyUpdate,
    ArcMachine,
    ConfigurationAssignment,
    MaintenanceConfiguration,
    Operation,
    PatchRun,
    VirtualMachine,
    World,
)
from azhotpatch.timezones import WINDOWS_ZONES, zone_info

if TYPE_CHECKING:
    from azhotpatch.testing._compute import ComputeApi
    from azhotpatch.testing._hybrid import HybridApi

MC_TYPE = "Microsoft.Maintenance/maintenanceConfigurations"
CA_TYPE = "Microsoft.Maintenance/configurationAssignments"
_NS = "/providers/Microsoft.Maintenance"
_MC = "/subscriptions/{sub}/resourceGroups/{group}" + _NS + "/maintenanceConfigurations"
_ON_MACHINE = (
    "/subscriptions/{sub}/resourceGroups/{group}/providers/{provider}/{rtype}/{rname}"
    + _NS
    + "/configurationAssignments"
)
_ON_SUB = "/subscriptions/{sub}" + _NS + "/configurationAssignments"
_MIN_WINDOW = timedelta(hours=1, minutes=30)
_MAX_WINDOW = timedelta(hours=3, minutes=55)
_LEAD = timedelta(minutes=15)
_SCOPES = ("Host", "OSImage", "Extension", "InGuestPatch", "SQLDB", "SQLManagedInstance")
_REBOOT = ("IfRequired", "Never", "Always")
_CLASSES = (
    "Critical",
    "Security",
    "UpdateRollup",
    "FeaturePack",
    "ServicePack",
    "Definition",
    "Tools",
    "Updates",
)
_ZONES = frozenset(z.casefold() for z in WINDOWS_ZONES)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NTH = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 5}
_EVERY = re.compile(r"^(\d*)\s*(day|week|month)s?(?:\s+(.*))?$", re.IGNORECASE)
_OFFSET = re.compile(r"^offset([+-]?\d+)$", re.IGNORECASE)
_PREREQUISITES = (
    "The prerequisites for schedule patching aren't met: set patch orchestration to Customer "
    "Managed Schedules (patchMode AutomaticByPlatform and "
    "bypassPlatformSafetyChecksOnUserSchedule true)."
)


class MaintenanceApi:
    def __init__(self, world: World, compute: ComputeApi, hybrid: HybridApi) -> None:
        self.world = world
        self.compute = compute
        self.hybrid = hybrid

    def routes(self) -> list[Route]:
        ns = "Microsoft.Maintenance"
        mc_action = f"{MC_TYPE}/{{verb}}"
        ca_action = f"{CA_TYPE}/{{verb}}"
        one_mc = _MC + "/{name}"
        return [
            _route("mc.put", "PUT", one_mc, self.put_configuration, provider=ns,
                   action=mc_action.format(verb="write")),
            _route("mc.get", "GET", one_mc, self.get_configuration, provider=ns,
                   action=mc_action.format(verb="read")),
            _route("mc.delete", "DELETE", one_mc, self.delete_configuration, provider=ns,
                   action=mc_action.format(verb="delete")),
            _route("mc.list_group", "GET", _MC, self.list_group, provider=ns,
                   action=mc_action.format(verb="read")),
            _route("mc.list", "GET", "/subscriptions/{sub}" + _NS + "/maintenanceConfigurations",
                   self.list_subscription, provider=ns, action=mc_action.format(verb="read")),
            _route("ca.put", "PUT", _ON_MACHINE + "/{name}", self.put_machine_assignment,
                   provider=ns, action=ca_action.format(verb="write")),
            _route("ca.get", "GET", _ON_MACHINE + "/{name}", self.get_assignment, provider=ns,
                   action=ca_action.format(verb="read")),
            _route("ca.delete", "DELETE", _ON_MACHINE + "/{name}", self.delete_assignment,
                   provider=ns, action=ca_action.format(verb="delete")),
            _route("ca.list", "GET", _ON_MACHINE, self.list_machine_assignments, provider=ns,
                   action=ca_action.format(verb="read")),
            _route("cas.put", "PUT", _ON_SUB + "/{name}", self.put_scope_assignment,
                   provider=ns, action=ca_action.format(verb="write")),
            _route("cas.get", "GET", _ON_SUB + "/{name}", self.get_assignment, provider=ns,
                   action=ca_action.format(verb="read")),
            _route("cas.delete", "DELETE", _ON_SUB + "/{name}", self.delete_assignment,
                   provider=ns, action=ca_action.format(verb="delete")),
            _route("cas.list", "GET", _ON_SUB, self.list_subscription_assignments, provider=ns,
                   action=ca_action.format(verb="read")),
        ]  # fmt: skip

    # --- configurations -------------------------------------------------------------------

    def _configuration_id(self, request: Request) -> str:
        p = request.params
        group = f"/subscriptions/{p['sub']}/resourcegroups/{p['group']}"
        return f"{group}{_NS}/maintenanceConfigurations/{p['name']}"

    def put_configuration(self, request: Request) -> Response:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        body = request.json_object()
        key = self._configuration_id(request).lower()
        existing = self.world.maintenance_configurations.get(key)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_parameter(
                "The 'location' of a maintenance configuration is required.", "location"
            )
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise bad_parameter("The request needs 'properties'.", "properties")
        properties = {k: v for k, v in properties.items() if v is not None}
        _validate(properties, created=existing is None, now=self.world.clock.now())
        properties.setdefault("visibility", "Custom")
        properties.setdefault("namespace", "Microsoft.Maintenance")
        config = existing or MaintenanceConfiguration(
            key=key,
            id=f"/subscriptions/{p['sub'].lower()}/resourcegroups/{p['group']}{_NS}/"
            f"maintenanceConfigurations/{p['name']}",
            subscription=p["sub"].lower(),
            group=p["group"],
            name=p["name"],
            location=location.lower().replace(" ", ""),
            tags={},
            properties={},
        )
        config.location = location.lower().replace(" ", "")
        config.tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        config.properties = properties
        config.generation += 1
        self.world.maintenance_configurations[key] = config
        self._arm(config)
        self.world.changed()
        return Response(200, _render_configuration(config))

    def _configuration(self, request: Request) -> MaintenanceConfiguration:
        config = self.world.maintenance_configurations.get(self._configuration_id(request).lower())
        if config is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{MC_TYPE}/{request.params['name']}' under resource group "
                f"'{request.params['group']}' was not found.",
            )
        return config

    def get_configuration(self, request: Request) -> Response:
        return Response(200, _render_configuration(self._configuration(request)))

    def delete_configuration(self, request: Request) -> Response:
        key = self._configuration_id(request).lower()
        config = self.world.maintenance_configurations.pop(key, None)
        if config is None:
            return Response(204)
        config.generation += 1  # disarms its timer
        self.world.changed()
        return Response(200, _render_configuration(config))

    def list_group(self, request: Request) -> Response:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        prefix = f"/subscriptions/{p['sub']}/resourcegroups/{p['group']}/".lower()
        found = [
            c
            for k, c in sorted(self.world.maintenance_configurations.items())
            if k.startswith(prefix)
        ]
        return Response(200, {"value": [_render_configuration(c) for c in found]})

    def list_subscription(self, request: Request) -> Response:
        sub = request.params["sub"].lower()
        found = [
            c
            for _, c in sorted(self.world.maintenance_configurations.items())
            if c.subscription == sub
        ]
        return Response(200, {"value": [_render_configuration(c) for c in found]})

    # --- assignments ----------------------------------------------------------------------

    def _target_machine(self, request: Request) -> VirtualMachine | ArcMachine:
        p = request.params
        resource_type = f"{p['provider']}/{p['rtype']}".lower()
        if resource_type == "microsoft.compute/virtualmachines":
            machine: VirtualMachine | ArcMachine | None = self.world.find_vm(
                p["sub"], p["group"], p["rname"]
            )
        elif resource_type == "microsoft.hybridcompute/machines":
            machine = self.world.find_arc(p["sub"], p["group"], p["rname"])
        else:
            raise bad_parameter(
                f"The emulator assigns maintenance configurations to virtual machines and Arc "
                f"machines, not to '{resource_type}'."
            )
        if machine is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{p['provider']}/{p['rtype']}/{p['rname']}' under resource group "
                f"'{p['group']}' was not found.",
            )
        return machine

    def _assignment_body(self, request: Request) -> tuple[str, dict[str, Any]]:
        body = request.json_object()
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise bad_parameter("The request needs 'properties'.", "properties")
        config_id = properties.get("maintenanceConfigurationId")
        if (
            not isinstance(config_id, str)
            or config_id.lower() not in self.world.maintenance_configurations
        ):
            raise ArmError(
                404,
                "MaintenanceConfigurationNotFound",
                f"The maintenance configuration '{config_id}' was not found.",
                target="properties.maintenanceConfigurationId",
            )
        location = str(body.get("location") or "")
        return location, properties

    def put_machine_assignment(self, request: Request) -> Response:
        machine = self._target_machine(request)
        location, properties = self._assignment_body(request)
        if properties.get("filter"):
            raise bad_parameter(
                "A filter is only valid on a subscription's dynamic scope.", "properties.filter"
            )
        assignment_id = f"{machine.id}{_NS}/configurationAssignments/{request.params['name']}"
        assignment = ConfigurationAssignment(
            key=assignment_id.lower(),
            id=assignment_id,
            name=request.params["name"],
            subscription=machine.subscription,
            configuration=str(properties["maintenanceConfigurationId"]).lower(),
            resource_id=machine.id,
            location=location or machine.location,
            machine=machine.key,
        )
        return self._store(assignment)

    def put_scope_assignment(self, request: Request) -> Response:
        sub = request.params["sub"].lower()
        if self.world.subscription(sub) is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        location, properties = self._assignment_body(request)
        scope_filter = properties.get("filter")
        if scope_filter is not None and not isinstance(scope_filter, dict):
            raise bad_parameter("'filter' must be an object.", "properties.filter")
        _validate_filter(scope_filter or {})
        assignment_id = (
            f"/subscriptions/{sub}{_NS}/configurationAssignments/{request.params['name']}"
        )
        assignment = ConfigurationAssignment(
            key=assignment_id.lower(),
            id=assignment_id,
            name=request.params["name"],
            subscription=sub,
            configuration=str(properties["maintenanceConfigurationId"]).lower(),
            resource_id=f"/subscriptions/{sub}",
            location=location or "global",
            filter=scope_filter or {},
        )
        return self._store(assignment)

    def _store(self, assignment: ConfigurationAssignment) -> Response:
        self.world.assignments[assignment.key] = assignment
        self.world.changed()
        return Response(200, render_assignment(assignment))

    def _assignment_key(self, request: Request) -> str:
        path = request.path.rstrip("/")
        return path.lower()

    def get_assignment(self, request: Request) -> Response:
        assignment = self.world.assignments.get(self._assignment_key(request))
        if assignment is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The configuration assignment '{request.params['name']}' was not found.",
            )
        return Response(200, render_assignment(assignment))

    def delete_assignment(self, request: Request) -> Response:
        assignment = self.world.assignments.pop(self._assignment_key(request), None)
        if assignment is None:
            return Response(204)
        self.world.changed()
        return Response(200, render_assignment(assignment))

    def list_machine_assignments(self, request: Request) -> Response:
        machine = self._target_machine(request)
        found = [a for _, a in sorted(self.world.assignments.items()) if a.machine == machine.key]
        return page(request, found, render_assignment, self.world.page_size)

    def list_subscription_assignments(self, request: Request) -> Response:
        sub = request.params["sub"].lower()
        found = [a for _, a in sorted(self.world.assignments.items()) if a.subscription == sub]
        return page(request, found, render_assignment, self.world.page_size)

    # --- windows ----------------------------------------------------------------------------

    def _arm(self, config: MaintenanceConfiguration) -> None:
        """Set a timer for the configuration's next window after now."""
        opening = next_opening(config.properties, self.world.clock.now())
        if opening is None:
            return
        generation = config.generation
        when = (opening - self.world.clock.start).total_seconds()
        self.world.scheduler.at(when, lambda: self._open(config, generation, when))

    def _open(self, config: MaintenanceConfiguration, generation: int, when: float) -> None:
        if (
            config.generation != generation
            or config.key not in self.world.maintenance_configurations
        ):
            return
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.world.seed}/{config.key}/{when}"))
        window = _window_length(config.properties) or _MIN_WINDOW
        parameters = _install_parameters(config.properties)
        for machine in self.members(config):
            op = self._run(machine, parameters, run_id, when)
            self.world.apply_updates.append(
                ApplyUpdate(
                    name=self.world.clock.at(when).strftime("%Y%m%d%H%M%S"),
                    machine=machine.key,
                    machine_id=machine.id,
                    configuration_id=config.id,
                    correlation_id=run_id,
                    start=when,
                    end=when + window.total_seconds(),
                    operation=op,
                )
            )
        self.world.changed()
        # Arm the following window (strictly after this one).
        after = self.world.clock.at(when + 60.0)
        opening = next_opening(config.properties, after)
        if opening is not None:
            following = (opening - self.world.clock.start).total_seconds()
            self.world.scheduler.at(following, lambda: self._open(config, generation, following))

    def members(self, config: MaintenanceConfiguration) -> list[VirtualMachine | ArcMachine]:
        """Every machine the configuration applies to now: static assignments plus the
        machines each dynamic scope's filter matches."""
        chosen: dict[str, VirtualMachine | ArcMachine] = {}
        for assignment in self.world.assignments.values():
            if assignment.configuration != config.key:
                continue
            if assignment.machine is not None:
                machine = self.world.vms.get(assignment.machine) or self.world.arcs.get(
                    assignment.machine
                )
                if machine is not None:
                    chosen[machine.key] = machine
                continue
            for machine in self._machines_in(assignment.subscription):
                if matches(assignment.filter or {}, machine):
                    chosen[machine.key] = machine
        return [chosen[k] for k in sorted(chosen)]

    def _machines_in(self, sub: str) -> Iterator[VirtualMachine | ArcMachine]:
        yield from (vm for vm in self.world.vms.values() if vm.subscription == sub)
        yield from (m for m in self.world.arcs.values() if m.subscription == sub)

    def _run(
        self,
        machine: VirtualMachine | ArcMachine,
        parameters: dict[str, Any],
        run_id: str,
        when: float,
    ) -> Operation:
        busy = machine.patches.operation
        problem = None
        if isinstance(machine, VirtualMachine):
            settings = machine.patch_settings
            by_platform = settings.get("automaticByPlatformSettings") or {}
            if (
                str(settings.get("patchMode", "")).lower() != "automaticbyplatform"
                or by_platform.get("bypassPlatformSafetyChecksOnUserSchedule") is not True
            ):
                problem = ("ScheduledPatchingPrerequisitesNotMet", _PREREQUISITES)
            elif machine.power != "running":
                problem = ("VMNotRunning", f"The VM '{machine.name}' is not running.")
        elif machine.status.lower() != "connected":
            problem = ("MachineDisconnected", f"The machine '{machine.name}' is not connected.")
        if problem is None and busy is not None and not busy.done:
            problem = ("Conflict", "Another patch operation is in progress on the machine.")
        if problem is not None:
            return self._failed_run(machine, run_id, when, *problem)
        if isinstance(machine, VirtualMachine):
            return self.compute.start_install(machine, parameters, run_id=run_id, start=when)
        return self.hybrid.start_operation(
            machine, "installPatches", parameters, run_id=run_id, start=when
        )

    def _failed_run(
        self,
        machine: VirtualMachine | ArcMachine,
        run_id: str,
        when: float,
        code: str,
        message: str,
    ) -> Operation:
        error = {"code": code, "message": message, "details": []}
        run: PatchRun | None = None

        def done(op: Operation) -> None:
            op.status, op.error = "Failed", error
            if run is not None:
                run.result = {"status": "Failed", "errorDetails": error}

        op = self.world.new_operation(
            "installPatches",
            subscription=machine.subscription,
            location=machine.location,
            target=machine.key,
            duration=1.0,
            on_done=done,
            start=when,
        )
        os_type = "Windows" if machine.product else "Linux"
        run = PatchRun(
            machine.key,
            machine.id,
            "installPatches",
            op,
            os_type,
            maintenance_run_id=run_id,
        )
        self.world.patch_runs[op.id] = run
        return op


# --- validation -------------------------------------------------------------------------------


def _validate(properties: dict[str, Any], *, created: bool, now: datetime) -> None:
    scope = str(properties.get("maintenanceScope") or "")
    if scope.lower() not in {s.lower() for s in _SCOPES}:
        raise bad_parameter(
            f"The maintenanceScope '{scope}' is not valid; use one of {', '.join(_SCOPES)}.",
            "properties.maintenanceScope",
        )
    if scope.lower() != "inguestpatch":
        raise bad_parameter(
            "The emulator runs InGuestPatch configurations only.", "properties.maintenanceScope"
        )
    mode = (properties.get("extensionProperties") or {}).get("InGuestPatchMode")
    if str(mode).lower() != "user":
        raise bad_parameter(
            "An InGuestPatch configuration needs extensionProperties.InGuestPatchMode 'User'.",
            "properties.extensionProperties.InGuestPatchMode",
        )
    window = properties.get("maintenanceWindow")
    if not isinstance(window, dict):
        raise bad_parameter("The maintenanceWindow is required.", "properties.maintenanceWindow")
    zone_name = str(window.get("timeZone") or "")
    if zone_name.casefold() not in _ZONES:
        raise bad_parameter(
            f"The time zone '{zone_name}' is not valid; use a Windows time zone id such as "
            "'Pacific Standard Time' or 'UTC'.",
            "properties.maintenanceWindow.timeZone",
        )
    start = _local(window.get("startDateTime"), "startDateTime")
    if created and _as_utc(start, zone_name) < now + _LEAD:
        raise bad_parameter(
            "The start time of a schedule must be at least 15 minutes after its creation time.",
            "properties.maintenanceWindow.startDateTime",
        )
    if window.get("expirationDateTime"):
        expiry = _local(window["expirationDateTime"], "expirationDateTime", seconds=True)
        if _as_utc(expiry, zone_name) <= now:
            raise bad_parameter(
                "The expirationDateTime must be in the future.",
                "properties.maintenanceWindow.expirationDateTime",
            )
    length = _window_length(properties)
    if length is None or not _MIN_WINDOW <= length <= _MAX_WINDOW:
        raise bad_parameter(
            f"The duration '{window.get('duration')}' is not valid for InGuestPatch: it must be "
            "HH:mm between 01:30 and 03:55.",
            "properties.maintenanceWindow.duration",
        )
    if _recurrence(str(window.get("recurEvery") or "")) is None:
        raise bad_parameter(
            f"The recurEvery '{window.get('recurEvery')}' is not valid; e.g. 'Day', '3Days', "
            "'Week Saturday,Sunday', 'Month day23,day24', 'Month Second Tuesday Offset2' "
            "(offsets -6 to 6).",
            "properties.maintenanceWindow.recurEvery",
        )
    _validate_install(properties.get("installPatches"))


def _validate_install(install: Any) -> None:
    if install is None:
        return
    if not isinstance(install, dict):
        raise bad_parameter("installPatches must be an object.", "properties.installPatches")
    reboot = install.get("rebootSetting", "IfRequired")
    if str(reboot).lower() not in {r.lower() for r in _REBOOT}:
        raise bad_parameter(
            f"The rebootSetting '{reboot}' is not valid; use {', '.join(_REBOOT)}.",
            "properties.installPatches.rebootSetting",
        )
    windows = install.get("windowsParameters") or {}
    for value in windows.get("classificationsToInclude") or []:
        if str(value).lower() not in {c.lower() for c in _CLASSES}:
            raise bad_parameter(
                f"The classification '{value}' is not valid; use {', '.join(_CLASSES)}.",
                "properties.installPatches.windowsParameters.classificationsToInclude",
            )
    for field_name in ("kbNumbersToInclude", "kbNumbersToExclude"):
        for value in windows.get(field_name) or []:
            if not re.fullmatch(r"(KB)?\d{6,8}", str(value), re.IGNORECASE):
                raise bad_parameter(
                    f"'{value}' is not a KB number.",
                    f"properties.installPatches.windowsParameters.{field_name}",
                )


def _validate_filter(scope_filter: dict[str, Any]) -> None:
    for name in ("resourceTypes", "resourceGroups", "osTypes", "locations"):
        values = scope_filter.get(name)
        if values is not None and not isinstance(values, list):
            raise bad_parameter(f"filter.{name} must be a list.", f"properties.filter.{name}")
    tags = scope_filter.get("tagSettings") or {}
    operator = str(tags.get("filterOperator") or "Any")
    if operator.lower() not in ("any", "all"):
        raise bad_parameter(
            f"The filterOperator '{operator}' is not valid; use Any or All.",
            "properties.filter.tagSettings.filterOperator",
        )


def _local(value: Any, name: str, *, seconds: bool = False) -> datetime:
    formats = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M") if seconds else ("%Y-%m-%d %H:%M",)
    for fmt in formats:
        try:
            return datetime.strptime(str(value), fmt)
        except ValueError:
            continue
    raise bad_parameter(
        f"The {name} '{value}' is not in 'YYYY-MM-DD hh:mm' format.",
        f"properties.maintenanceWindow.{name}",
    )


def _as_utc(local: datetime, zone_name: str) -> datetime:
    return local.replace(tzinfo=zone_info(zone_name)).astimezone(timezone.utc)


def _window_length(properties: dict[str, Any]) -> timedelta | None:
    text = str((properties.get("maintenanceWindow") or {}).get("duration") or "")
    found = re.fullmatch(r"(\d{1,2}):([0-5]\d)", text)
    if not found:
        return None
    return timedelta(hours=int(found[1]), minutes=int(found[2]))


# --- recurrence ---------------------------------------------------------------------------------


def _recurrence(text: str) -> tuple[int, str, list[str]] | None:
    """``(every, unit, rest-words)`` for a valid recurEvery, else None."""
    found = _EVERY.match(" ".join(text.split()))
    if not found:
        return None
    every = int(found[1] or 1)
    unit = found[2].lower()
    rest = (found[3] or "").split()
    if every < 1:
        return None
    if unit == "day" and rest:
        return None
    if unit == "week":
        days = [d.lower() for d in ",".join(rest).split(",") if d]
        if any(d not in _WEEKDAYS for d in days):
            return None
        return every, unit, days
    if unit == "month" and rest:
        if rest[0].lower().startswith("day"):
            days = ",".join(rest).split(",")
            if not all(re.fullmatch(r"day([1-9]|[12]\d|3[01]|-1)", d, re.IGNORECASE) for d in days):
                return None
        else:
            if (
                len(rest) not in (2, 3)
                or rest[0].lower() not in _NTH
                or rest[1].lower() not in _WEEKDAYS
            ):
                return None
            if len(rest) == 3:
                offset = _OFFSET.match(rest[2])
                if not offset or not -6 <= int(offset[1]) <= 6:
                    return None
    return every, unit, rest


def _month_days(year: int, month: int, rest: list[str], start_day: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    if not rest:
        return [first.replace(day=min(start_day, last.day))]
    if rest[0].lower().startswith("day"):
        days = []
        for item in ",".join(rest).split(","):
            number = int(item[3:])
            if number == -1:
                days.append(last)
            elif number <= last.day:
                days.append(first.replace(day=number))
        return sorted(days)
    weekday = _WEEKDAYS.index(rest[1].lower())
    nth = _NTH[rest[0].lower()]
    if nth == 5:
        base = last - timedelta(days=(last.weekday() - weekday) % 7)
    else:
        base = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    offset = int(_OFFSET.match(rest[2])[1]) if len(rest) == 3 else 0  # type: ignore[index]
    return [base + timedelta(days=offset)]


def _local_openings(window: dict[str, Any]) -> Iterator[datetime]:
    """Window openings in local wall time, from the start date on, in order."""
    start = _local(window["startDateTime"], "startDateTime")
    every, unit, rest = _recurrence(str(window["recurEvery"]))  # type: ignore[misc]
    at = start.time()
    if unit == "day":
        moment = start
        while True:
            yield moment
            moment += timedelta(days=every)
    if unit == "week":
        days = [_WEEKDAYS.index(d) for d in rest] or [start.weekday()]
        monday = start.date() - timedelta(days=start.weekday())
        while True:
            for weekday in sorted(days):
                moment = datetime.combine(monday + timedelta(days=weekday), at)
                if moment >= start:
                    yield moment
            monday += timedelta(weeks=every)
    year, month = start.year, start.month
    while True:
        for day in _month_days(year, month, rest, start.day):
            moment = datetime.combine(day, at)
            if moment >= start:
                yield moment
        month += every
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def next_opening(properties: dict[str, Any], after: datetime) -> datetime | None:
    """The first window opening (UTC) after ``after``, or None once the schedule expired."""
    window = properties["maintenanceWindow"]
    zone_name = str(window["timeZone"])
    expiry = window.get("expirationDateTime")
    end = _as_utc(_local(expiry, "expirationDateTime", seconds=True), zone_name) if expiry else None
    for local in _local_openings(window):
        opening = _as_utc(local, zone_name)
        if end is not None and opening > end:
            return None
        if opening > after:
            return opening
    return None  # pragma: no cover (the generators never end)


def matches(scope_filter: dict[str, Any], machine: VirtualMachine | ArcMachine) -> bool:
    """Whether a dynamic scope's filter selects the machine (every given list must match;
    tags by the filter's Any/All operator)."""
    resource_type = (
        "microsoft.compute/virtualmachines"
        if isinstance(machine, VirtualMachine)
        else "microsoft.hybridcompute/machines"
    )
    os_type = machine.os_type.lower()
    tags = machine.doc.get("tags") or {} if isinstance(machine, VirtualMachine) else machine.tags
    checks = (
        ("resourceTypes", resource_type),
        ("resourceGroups", machine.group.lower()),
        ("osTypes", os_type),
        ("locations", machine.location.lower().replace(" ", "")),
    )
    for name, value in checks:
        wanted = scope_filter.get(name)
        if wanted and value not in {str(w).lower().replace(" ", "") for w in wanted}:
            return False
    tag_settings = scope_filter.get("tagSettings") or {}
    wanted_tags: dict[str, list[str]] = tag_settings.get("tags") or {}
    if not wanted_tags:
        return True
    hits = [str(tags.get(k)) in {str(v) for v in values} for k, values in wanted_tags.items()]
    return (
        all(hits) if str(tag_settings.get("filterOperator", "Any")).lower() == "all" else any(hits)
    )


def _install_parameters(properties: dict[str, Any]) -> dict[str, Any]:
    """The installPatches body a window's run uses."""
    install = properties.get("installPatches") or {}
    windows = dict(install.get("windowsParameters") or {})
    classes = windows.get("classificationsToInclude")
    if classes:
        windows["classificationsToInclude"] = [
            "UpdateRollUp" if str(c).lower() == "updaterollup" else c for c in classes
        ]
    return {
        "rebootSetting": install.get("rebootSetting", "IfRequired"),
        "windowsParameters": windows,
    }


# --- rendering ----------------------------------------------------------------------------------


def _render_configuration(config: MaintenanceConfiguration) -> dict[str, Any]:
    return {
        "id": config.id,
        "name": config.name,
        "type": MC_TYPE,
        "location": config.location,
        "tags": dict(config.tags),
        "properties": dict(config.properties),
    }


def render_assignment(assignment: ConfigurationAssignment) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "maintenanceConfigurationId": assignment.configuration,
        "resourceId": assignment.resource_id,
    }
    if assignment.filter is not None:
        properties["filter"] = assignment.filter
    return {
        "id": assignment.id,
        "name": assignment.name,
        "type": CA_TYPE,
        "location": assignment.location,
        "properties": properties,
    }


def maintenance_rows(world: World) -> list[dict[str, Any]]:
    """Resource Graph's ``maintenanceresources``: configuration assignments and the
    ``applyupdates`` records of scheduled runs."""
    rows: list[dict[str, Any]] = []
    for assignment in world.assignments.values():
        rows.append(
            {
                "id": assignment.id.lower(),
                "name": assignment.name,
                "type": CA_TYPE.lower(),
                "tenantId": world.tenant_id,
                "location": assignment.location,
                "resourceGroup": assignment.resource_id.split("/")[4].lower()
                if assignment.machine
                else "",
                "subscriptionId": assignment.subscription,
                "properties": render_assignment(assignment)["properties"],
            }
        )
    for record in world.apply_updates:
        op = record.operation
        status = "InProgress" if op is not None and not op.done else "Completed"
        rows.append(
            {
                "id": f"{record.machine_id}{_NS}/applyupdates/{record.name}".lower(),
                "name": record.name,
                "type": "microsoft.maintenance/applyupdates",
                "tenantId": world.tenant_id,
                "location": "",
                "resourceGroup": record.machine.split("/")[4],
                "subscriptionId": record.machine.split("/")[2],
                "properties": {
                    "maintenanceConfigurationId": record.configuration_id,
                    "maintenanceScope": "InGuestPatch",
                    "resourceId": record.machine_id,
                    "correlationId": record.correlation_id,
                    "status": status,
                    "startDateTime": iso(world.clock.at(record.start)),
                    "endDateTime": iso(world.clock.at(record.end)),
                },
            }
        )
    return rows
