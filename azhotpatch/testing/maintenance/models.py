"""Microsoft.Maintenance's state and rules: maintenance configurations, configuration
assignments, and the scheduled runs Azure Update Manager makes of them.

When the emulator's clock passes a window's opening, every machine assigned to it (one by
one, or through a subscription's dynamic scope whose filter matches it then) gets a run: an
install started by the platform, shown in Resource Graph's ``patchinstallationresources``
with ``startedBy: Platform`` and the run's ``maintenanceRunId``, plus an ``applyupdates`` row in
``maintenanceresources``. An Azure VM runs only with patch orchestration "Customer Managed
Schedules" (``AutomaticByPlatform`` and ``bypassPlatformSafetyChecksOnUserSchedule`` true);
otherwise its run fails with a prerequisites error, as Microsoft documents (the exact error
code is not documented: ``ScheduledPatchingPrerequisitesNotMet`` is ours). A disconnected Arc
machine's run fails the same way.

The install itself belongs to the provider of the machine (Compute or Hybrid Compute); the
emulator hands this backend a way to start one on each, so the services stay independent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.maintenance.errors import configuration_not_found, invalid
from azhotpatch.testing.maintenance.timetable import (
    MIN_WINDOW,
    next_opening,
    validate_configuration,
    validate_filter,
    window_length,
)
from azhotpatch.testing.world.machines import (
    SCALE_SET_TYPE,
    ArcMachine,
    Machine,
    ResourceAddress,
    VirtualMachine,
    machine_key,
)
from azhotpatch.testing.world.operations import Operation, PatchRun
from azhotpatch.testing.world.state import World

MC_TYPE = "Microsoft.Maintenance/maintenanceConfigurations"
CA_TYPE = "Microsoft.Maintenance/configurationAssignments"
NAMESPACE = "/providers/Microsoft.Maintenance"
_PREREQUISITES = (
    "The prerequisites for schedule patching aren't met: set patch orchestration to Customer "
    "Managed Schedules (patchMode AutomaticByPlatform and "
    "bypassPlatformSafetyChecksOnUserSchedule true)."
)

MachineT = TypeVar("MachineT", VirtualMachine, ArcMachine, contravariant=True)


class InstallStarter(Protocol[MachineT]):
    """How a provider starts a window's install on one of its machines."""

    def __call__(
        self, machine: MachineT, parameters: dict[str, Any], /, *, run_id: str, start: float
    ) -> Operation: ...


@dataclass
class MaintenanceConfiguration(ResourceAddress):
    """A ``Microsoft.Maintenance/maintenanceConfigurations`` resource. ``generation`` bumps on
    every write, so a window timer armed for an older version does nothing when it fires."""

    tags: dict[str, str]
    properties: dict[str, Any]
    generation: int = 0


@dataclass
class ConfigurationAssignment:
    """A configuration assignment: to one machine (``machine`` set) or a subscription-wide
    dynamic scope (``filter`` set)."""

    key: str
    id: str
    name: str
    subscription: str
    configuration: str  # lower-cased configuration id
    resource_id: str  # the machine's id, or /subscriptions/{sub}
    location: str
    machine: str | None = None
    filter: dict[str, Any] | None = None


@dataclass
class ApplyUpdate:
    """One machine's part of one scheduled run (Resource Graph ``applyupdates`` rows)."""

    name: str
    machine: str  # key
    machine_id: str
    configuration_id: str
    correlation_id: str
    start: float
    end: float
    operation: Operation | None = None


class MaintenanceBackend:
    """The configurations and assignments Update Manager holds, and the runs it makes."""

    def __init__(
        self,
        world: World,
        *,
        vm_installs: InstallStarter[VirtualMachine],
        arc_installs: InstallStarter[ArcMachine],
    ) -> None:
        self.world = world
        self.vm_installs = vm_installs
        self.arc_installs = arc_installs
        self.configurations: dict[str, MaintenanceConfiguration] = {}
        self.assignments: dict[str, ConfigurationAssignment] = {}
        self.apply_updates: list[ApplyUpdate] = []

    # --- configurations -------------------------------------------------------------------

    def put_configuration(
        self, sub: str, group: str, name: str, body: dict[str, Any]
    ) -> MaintenanceConfiguration:
        self.world.require_group(sub, group)
        key = configuration_id(sub, group, name).lower()
        existing = self.configurations.get(key)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise invalid("The 'location' of a maintenance configuration is required.")
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise invalid("The request needs 'properties'.")
        properties = {k: v for k, v in properties.items() if v is not None}
        validate_configuration(properties, created=existing is None, now=self.world.clock.now())
        properties.setdefault("visibility", "Custom")
        properties.setdefault("namespace", "Microsoft.Maintenance")
        config = existing or MaintenanceConfiguration(
            key=key,
            id=f"/subscriptions/{sub.lower()}/resourcegroups/{group}{NAMESPACE}/"
            f"maintenanceConfigurations/{name}",
            subscription=sub.lower(),
            group=group,
            name=name,
            location=location.lower().replace(" ", ""),
            tags={},
            properties={},
        )
        config.location = location.lower().replace(" ", "")
        config.tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        config.properties = properties
        config.generation += 1
        self.configurations[key] = config
        self._set_window_timer(config)
        self.world.changed()
        return config

    def configuration(self, sub: str, group: str, name: str) -> MaintenanceConfiguration:
        config = self.configurations.get(configuration_id(sub, group, name).lower())
        if config is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{MC_TYPE}/{name}' under resource group '{group}' was not found.",
            )
        return config

    def delete_configuration(
        self, sub: str, group: str, name: str
    ) -> MaintenanceConfiguration | None:
        config = self.configurations.pop(configuration_id(sub, group, name).lower(), None)
        if config is None:
            return None
        config.generation += 1  # disarms its timer
        self.world.changed()
        return config

    def configurations_in_group(self, sub: str, group: str) -> list[MaintenanceConfiguration]:
        self.world.require_group(sub, group)
        prefix = f"/subscriptions/{sub}/resourcegroups/{group}/".lower()
        return [c for k, c in sorted(self.configurations.items()) if k.startswith(prefix)]

    def configurations_in_subscription(self, sub: str) -> list[MaintenanceConfiguration]:
        return [c for _, c in sorted(self.configurations.items()) if c.subscription == sub.lower()]

    # --- assignments ----------------------------------------------------------------------

    def target_machine(
        self, sub: str, group: str, provider: str, rtype: str, name: str
    ) -> ResourceAddress:
        """The resource an assignment path names: a VM, an Arc machine, or a scale set
        (ConfigurationAssignments_CreateOrUpdate.json, 2023-04-01, assigns one), whose windows
        the emulator keeps but never runs (model)."""
        resource_type = f"{provider}/{rtype}".lower()
        machine: ResourceAddress | None
        if resource_type == VirtualMachine.RESOURCE_TYPE.lower():
            machine = self.world.find_vm(sub, group, name)
        elif resource_type == ArcMachine.RESOURCE_TYPE.lower():
            machine = self.world.find_arc(sub, group, name)
        elif resource_type == SCALE_SET_TYPE.lower():
            machine = self.world.scale_sets.get(machine_key(sub, group, SCALE_SET_TYPE, name))
        else:
            raise invalid(
                f"The emulator assigns maintenance configurations to virtual machines, Arc "
                f"machines and scale sets, not to '{resource_type}'."
            )
        if machine is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{provider}/{rtype}/{name}' under resource group '{group}' was "
                "not found.",
            )
        return machine

    def _assignment_properties(self, body: dict[str, Any]) -> dict[str, Any]:
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise invalid("The request needs 'properties'.")
        config_id = properties.get("maintenanceConfigurationId")
        if not isinstance(config_id, str) or config_id.lower() not in self.configurations:
            raise configuration_not_found(config_id)
        return properties

    def assign_machine(
        self, machine: ResourceAddress, name: str, body: dict[str, Any]
    ) -> ConfigurationAssignment:
        properties = self._assignment_properties(body)
        if properties.get("filter"):
            raise invalid("A filter is only valid on a subscription's dynamic scope.")
        assignment_id = f"{machine.id}{NAMESPACE}/configurationAssignments/{name}"
        return self._store(
            ConfigurationAssignment(
                key=assignment_id.lower(),
                id=assignment_id,
                name=name,
                subscription=machine.subscription,
                configuration=str(properties["maintenanceConfigurationId"]).lower(),
                resource_id=machine.id,
                location=str(body.get("location") or "") or machine.location,
                machine=machine.key,
            )
        )

    def assign_scope(self, sub: str, name: str, body: dict[str, Any]) -> ConfigurationAssignment:
        """A subscription's dynamic scope: every machine its filter matches when a window
        opens."""
        sub = sub.lower()
        self.world.require_subscription(sub)
        properties = self._assignment_properties(body)
        scope_filter = properties.get("filter")
        if scope_filter is not None and not isinstance(scope_filter, dict):
            raise invalid("'filter' must be an object.")
        validate_filter(scope_filter or {})
        assignment_id = f"/subscriptions/{sub}{NAMESPACE}/configurationAssignments/{name}"
        return self._store(
            ConfigurationAssignment(
                key=assignment_id.lower(),
                id=assignment_id,
                name=name,
                subscription=sub,
                configuration=str(properties["maintenanceConfigurationId"]).lower(),
                resource_id=f"/subscriptions/{sub}",
                location=str(body.get("location") or "") or "global",
                filter=scope_filter or {},
            )
        )

    def _store(self, assignment: ConfigurationAssignment) -> ConfigurationAssignment:
        self.assignments[assignment.key] = assignment
        self.world.changed()
        return assignment

    def assignment(self, path: str, name: str) -> ConfigurationAssignment:
        assignment = self.assignments.get(path.rstrip("/").lower())
        if assignment is None:
            raise ArmError(
                404, "ResourceNotFound", f"The configuration assignment '{name}' was not found."
            )
        return assignment

    def unassign(self, path: str) -> ConfigurationAssignment | None:
        assignment = self.assignments.pop(path.rstrip("/").lower(), None)
        if assignment is not None:
            self.world.changed()
        return assignment

    def assignments_of_machine(self, machine: ResourceAddress) -> list[ConfigurationAssignment]:
        return [a for _, a in sorted(self.assignments.items()) if a.machine == machine.key]

    def assignments_in_subscription(self, sub: str) -> list[ConfigurationAssignment]:
        sub = sub.lower()
        return [a for _, a in sorted(self.assignments.items()) if a.subscription == sub]

    # --- windows --------------------------------------------------------------------------

    def _set_window_timer(self, config: MaintenanceConfiguration) -> None:
        """Set a timer for the configuration's next window after now (InGuestPatch ones: the
        emulator runs no other kind of maintenance)."""
        if str(config.properties.get("maintenanceScope", "")).lower() != "inguestpatch":
            return
        opening = next_opening(config.properties, self.world.clock.now())
        if opening is None:
            return
        generation = config.generation
        when = (opening - self.world.clock.start).total_seconds()
        self.world.scheduler.at(when, lambda: self._open(config, generation, when))

    def _open(self, config: MaintenanceConfiguration, generation: int, when: float) -> None:
        if config.generation != generation or config.key not in self.configurations:
            return
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.world.seed}/{config.key}/{when}"))
        window = window_length(config.properties) or MIN_WINDOW
        parameters = install_parameters(config.properties)
        for machine in self.members(config):
            op = self._run(machine, parameters, run_id, when)
            self.apply_updates.append(
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
        opening = next_opening(config.properties, self.world.clock.at(when + 60.0))
        if opening is not None:
            following = (opening - self.world.clock.start).total_seconds()
            self.world.scheduler.at(following, lambda: self._open(config, generation, following))

    def members(self, config: MaintenanceConfiguration) -> list[Machine]:
        """Every machine the configuration applies to now: static assignments plus the
        machines each dynamic scope's filter matches."""
        covered: dict[str, Machine] = {}
        for assignment in self.assignments.values():
            if assignment.configuration != config.key:
                continue
            if assignment.machine is not None:
                machine = self.world.find_machine(assignment.machine)
                if machine is not None:
                    covered[machine.key] = machine
                continue
            for machine in self.world.machines_in(assignment.subscription):
                if matches(assignment.filter or {}, machine):
                    covered[machine.key] = machine
        return [covered[k] for k in sorted(covered)]

    def _run(
        self, machine: Machine, parameters: dict[str, Any], run_id: str, when: float
    ) -> Operation:
        problem = _prerequisite_problem(machine)
        busy = machine.patches.operation
        if problem is None and busy is not None and not busy.done:
            problem = ("Conflict", "Another patch operation is in progress on the machine.")
        if problem is not None:
            return self._failed_run(machine, run_id, when, *problem)
        if isinstance(machine, VirtualMachine):
            return self.vm_installs(machine, parameters, run_id=run_id, start=when)
        return self.arc_installs(machine, parameters, run_id=run_id, start=when)

    def _failed_run(
        self, machine: Machine, run_id: str, when: float, code: str, message: str
    ) -> Operation:
        error = {"code": code, "message": message, "details": []}
        run: PatchRun | None = None

        def done(op: Operation) -> None:
            op.status, op.error = "Failed", error
            if run is not None:
                run.result = {"status": "Failed", "errorDetails": error}

        op = self.world.new_operation(
            "installPatches",
            on=machine,
            duration=1.0,
            on_done=done,
            start=when,
        )
        os_type = "Windows" if machine.product else "Linux"
        run = PatchRun(
            machine.key, machine.id, "installPatches", op, os_type, maintenance_run_id=run_id
        )
        self.world.patch_runs[op.id] = run
        return op


def configuration_id(sub: str, group: str, name: str) -> str:
    group_id = f"/subscriptions/{sub}/resourcegroups/{group}"
    return f"{group_id}{NAMESPACE}/maintenanceConfigurations/{name}"


def _prerequisite_problem(machine: Machine) -> tuple[str, str] | None:
    """Why a window's run cannot start on the machine, if it cannot: a VM needs patch
    orchestration "Customer Managed Schedules" and to be running; an Arc machine to be
    connected."""
    if isinstance(machine, ArcMachine):
        if machine.status.lower() != "connected":
            return "MachineDisconnected", f"The machine '{machine.name}' is not connected."
        return None
    settings = machine.patch_settings
    by_platform = settings.get("automaticByPlatformSettings") or {}
    if (
        str(settings.get("patchMode", "")).lower() != "automaticbyplatform"
        or by_platform.get("bypassPlatformSafetyChecksOnUserSchedule") is not True
    ):
        return "ScheduledPatchingPrerequisitesNotMet", _PREREQUISITES
    if machine.power != "running":
        return "VMNotRunning", f"The VM '{machine.name}' is not running."
    return None


def matches(scope_filter: dict[str, Any], machine: Machine) -> bool:
    """Whether a dynamic scope's filter selects the machine (every given list must match;
    tags by the filter's Any/All operator)."""
    checks = (
        ("resourceTypes", machine.RESOURCE_TYPE.lower()),
        ("resourceGroups", machine.group.lower()),
        ("osTypes", machine.os_type.lower()),
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
    tags = machine.tags
    hits = [str(tags.get(k)) in {str(v) for v in values} for k, values in wanted_tags.items()]
    return (
        all(hits) if str(tag_settings.get("filterOperator", "Any")).lower() == "all" else any(hits)
    )


def install_parameters(properties: dict[str, Any]) -> dict[str, Any]:
    """The installPatches body a window's run uses (Compute's spelling of the roll-up
    classification)."""
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
