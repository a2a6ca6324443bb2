"""Run Command on Arc machines (``machines/runCommands``), run against each machine's hidden
`Hardware`.

The emulator runs no PowerShell. A script azhotpatch ships declares itself in its first line
(``# azhotpatch-script: <name> v<version>``, see `azhotpatch.remediation`), and the agent here
does what that script does on a real machine: the measuring script reports the firmware,
processor and registry; the fixing scripts set their registry value; the restart script
restarts the machine 60 s after it reports, and the restart takes emulated time, unless the
machine has started since the start the script was written for, or a restart is already
scheduled (shutdown.exe's 1190): then it restarts nothing and says so. VBS runs
after a restart only where its key is set *and* the firmware and processor allow it (UEFI,
Secure Boot, virtualization support); CHPE is off after a restart where its key is set. Any
other script succeeds and prints nothing (model).

Modelled where Azure's behaviour is not documented: a run command created while the machine
restarts waits until it is back; on a disconnected machine it fails with
``MachineDisconnected``; execution takes `Durations.run_command`, a restart
`Durations.restart`. A PUT to a run command that is still running answers 409 and changes
nothing; a PUT to one that has ended runs its script again (create *or update*). The tags a
PUT carries are kept and shown (``MachineRunCommand`` is a tracked resource), which is how a
client tells its own send from an earlier one of the same name.

Faults: a `FaultRule` may name a script (``measure``, ``enable-vbs``, ``disable-chpe``,
``restart``) as its ``operation`` to aim at that script's PUT, reads and status, or the
whole kind (``runCommand``) for a status route; an ``lro_failure`` makes the script fail on
the machine (exit code 1; a restart script then restarts nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from azhotpatch.remediation import restart_measured, script_named
from azhotpatch.testing.arm.errors import ArmError, bad_parameter
from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.world.machines import ARC_TYPE, ArcMachine, RunCommand
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World

RUN_COMMAND_TYPE = f"{ARC_TYPE}/runCommands"
# written but never given back (RunCommands_Get.json shows neither the password nor the
# protected parameters' values)
_SECRETS = frozenset({"runAsPassword", "protectedParameters"})
RESTART_DELAY = 60.0  # shutdown /r /t 60
_FIRST_BOOT = -86400.0  # a machine never restarted here started a day before the clock did
_ARCHITECTURE_CODES = {"x64": 9, "ARM64": 12}


class RunCommands:
    """The run commands of every Arc machine, and what their scripts do."""

    def __init__(self, world: World, on_boot: Callable[[ArcMachine], None]) -> None:
        self.world = world
        self.on_boot = on_boot
        # every run command PUT accepted, per machine: the script it runs (its declared name,
        # "" for a script not ours), in order: how many times each script was run
        self.runs: dict[str, list[str]] = {}

    def put(self, machine: ArcMachine, name: str, body: dict[str, Any]) -> tuple[RunCommand, bool]:
        """Create or update a run command, which (re)runs its script; returns it and whether
        it was created."""
        properties = body.get("properties") or {}
        location = body.get("location")
        if not isinstance(location, str) or location.lower() != machine.location:
            raise bad_parameter(
                f"The run command location '{location}' must be the machine's location "
                f"'{machine.location}'.",
                "location",
            )
        script = (properties.get("source") or {}).get("script")
        if not isinstance(script, str) or not script.strip():
            raise bad_parameter("The run command needs properties.source.script.", "source")
        previous = machine.run_commands.get(name.lower())
        if previous is not None and not previous.operation.done:
            raise ArmError(
                409,
                "Conflict",
                f"The run command '{name}' on machine '{machine.name}' is still running.",
            )
        now = self.world.now()
        down = machine.hardware.down_until
        waiting = max(0.0, (down or now) - now)
        durations = self.world.durations

        def done(op: Operation) -> None:  # runs later, once `command` below exists
            self._execute(machine, command, op)

        declared = script_named(script)
        op = self.world.new_operation(
            "runCommand",
            on=machine,
            duration=waiting + durations.run_command,
            on_done=done,
            subject=declared[0] if declared else None,
        )
        command = RunCommand(name, script, op, now, written=_given_back(properties))
        machine.run_commands[name.lower()] = command
        command.tags = _tags(body)
        self.runs.setdefault(machine.key, []).append(declared[0] if declared else "")
        self.world.changed()
        return command, previous is None

    def get(self, machine: ArcMachine, name: str) -> RunCommand:
        found = machine.run_commands.get(name.lower())
        if found is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{RUN_COMMAND_TYPE}/{machine.name}/{name}' under resource group "
                f"'{machine.group}' was not found.",
            )
        return found

    def delete(self, machine: ArcMachine, name: str) -> bool:
        """Remove a run command (stopping it if it runs); False when there is none."""
        found = machine.run_commands.pop(name.lower(), None)
        self.world.changed()
        return found is not None

    # --- the agent running the script ----------------------------------------------------

    def _execute(self, machine: ArcMachine, command: RunCommand, op: Operation) -> None:
        command.started = op.start
        command.ended = op.end
        if machine.status != "Connected":
            op.failed = True
            op.error = {
                "code": "MachineDisconnected",
                "message": f"The Connected Machine agent on '{machine.name}' is "
                f"{machine.status.lower()}; the run command could not be delivered.",
            }
            command.state, command.exit_code = "Failed", None
            return
        if op.failed:  # an injected failure: the script ran and failed, changing nothing
            op.error = {
                "code": "RunCommandFailed",
                "message": f"The script of run command '{command.name}' exited with code 1.",
            }
            command.state, command.exit_code = "Failed", 1
            command.error = "The script failed (injected fault)."
            return
        declared = script_named(command.script)
        action = _ACTIONS.get(declared[0] if declared else "", _nothing)
        command.output = action(self, machine, op)
        command.state, command.exit_code = "Succeeded", 0

    def _measure(self, machine: ArcMachine, op: Operation) -> str:
        hardware = machine.hardware
        vbs = 2 if machine.vbs_running else (1 if hardware.vbs_configured else 0)
        last_boot = hardware.boots[-1] if hardware.boots else _FIRST_BOOT
        parts = machine.os_version.split(".")
        document = {
            "schema": 1,
            "vbsStatus": vbs,
            "availableSecurityProperties": [1, 2, 3, 5] if hardware.virtualization else [],
            "vbsConfigured": 1 if hardware.vbs_configured else None,
            "firmware": "UEFI" if hardware.uefi else "Legacy",
            "secureBoot": hardware.secure_boot if hardware.uefi else None,
            "build": int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None,
            "revision": int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None,
            "architecture": _ARCHITECTURE_CODES.get(hardware.architecture, 9),
            "hotPatchRestrictions": 1 if hardware.chpe_restricted else None,
            "lastBoot": iso(self.world.clock.at(last_boot)),
        }
        return json.dumps(document, separators=(",", ":"))

    def _enable_vbs(self, machine: ArcMachine, op: Operation) -> str:
        changed = not machine.hardware.vbs_configured
        machine.hardware.vbs_configured = True
        return "changed" if changed else "unchanged"

    def _disable_chpe(self, machine: ArcMachine, op: Operation) -> str:
        changed = not machine.hardware.chpe_restricted
        machine.hardware.chpe_restricted = True
        return "changed" if changed else "unchanged"

    def _restart(self, machine: ArcMachine, op: Operation) -> str:
        """Schedule the restart, unless one is scheduled already (shutdown.exe's 1190) or
        the machine has started since the start the script was written for."""
        hardware = machine.hardware
        if hardware.down_until is not None:
            return "already scheduled"
        script = next((c.script for c in machine.run_commands.values() if c.operation is op), "")
        measured = restart_measured(script)
        booted = self.world.clock.at(hardware.boots[-1] if hardware.boots else _FIRST_BOOT)
        if measured is not None and abs((booted - measured).total_seconds()) > 2:
            return "already restarted"
        goes_down = op.end + RESTART_DELAY
        back = goes_down + self.world.durations.restart
        machine.hardware.down_until = back
        self.world.scheduler.at(back, lambda: self._boot(machine, back))
        return "scheduled"

    def _boot(self, machine: ArcMachine, at: float) -> None:
        """The machine is back: what its registry asked for is in force where the hardware
        allows, and the agent evaluates Hotpatch again."""
        hardware = machine.hardware
        hardware.boots.append(at)
        hardware.down_until = None
        machine.vbs_running = hardware.vbs_configured and hardware.vbs_possible
        hardware.chpe_off = hardware.chpe_restricted or not hardware.arm64
        self.on_boot(machine)
        self.world.changed()


def _given_back(properties: dict[str, Any]) -> dict[str, Any]:
    """What a run command's answers repeat of what its PUT wrote: everything but the
    secrets, and the status the agent reports, which the emulator renders itself."""
    kept = {k: v for k, v in properties.items() if k not in _SECRETS}
    return {k: v for k, v in kept.items() if k not in ("provisioningState", "instanceView")}


def _nothing(commands: RunCommands, machine: ArcMachine, op: Operation) -> str:
    return ""


_ACTIONS: dict[str, Callable[[RunCommands, ArcMachine, Operation], str]] = {
    "measure": RunCommands._measure,
    "enable-vbs": RunCommands._enable_vbs,
    "disable-chpe": RunCommands._disable_chpe,
    "restart": RunCommands._restart,
}


def render_run_command(machine: ArcMachine, command: RunCommand, world: World) -> dict[str, Any]:
    """The run command as ``MachineRunCommand``: what its PUT wrote (the execution is
    synchronous whatever ``asyncExecution`` says: model), provisioning following the script,
    the instance view its outcome."""
    op = command.operation
    running = not op.done
    clock = world.clock
    view: dict[str, Any] = {"executionState": "Running" if running else command.state}
    if not running:
        view.update(
            exitCode=command.exit_code,
            output=command.output,
            error=command.error,
            executionMessage="Execution completed"
            if command.state == "Succeeded"
            else str((op.error or {}).get("message", "")),
        )
        if command.started is not None and command.ended is not None:
            view.update(
                startTime=iso(clock.at(command.started)), endTime=iso(clock.at(command.ended))
            )
    state = "Creating" if running else ("Failed" if op.failed else "Succeeded")
    rendered: dict[str, Any] = {
        "id": f"{machine.id}/runCommands/{command.name}",
        "name": command.name,
        "type": RUN_COMMAND_TYPE,
        "location": machine.location,
        "properties": {
            "asyncExecution": False,
            "timeoutInSeconds": 600,
            **command.written,
            "source": {"script": command.script},
            "provisioningState": state,
            "instanceView": view,
        },
    }
    if command.tags:
        rendered["tags"] = dict(command.tags)
    return rendered


def script_of(machine: ArcMachine | None, name: str, body: Any) -> str | None:
    """The name of the script a request about run command ``name`` concerns: the one a
    PUT's ``body`` carries, else the one the command holds (None: not one of ours)."""
    script = None
    if isinstance(body, dict):
        script = ((body.get("properties") or {}).get("source") or {}).get("script")
    if not isinstance(script, str) and machine is not None:
        found = machine.run_commands.get(name.lower())
        script = found.script if found is not None else None
    declared = script_named(script) if isinstance(script, str) else None
    return declared[0] if declared else None


def _tags(body: dict[str, Any]) -> dict[str, str]:
    """The tags a PUT wrote (a tracked resource's), kept as strings."""
    tags = body.get("tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
