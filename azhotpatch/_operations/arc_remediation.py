"""Remediating an Arc machine's Hotpatch prerequisites through Run Command
(``Microsoft.HybridCompute/machines/runCommands``; azure-mgmt-hybridcompute's
``machine_run_commands``).

Order: measure (a read-only script) -> judge (`azhotpatch.remediation.diagnose`) -> only when
asked, set what is missing (idempotent scripts: a value already right is left alone) -> restart
only when the `RebootPolicy` allows it now -> wait until the machine is back and measure again.

Every run command is sent once. Its PUT runs the script (PUT is "create or update", and an
update runs it again), so no layer resends it blindly: aiohttp does not resend it on a
dropped connection (`resend.sent_once`), our retry policy does not retry it after it may have
been received, and a 409 "still running" is never retried. After a dropped connection, a
5xx or a 409, the run command is read by name: the PUT carries a tag with a value of its own
(``azhotpatch-send``), so the read tells whether Azure received *this* send (then it is
followed to its end, never sent again) or not (then it is sent again, paced and backed off;
a run command of the same name still running from someone else is waited for first).

The restart is the one run command that must never run twice: its run command gets a name of
its own (``azhotpatch-restart-<id>``), recorded in the caller's `RestartLedger` before it is
sent. A run that resumes with an intent recorded asks Azure whether that run command exists:
if it does the restart was received and is followed, not sent again; if not, it never
reached Azure, and the restart is sent (once) if the machine still needs it and the reboot
policy allows it now. Before sending a restart, the machine's run commands are listed (one
read): a restart of ours running there, or one that ended after the machine last booted, is
another run's (or another operator's), and it is followed instead of restarting the machine
a second time. Two runs that list at the same moment still send to one run command: its
name comes from the boot both measured (`_restart_name`), so the later PUT meets Azure's
409 "still running", and that run follows the first one's restart. Last, the restart script
itself restarts only from the start it was written for (`remediation.restart_from`): run a
second time by any of the above, it finds the machine started since, or its restart
already scheduled, and restarts nothing.

Waits are bounded in Azure time as well as by the deadline: a run command must end within
its script timeout plus delivery (`_RUN_BUDGET`), a restarted machine must be back within
`_BACK_BUDGET`; each also needs a least number of reads before it gives up, so a client
slowed by its own machine is not failed for time it could not use.

Run Command's throttling: Microsoft publishes no figure for Arc run commands (Learn's "Run
command on Azure Arc-enabled servers" and the REST reference say nothing of it; searched for
this code). The pacer charges each run command PUT to a conservative bucket of its own
(`azhotpatch.limits.ThrottleLimits.arc_run_commands`), beside ARM's write bucket.
Scripts run as the agent's local system account: ``runAsUser`` and ``runAsPassword`` are never
sent, and no script takes parameters, so nothing secret is in a request.

Open question (REST spec 2024-07-10 and Learn): whether Azure answers a PUT to a run command
that is still running with 409, as the emulator does, or queues it. Either way the send is
settled by reading the run command, so neither answer makes a script run twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError as AzureNotFound
from azure.mgmt.hybridcompute.models import MachineRunCommand

from azhotpatch import remediation
from azhotpatch._azure.errors import to_hotpatch_error
from azhotpatch._azure.lro import LroCall, wait_for_poller
from azhotpatch._azure.resend import sent_once
from azhotpatch._azure.retry import AmbiguousSendError, Deadline, Patience
from azhotpatch._azure.session import Session
from azhotpatch._parse import get, timestamp
from azhotpatch.errors import (
    Command,
    ConflictError,
    DeadlineExceededError,
    Fix,
    HotpatchError,
    OperationFailedError,
    TransientError,
)
from azhotpatch.ids import ResourceId
from azhotpatch.models import Reason, Rule
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
# Azure seconds a restarted machine has to be back, and the measurements made before giving up
_BACK_BUDGET = 3600.0
_BACK_TRIES = 10
# Azure seconds a run command has from its PUT to its end (the script's timeout, and the
# agent's time to receive it: a machine that is restarting takes it once it is back), and the
# reads made before giving up
_RUN_BUDGET = SCRIPT_TIMEOUT + 600.0
_RUN_TRIES = 20
# the tag whose value tells one send of a run command from any other of the same name
SEND_TAG = "azhotpatch-send"
_RESTART_PREFIX = f"{RESTART.run_command}-"
_ENDED = ("succeeded", "failed", "canceled", "cancelled")


class RestartLedger(Protocol):
    """Where a restart's intent is kept across a crash (a fleet run's journal)."""

    def restart_sent(self, resource: str) -> str | None:
        """The restart run command's name if one was (possibly) sent before."""
        ...

    def record_restart_intent(self, resource: str, name: str) -> None:
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
        ended = await self._execute(rid, location, script, name or script.run_command, deadline)
        return _output(rid, script, ended)

    def _call(
        self, rid: ResourceId, location: str, script: Script, name: str, send: str
    ) -> LroCall:
        commands = self.session.hybrid(rid.subscription_id).machine_run_commands
        body = {
            "location": location,
            "tags": {SEND_TAG: send},
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

    async def _execute(
        self,
        rid: ResourceId,
        location: str,
        script: Script,
        name: str,
        deadline: Deadline,
        *,
        send: str | None = None,
        shared: bool = False,
    ) -> dict[str, Any]:
        """Send the run command once and return it as it ended (see the module docstring:
        a send that may have reached Azure is settled by reading the run command by name).
        ``send`` is the value of the send's tag; ``shared`` when a run command of this name
        that someone else sent is as good as ours (a restart): it is followed, and ours is
        not sent after it."""
        resource = str(rid)
        doing = f"running the {script.name} script"
        send = send or uuid.uuid4().hex
        call = self._call(rid, location, script, name, send)
        policy = self.session.settings.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                with sent_once():
                    poller = await self.session.call(
                        call.start,
                        resource=resource,
                        doing=doing,
                        idempotent=False,
                        retry_conflicts=False,
                        deadline=deadline,
                    )
            except (AmbiguousSendError, ConflictError) as error:
                found = await self._command(rid, name, deadline)
                if found is not None and (
                    _sent_by(found, send) or (shared and not _ended(found))
                ):  # received (or, shared, under way): followed, never sent again
                    return await self._follow(rid, name, found, deadline)
                if attempt == policy.attempts:
                    raise _not_received(error, resource, doing) from error
                if found is not None and not _ended(found):  # someone else's runs: wait
                    await self._follow(rid, name, found, deadline)
                else:
                    await self._back_off(attempt, deadline)
                continue
            ended = dict(
                (
                    await wait_for_poller(
                        self.session,
                        poller,
                        call.resume,
                        resource=resource,
                        doing=doing,
                        deadline=deadline,
                    )
                ).as_dict()
            )
            if shared or not _sent_by_another(ended, send):
                return ended
            # someone else sent a run command of this name since ours ended: the same script
            # (another run's, idempotent) run after ours began is as good as ours, once it
            # ends; another script's is not, and ours is run again after it
            theirs = await self._follow(rid, name, ended, deadline)
            if _script_of(theirs) == script.text:
                return theirs
            if attempt == policy.attempts:
                raise ConflictError(
                    f"{doing}: another run kept running its own script under the name {name}",
                    resource=resource,
                    fix="let the other run finish, then run again",
                )
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _back_off(self, failures: int, deadline: Deadline) -> None:
        wait = self.session.settings.retry.backoff_for(failures)
        await asyncio.sleep(min(wait, max(0.0, deadline.remaining())))

    async def _command(
        self, rid: ResourceId, name: str, deadline: Deadline
    ) -> dict[str, Any] | None:
        """The run command as Azure has it, or None if Azure has none of that name."""
        commands = self.session.hybrid(rid.subscription_id).machine_run_commands

        async def read() -> dict[str, Any] | None:
            try:
                found = await commands.get(rid.resource_group, rid.name, name)
            except AzureNotFound:
                return None
            return dict(found.as_dict())

        found: dict[str, Any] | None = await self.session.call(
            read, resource=str(rid), doing=f"reading the run command {name}", deadline=deadline
        )
        return found

    async def _follow(
        self, rid: ResourceId, name: str, command: dict[str, Any], deadline: Deadline
    ) -> dict[str, Any]:
        """The run command once it has ended, read by name every poll interval (bounded by
        `_RUN_BUDGET` and the deadline)."""
        patience = Patience(self.session.azure_seconds(_RUN_BUDGET), _RUN_TRIES)
        while not _ended(command):
            if patience.spent() or deadline.expired():
                raise DeadlineExceededError(
                    f"the run command {name} was still {_state(command)} after "
                    f"{_RUN_BUDGET:.0f} s of Azure time",
                    resource=str(rid),
                    fix="check that the machine is connected (azcmagent show) and the run "
                    "command's state (az connectedmachine run-command show); run again: it "
                    "follows the run command rather than sending it again",
                )
            wait = self.session.polling_interval
            await asyncio.sleep(min(wait, max(0.0, deadline.remaining())))
            found = await self._command(rid, name, deadline)
            patience.tick()
            if found is None:
                raise OperationFailedError(
                    f"the run command {name} was deleted while it ran",
                    resource=str(rid),
                    fix="run again (someone removed the run command before it ended)",
                )
            command = found
        return command

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
        intended = ledger.restart_sent(resource) if ledger else None
        before = await self.measure(rid, location, deadline)
        found = remediation.diagnose(before)
        ran = [remediation.MEASURE.name]
        if found.blockers:
            return Remediation(resource, before, fixes=found.fixes, blockers=found.blockers)
        if intended is not None:  # a restart intended before a crash: did Azure receive it?
            command = await self._command(rid, intended, deadline)
            if command is not None and (_succeeded(command) or not _ended(command)):
                # it did: follow it, never send another
                return await self._after_restart(
                    rid, location, before, found, intended, command, deadline
                )
            # it never reached Azure (or its script failed, restarting nothing): the intent
            # is settled, and the restart is sent below if the machine still needs it and
            # the reboot policy allows it now
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
        name, command, ours = await self._restart(rid, location, before, ledger, deadline)
        if ours:
            ran.append(RESTART.name)
        done = await self._after_restart(rid, location, before, found, name, command, deadline)
        return Remediation(
            resource, before, done.after, found.fixes, True, done.blockers, done.reboot,
            scripts=tuple(ran), detail=done.detail,
        )  # fmt: skip

    async def _restart(
        self,
        rid: ResourceId,
        location: str,
        before: Measurement,
        ledger: RestartLedger | None,
        deadline: Deadline,
    ) -> tuple[str, dict[str, Any], bool]:
        """The restart to wait for: another run's, if one is under way or ended after the
        machine last booted (then nothing is sent), else ours, sent once; its run command's
        name, the run command, and whether it is ours."""
        resource = str(rid)
        other = await self._restart_under_way(rid, before, deadline)
        name = str(other["name"]) if other else _restart_name(before)
        if ledger is not None:  # committed before the send: a resumed run follows this one
            ledger.record_restart_intent(resource, name)
        if other is not None:
            return name, other, False
        send = uuid.uuid4().hex
        script = remediation.restart_from(before.last_boot)
        command = await self._execute(rid, location, script, name, deadline, send=send, shared=True)
        return name, command, _sent_by(command, send)

    async def _restart_under_way(
        self, rid: ResourceId, before: Measurement, deadline: Deadline
    ) -> dict[str, Any] | None:
        """A restart of ours that another run sent and the machine has not yet come back
        from (as far as ``before``, the latest measurement, tells), if any."""
        commands = self.session.hybrid(rid.subscription_id).machine_run_commands

        async def listed() -> list[dict[str, Any]]:
            return [dict(c.as_dict()) async for c in commands.list(rid.resource_group, rid.name)]

        found = await self.session.call(
            listed, resource=str(rid), doing="reading the machine's run commands", deadline=deadline
        )
        for command in found:
            if not str(command.get("name") or "").lower().startswith(_RESTART_PREFIX):
                continue
            if not _ended(command):
                return command
            ended = timestamp(get(command, "properties", "instanceView", "endTime"))
            booted = before.last_boot
            if _succeeded(command) and ended and (booted is None or ended > booted):
                return command
        return None

    async def _after_restart(
        self,
        rid: ResourceId,
        location: str,
        before: Measurement,
        found: Diagnosis,
        name: str,
        command: dict[str, Any],
        deadline: Deadline,
    ) -> Remediation:
        """Wait until the restart's run command has ended and the machine has started after
        it (its last boot is later than the script's end), then judge it again: VBS should
        now run. A restart script that failed restarted nothing: `OperationFailedError`."""
        resource = str(rid)
        command = await self._follow(rid, name, command, deadline)
        if not _succeeded(command):
            raise OperationFailedError(
                f"the restart script ({name}) ended {_state(command)}: the machine was not "
                "restarted",
                resource=resource,
                fix="check the run command's output (az connectedmachine run-command show) "
                "and that the machine is connected, then run again",
            )
        since = timestamp(get(command, "properties", "instanceView", "endTime"))
        if str(get(command, "properties", "instanceView", "output") or "").startswith(
            "already restarted"
        ):  # a second run of the script (another run's, a resend): the restart it was
            # written for happened before it ran, so any start after that one will do
            since = remediation.restart_measured(
                str(get(command, "properties", "source", "script") or "")
            )
        after = before
        patience = Patience(self.session.azure_seconds(_BACK_BUDGET), _BACK_TRIES)
        while since is None or after.last_boot is None or not after.last_boot > since:
            await self._pause(deadline, rid, patience)
            after = await self.measure(rid, location, deadline)
            patience.tick()
        judged = remediation.diagnose(after)
        blockers: Sequence[Reason] = judged.blockers
        if not after.vbs_running and not blockers:
            blockers = (_still_off(after),)
        return Remediation(
            resource, before, after, found.fixes, True, tuple(blockers), RebootState.DONE,
            detail=f"restarted ({name}); VBS " + ("running" if after.vbs_running else "still off"),
        )  # fmt: skip

    async def _pause(self, deadline: Deadline, rid: ResourceId, patience: Patience) -> None:
        if deadline.remaining() <= 0 or patience.spent():
            raise DeadlineExceededError(
                "the machine did not come back from its restart within "
                f"{_BACK_BUDGET / 60:.0f} minutes of Azure time (or before the deadline)",
                resource=str(rid),
                fix=Fix.of(
                    "check the machine's console; run ",
                    Command("remediate"),
                    " again once it is up (the restart is not sent again)",
                ),
            )
        wait = self.session.azure_seconds(_BACK_EVERY)
        await asyncio.sleep(min(wait, max(0.0, deadline.remaining())))


def _restart_name(before: Measurement) -> str:
    """The restart's run command name: the same for every run that measured the machine's
    same boot, so that two runs restarting it at once send to one run command, and Azure's
    409 "still running" makes the later one follow the first instead of restarting the
    machine again."""
    boot = before.last_boot.isoformat() if before.last_boot else uuid.uuid4().hex
    return _RESTART_PREFIX + hashlib.blake2b(boot.encode(), digest_size=6).hexdigest()


def _state(command: dict[str, Any]) -> str:
    view = get(command, "properties", "instanceView", "executionState")
    return str(view or get(command, "properties", "provisioningState") or "in an unknown state")


def _ended(command: dict[str, Any]) -> bool:
    """Whether the run command's execution has ended (with ``asyncExecution`` false, its
    provisioning state follows the script)."""
    state = str(get(command, "properties", "provisioningState") or "").lower()
    return state in _ENDED


def _succeeded(command: dict[str, Any]) -> bool:
    state = str(get(command, "properties", "provisioningState") or "").lower()
    view = get(command, "properties", "instanceView", "executionState")
    return state == "succeeded" and str(view or "succeeded").lower() == "succeeded"


def _script_of(command: dict[str, Any]) -> str | None:
    found = get(command, "properties", "source", "script")
    return str(found) if found is not None else None


def _sent_by(command: dict[str, Any], send: str) -> bool:
    """Whether the run command is the one a send with tag value ``send`` made."""
    return _send_of(command) == send


def _sent_by_another(command: dict[str, Any], send: str) -> bool:
    """Whether the run command shows another send than ours (False when it shows none)."""
    found = _send_of(command)
    return found is not None and found != send


def _send_of(command: dict[str, Any]) -> str | None:
    """The send tag a run command shows. Open question: the REST spec's examples show no
    tags on run commands, but ``MachineRunCommand`` is a tracked resource, whose tags Azure
    keeps and returns (and ``New-AzConnectedMachineRunCommand -Tag`` sets); where a read shows
    none, a send is taken as not ours (sent again, an idempotent script's cost) and a result
    as ours."""
    tags = command.get("tags")
    found = tags.get(SEND_TAG) if isinstance(tags, dict) else None
    return str(found) if found is not None else None


def _not_received(error: Exception, resource: str, doing: str) -> HotpatchError:
    """The error a run command that Azure never received ends with, after every try: a 409
    as it is; a send that failed after leaving, as the failure it was (Azure unavailable),
    saying that nothing ran."""
    if isinstance(error, HotpatchError):
        return error
    cause = error.cause if isinstance(error, AmbiguousSendError) else error
    said = to_hotpatch_error(cause, resource, doing=doing)
    return TransientError(
        f"{doing}: every send failed ({said.problem}) and Azure shows no run command from "
        "any of them, so nothing ran on the machine",
        resource=resource,
        fix="check network access to the Resource Manager endpoint and Azure's status for the "
        "region, then run again",
        status=getattr(said, "status", None),
        azure_code=getattr(said, "azure_code", None),
    )


def _still_off(after: Measurement) -> Reason:
    return Reason(
        Rule.ARC_VBS_OFF,
        "VBS is still not running after the restart (VirtualizationBasedSecurityStatus "
        f"{after.vbs_status})",
        Fix.of(
            "open msinfo32 on the machine: 'Virtualization-based security' lists what is "
            "missing (often a firmware setting); fix it, restart, and run ",
            Command("remediate"),
            " again",
        ),
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
