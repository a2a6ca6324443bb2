"""Remediating an Arc machine's Hotpatch prerequisites through Run Command
(``Microsoft.HybridCompute/machines/runCommands``; azure-mgmt-hybridcompute's
``machine_run_commands``).

Order: measure (a read-only script) -> judge (`azhotpatch.remediation.diagnose`) -> only when
asked, set what is missing (idempotent scripts: a value already right is left alone) -> restart
only when the `RebootPolicy` allows it now -> wait until the machine is back and measure again.

The restart is the one request that must never be sent twice: its run command gets a name of
its own (``azhotpatch-restart-<id>``), recorded in the caller's `RestartLedger` before it is
sent. A run that resumes with an intent recorded asks Azure whether that run command exists:
if it does the restart was received and is not sent again; if not, it was never received.

Run Command's throttling: Microsoft publishes no figure for Arc run commands (Learn's "Run
command on Azure Arc-enabled servers" and the REST reference say nothing of it; searched for
this code). The pacer charges each run command PUT to a conservative bucket of its own
(`azhotpatch.limits.ThrottleLimits.arc_run_commands`), beside ARM's write bucket.
Scripts run as the agent's local system account: ``runAsUser`` and ``runAsPassword`` are never
sent, and no script takes parameters, so nothing secret is in a request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError as AzureNotFound
from azure.mgmt.hybridcompute.models import MachineRunCommand

from azhotpatch import remediation
from azhotpatch._azure.lro import LroCall, run_to_end
from azhotpatch._azure.retry import AmbiguousSendError, Deadline
from azhotpatch._azure.session import Session
from azhotpatch.errors import (
    AmbiguousOperationError,
    DeadlineExceededError,
    OperationFailedError,
)
from azhotpatch.ids import ResourceId
from azhotpatch.models import Reason, Rule
from azhotpatch.parse import get, timestamp
from azhotpatch.remediation import (
    RESTART,
    Diagnosis,
    Measurement,
    RebootPolicy,
    RebootState,
    Remediation,
    Script,
)

__all__ = ["ArcRemediator", "RestartLedger"]

SCRIPT_TIMEOUT = 600  # seconds a script may run on the machine
# Azure seconds between measurements while waiting for a restarted machine to come back
_BACK_EVERY = 60.0


class RestartLedger(Protocol):
    """Where a restart's intent is kept across a crash (a fleet run's journal)."""

    def restart_sent(self, resource: str) -> str | None:
        """The restart run command's name if one was (possibly) sent before."""
        ...

    def restart_intended(self, resource: str, name: str) -> None:
        """Recorded (and committed) before the restart is sent."""
        ...


class ArcRemediator:
    """Run Command on Arc machines, for one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def measure(self, rid: ResourceId, location: str, deadline: Deadline) -> Measurement:
        output = await self.run(rid, location, remediation.MEASURE, deadline)
        try:
            return remediation.parse_measurement(output)
        except ValueError:
            raise OperationFailedError(
                "the measuring script's output could not be read",
                resource=str(rid),
                fix="check that PowerShell runs on the machine (azcmagent check) and that "
                "the Connected Machine agent is 1.33 or later",
            ) from None

    async def run(
        self, rid: ResourceId, location: str, script: Script, deadline: Deadline, name: str = ""
    ) -> str:
        """Run one idempotent script and return what it printed; `OperationFailedError` when
        it did not end Succeeded with exit code 0."""
        call = self._call(rid, location, script, name or script.run_command)
        doing = f"running the {script.name} script"
        result = await run_to_end(
            self.session, call, resource=str(rid), doing=doing, deadline=deadline
        )
        return _output(rid, script, dict(result.as_dict()))

    def _call(self, rid: ResourceId, location: str, script: Script, name: str) -> LroCall:
        commands = self.session.hybrid(rid.subscription_id).machine_run_commands
        body = {
            "location": location,
            "properties": {
                "source": {"script": script.text},
                "asyncExecution": False,
                "timeoutInSeconds": SCRIPT_TIMEOUT,
            },
        }
        return LroCall(
            commands.begin_create_or_update,
            (rid.resource_group, rid.name, name, MachineRunCommand(body)),
        )

    async def remediate(
        self,
        rid: ResourceId,
        location: str,
        *,
        fix: bool,
        reboot: RebootPolicy,
        ledger: RestartLedger | None,
        deadline: Deadline,
    ) -> Remediation:
        """Measure, and when ``fix``, set what is missing and restart as ``reboot`` allows."""
        resource = str(rid)
        sent_before = ledger.restart_sent(resource) if ledger else None
        before = await self.measure(rid, location, deadline)
        found = remediation.diagnose(before)
        ran = [remediation.MEASURE.name]
        if found.blockers:
            return Remediation(resource, before, fixes=found.fixes, blockers=found.blockers)
        if sent_before is not None:  # a restart sent before a crash: never send another
            return await self._after_restart(rid, location, before, found, sent_before, deadline)
        if not fix or not found.needs_restart:
            state = RebootState.REQUIRED if found.needs_restart else RebootState.NOT_NEEDED
            return Remediation(resource, before, before, found.fixes, False, reboot=state)
        for change in found.fixes:
            await self.run(rid, location, change.script, deadline)
            ran.append(change.script.name)
        earliest = reboot.earliest(self.session.azure_now())
        if earliest is None or earliest > self.session.azure_now():
            state = RebootState.REQUIRED if earliest is None else RebootState.DEFERRED
            return Remediation(
                resource, before, None, found.fixes, True, reboot=state, reboot_after=earliest,
                scripts=tuple(ran), detail=_waiting_detail(reboot, earliest),
            )  # fmt: skip
        name = f"{RESTART.run_command}-{uuid.uuid4().hex[:12]}"
        if ledger is not None:
            ledger.restart_intended(resource, name)
        await self._send_restart(rid, location, name, deadline)
        ran.append(RESTART.name)
        done = await self._after_restart(rid, location, before, found, name, deadline)
        return Remediation(
            resource, before, done.after, found.fixes, True, done.blockers, done.reboot,
            scripts=tuple(ran), detail=done.detail,
        )  # fmt: skip

    async def _send_restart(
        self, rid: ResourceId, location: str, name: str, deadline: Deadline
    ) -> None:
        """Send the restart once: a send whose answer was lost is settled by asking whether
        its run command exists, never by sending it again."""
        call = self._call(rid, location, RESTART, name)
        doing = "sending the restart"
        for attempt in range(2):
            try:
                await self.session.call(
                    call.start, resource=str(rid), doing=doing, idempotent=False, deadline=deadline
                )
                return
            except AmbiguousSendError as error:
                if await self._restart_command(rid, name, deadline) is not None:
                    return  # received: never again
                if attempt:
                    raise AmbiguousOperationError(
                        f"{doing}: twice the request may or may not have reached Azure "
                        f"({error}) and the machine shows no restart run command",
                        resource=str(rid),
                        fix="run remediate again: it asks Azure before sending a restart",
                    ) from error

    async def _restart_command(
        self, rid: ResourceId, name: str, deadline: Deadline
    ) -> dict[str, Any] | None:
        """The restart's run command as Azure has it, or None if Azure never received it."""
        commands = self.session.hybrid(rid.subscription_id).machine_run_commands

        async def get() -> dict[str, Any] | None:
            try:
                found = await commands.get(rid.resource_group, rid.name, name)
            except AzureNotFound:
                return None
            return dict(found.as_dict())

        found: dict[str, Any] | None = await self.session.call(
            get, resource=str(rid), doing="reading the restart run command", deadline=deadline
        )
        return found

    async def _after_restart(
        self,
        rid: ResourceId,
        location: str,
        before: Measurement,
        found: Diagnosis,
        name: str,
        deadline: Deadline,
    ) -> Remediation:
        """Wait until the machine has started after the restart script ran (its last boot
        is later than the script's end), then judge it again: VBS should now run."""
        resource = str(rid)
        after = before
        while True:
            command = await self._restart_command(rid, name, deadline)
            if command is None:  # intended before a crash, never received
                return Remediation(
                    resource, before, None, found.fixes, True, reboot=RebootState.REQUIRED,
                    detail="the restart recorded before a crash never reached Azure; run "
                    "again to send it",
                )  # fmt: skip
            ended = timestamp(get(command, "properties", "instanceView", "endTime"))
            if ended is not None and after.last_boot is not None and after.last_boot > ended:
                break
            await self._pause(deadline, rid)
            after = await self.measure(rid, location, deadline)
        judged = remediation.diagnose(after)
        blockers: Sequence[Reason] = judged.blockers
        if not after.vbs_running and not blockers:
            blockers = (_still_off(after),)
        return Remediation(
            resource, before, after, found.fixes, True, tuple(blockers), RebootState.DONE,
            detail="restarted; VBS " + ("running" if after.vbs_running else "still off"),
        )  # fmt: skip

    async def _pause(self, deadline: Deadline, rid: ResourceId) -> None:
        if deadline.remaining() <= 0:
            raise DeadlineExceededError(
                "the machine did not come back from its restart before the deadline",
                resource=str(rid),
                fix="check the machine's console; run remediate again once it is up (the "
                "restart is not sent again)",
            )
        wait = self.session.azure_seconds(_BACK_EVERY)
        await asyncio.sleep(min(wait, max(0.0, deadline.remaining())))


def _still_off(after: Measurement) -> Reason:
    return Reason(
        Rule.ARC_VBS_OFF,
        "VBS is still not running after the restart (VirtualizationBasedSecurityStatus "
        f"{after.vbs_status})",
        "open msinfo32 on the machine: 'Virtualization-based security' lists what is "
        "missing (often a firmware setting); fix it, restart, and run remediate again",
    )


def _waiting_detail(reboot: RebootPolicy, earliest: datetime | None) -> str:
    if earliest is None:
        return (
            "fixes set; they take effect at the next restart: pass reboot='now', "
            "'baseline' or a time, or restart the machine yourself (a baseline month's "
            "install restarts it anyway), then run again"
        )
    return f"fixes set; the restart may happen {reboot.describe()} ({earliest.isoformat()})"


def _output(rid: ResourceId, script: Script, body: dict[str, Any]) -> str:
    """The script's output from the run command's instance view, or why it failed."""
    properties = body.get("properties") or {}
    view = properties.get("instanceView") or {}
    state = str(view.get("executionState") or properties.get("provisioningState") or "")
    if state.lower() != "succeeded" or view.get("exitCode") not in (0, None):
        said = str(view.get("error") or view.get("executionMessage") or "")[:300]
        raise OperationFailedError(
            f"the {script.name} script ended {state or 'without a state'} (exit code "
            f"{view.get('exitCode')}): {said}",
            resource=str(rid),
            fix="check the run command's output (az connectedmachine run-command show) and "
            "that the machine is connected",
        )
    return str(view.get("output") or "")
