"""One assessment or installation of a fleet run, sent at most once.

The exactly-once rules live here, in order: a step the journal shows as sent before a restart
is attached to by its token, or settled by reading Azure's state before anything is sent
again; an install is not sent when someone else's is running on the machine or already
started for the current release (`azhotpatch._operations.install_guard`), whether that shows before
the request or appears while it waits to be sent; and the intent (with the machine's latest
activity) is committed to the journal before the request, the continuation token after Azure
accepted it. What Azure ran is then judged: an operation that did not succeed fails the step
under our code, someone else's install is the machine's result under its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from azhotpatch._operations.install_guard import InstallAppearedError, code_of, result_of
from azhotpatch._operations.kinds import Deadline, OperationToken, Started
from azhotpatch.errors import (
    INSTALL_AGAIN,
    RETRY_FAILED,
    Fix,
    OperationFailedError,
)
from azhotpatch.fleet._run_context import (
    PATCHES_FAILED,
    RunContext,
)
from azhotpatch.fleet.journal import StepRecord
from azhotpatch.fleet.plan import PlanItem
from azhotpatch.models import Action, Assessment, Installation, OperationStatus

__all__ = ["PatchStep", "Patched", "StepFailedError"]


class PatchStep:
    """Assess and install steps for one run (see the module docstring)."""

    def __init__(self, context: RunContext) -> None:
        self.session = context.session
        self.options = context.options
        self.install = context.install
        self.journal = context.journal
        self.kinds = context.kinds
        self.installs = context.installs

    async def patch(self, item: PlanItem, action: Action, prior: StepRecord | None) -> Patched:
        rid = item.machine.id
        kind = self.kinds.of(rid)
        seconds = (
            self.install.max_duration.total_seconds() + 1800.0
            if action is Action.INSTALL
            else self.options.assess_deadline
        )
        deadline = self.session.deadline(seconds)
        started: Started | None = None
        fresh = False
        retry = prior is not None and prior.done
        if prior is not None and prior.token and not retry:
            # started before a restart: it has had its time, so it is polled at once
            token = OperationToken.decode(prior.token)
        elif prior is not None and prior.intended:
            # sent before a restart, or failed before: Azure's state says whether it was
            # received (attach to it) or must be sent; a retry sends again only when the
            # attempt Azure received ended unsuccessfully
            settled = await kind.settle(rid, action, prior.intent_previous, again=retry)
            if settled.received:
                token = OperationToken(action, item.resource, prior.intent_previous, None)
            else:
                # the attempt that failed, found on the machine, was ours
                failed = settled.previous
                ours = [failed] if failed and failed != prior.intent_previous else []
                sent = await self._unless_elsewhere(
                    item, action, settled.previous, deadline, ours=ours, again=retry
                )
                if isinstance(sent, Patched):
                    return sent
                token, started = sent
                fresh = True
        else:
            previous = await kind.previous(rid, action)
            sent = await self._unless_elsewhere(item, action, previous, deadline, again=retry)
            if isinstance(sent, Patched):
                return sent
            token, started = sent
            fresh = True
        if started is not None and started.theirs is not None and action is Action.INSTALL:
            # Azure refused ours (409): another install is running; its result is ours
            return _judge(await self._theirs(item, started.theirs, deadline))
        return _judge(await kind.finish(token, started, deadline, fresh=fresh))

    async def _unless_elsewhere(
        self,
        item: PlanItem,
        action: Action,
        previous: str | None,
        deadline: Deadline,
        *,
        ours: Iterable[str] = (),
        again: bool = False,
    ) -> Patched | tuple[OperationToken, Started]:
        """Send the step's request, unless the install someone else is running or started
        for the current release makes it a repeat, whether it shows before the request or
        appears while the request waits to be sent (`InstallRecords.still_clear`)."""
        while True:
            elsewhere = await self._elsewhere(item, action, deadline, ours=ours, again=again)
            if elsewhere is not None:
                return elsewhere
            if action is not Action.INSTALL or self.options.install_again:
                return await self._send(item, action, previous, deadline)
            check = self.installs.still_clear(
                item.machine.id, released=self.options.released, ours=ours, again=again
            )
            try:
                with self.session.checked(check):
                    return await self._send(item, action, previous, deadline)
            except InstallAppearedError:
                continue  # not sent: the record now shows the other install

    async def _elsewhere(
        self,
        item: PlanItem,
        action: Action,
        deadline: Deadline,
        *,
        ours: Iterable[str] = (),
        again: bool = False,
    ) -> Patched | None:
        """Before an install is sent: the result of the install someone else is running, or
        started for the current release, on the machine (waited for, reading Azure's
        record); None when there is none and ours may go (see
        `azhotpatch._operations.install_guard`)."""
        if action is not Action.INSTALL or self.options.install_again:
            return None
        rid = item.machine.id
        while True:
            found = await self.installs.deciding(
                rid, released=self.options.released, ours=ours, again=again
            )
            if found is None:
                return None
            other, row = found
            if other.status.done:
                return _judge(result_of(item.resource, item.machine.kind, other, row))
            # running: wait for it to end, then decide again (one that started before the
            # release is not this release's, and ours goes after it)
            await self.installs.ended(rid, other.activity_id, deadline)

    async def _theirs(self, item: PlanItem, activity: str, deadline: Deadline) -> Installation:
        """The install ``activity`` someone else started, once ended, as the machine's."""
        other, row = await self.installs.ended(item.machine.id, activity, deadline)
        return result_of(item.resource, item.machine.kind, other, row)

    async def _send(
        self, item: PlanItem, action: Action, previous: str | None, deadline: Deadline
    ) -> tuple[OperationToken, Started]:
        """Send the assess/install request once: the intent (with the machine's latest
        activity before it) committed first, the continuation token after."""
        rid = item.machine.id
        options = self.install if action is Action.INSTALL else None
        self.journal.record_intent(item.resource, action.value, previous)
        token, started = await self.kinds.of(rid).begin(rid, action, options, previous, deadline)
        self.journal.record_acceptance(item.resource, action.value, token.encode())
        return token, started


@dataclass(frozen=True)
class Patched:
    """A finished assessment's or installation's detail; ``code``, ``problem`` and ``fix``
    say when the install was someone else's (`azhotpatch._operations.install_guard`)."""

    detail: dict[str, Any]
    code: str | None = None
    problem: str | None = None
    fix: Fix | None = None


class StepFailedError(Exception):
    """Azure ran the operation and it did not succeed: our code, what went wrong and the
    fix, and Azure's code where it gave one."""

    def __init__(
        self,
        code: str,
        problem: str,
        fix: Fix,
        detail: dict[str, Any],
        azure_code: str | None = None,
    ) -> None:
        super().__init__(problem)
        self.code, self.problem, self.fix, self.detail = code, problem, fix, detail
        self.azure_code = azure_code


def _judge(result: Assessment | Installation) -> Patched:
    """A finished operation's detail, or a failure when Azure says it did not work; an
    install someone else started is judged as ours would be, under its own code."""
    if isinstance(result, Assessment):
        detail: dict[str, Any] = {
            "status": result.status.value,
            "patches": result.total,
            "critical_and_security": result.critical_and_security,
            "hotpatches": len(result.hotpatches),
        }
    else:
        detail = {
            "status": result.status.value,
            "installed": result.installed,
            "failed": result.failed,
            "reboot": result.reboot_status.value,
            "operation": result.activity_id,
        }
    if isinstance(result, Installation) and result.by is not None:
        return _theirs_judged(result, detail)
    if result.status is OperationStatus.SUCCEEDED:
        return Patched(detail)
    if isinstance(result, Installation) and result.failed:
        raise StepFailedError(
            PATCHES_FAILED,
            f"{result.failed} patches failed to install.",
            Fix.of(
                "see the machine's installation result for each patch's error, then retry (",
                RETRY_FAILED,
                ")",
            ),
            detail,
        )
    error = result.error
    raise StepFailedError(
        OperationFailedError.code,
        f"the operation ended {result.status.value}" + (f" ({error})" if error else "") + ".",
        Fix.of(
            "retry (",
            RETRY_FAILED,
            "); if it keeps failing, check the machine's guest agent and Windows Update logs",
        ),
        detail,
        azure_code=error.code if error else None,
    )


def _theirs_judged(result: Installation, detail: dict[str, Any]) -> Patched:
    """Someone else's install for this release, as the machine's result: succeeded under
    its code when it succeeded, failed under it when it did not (a retry of failed machines
    may then send one)."""
    other = result.by
    assert other is not None
    detail = {
        **detail,
        "by": other.started_by,
        "started": other.started.isoformat() if other.started else None,
        "maintenance_run": other.maintenance_run_id,
    }
    code = code_of(other)
    when = f" at {other.started:%Y-%m-%d %H:%M:%S} UTC" if other.started else ""
    head = (
        f"the current release's install was started by {other.who} as "
        f"operation {other.activity_id}{when}, so none was sent"
    )
    if result.status is OperationStatus.SUCCEEDED:
        problem = (
            f"{head}; it succeeded ({result.installed} installed) and is this machine's result."
        )
        fix = Fix.of("nothing to do; to install anyway, run again with ", INSTALL_AGAIN)
        return Patched(detail, code, problem, fix)
    error = f" ({result.error})" if result.error else ""
    failed = f", {result.failed} patches failed" if result.failed else ""
    raise StepFailedError(
        code,
        f"{head}; it ended {result.status.value}{failed}{error}, which is this machine's result.",
        Fix.of(
            "retry (",
            RETRY_FAILED,
            " with the same journal) to send an install, or run again with ",
            INSTALL_AGAIN,
        ),
        detail,
        azure_code=result.error.code if result.error else None,
    )
