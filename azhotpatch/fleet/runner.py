"""The fleet engine: a plan's steps on every machine, concurrently, as fast as Azure's
throttling allows and no faster.

Speed comes from the pacer (`azhotpatch._azure.pacing`), which every request passes through:
it mirrors Azure's buckets per subscription, region and policy, so the engine can keep
thousands of machines in flight and let the buckets set the pace; a 429 pauses the bucket for
everyone. The engine's own jobs are two. It keeps the buckets busy to the end: a machine's
steps form a chain, each waiting on the operation before it, so the first steps of chains go
first and enough machines are let in that the last chains cannot leave the buckets idle.
And it spends few requests: enrollment writes from inventory facts (no read first), LRO
polls start when the operation is expected to be done rather than every 30 s from the
start, Arc machines' enrollment verdicts come from one shared Resource Graph watcher, and
their patch history from one batched query.

Safety comes from the journal: intent before every non-idempotent request, outcome after,
so a run that is killed resumes where it stopped and never triggers an install twice. Across
runs (other journals, people, the platform's schedule) Azure's own record is the guard: an
install is not sent when one is running on the machine or already started for the current
release (`azhotpatch.install_guard`); that install's result is the machine's, with the code
``PatchedByAnotherRun`` or ``PatchedByPlatform`` and the other operation's id, and it counts
as the run's own would (succeeded when it succeeded: the machine is patched, which is what a
scheduled run is for). ``install_again`` sends regardless.
Every machine ends in exactly one outcome: succeeded, skipped (ineligible, with the reason)
or failed (with the error's code and message).

A run can stop early three ways, and each leaves nothing half done. Its deadline: machines
not concluded fail as ``DeadlineExceeded``. Its task cancelled (Ctrl-C or SIGTERM through the
command line, ``task.cancel()`` in asyncio): no machine is started after it, the machines in
flight are cancelled where they wait (their intents and operation tokens are in the journal,
each committed whole, so a resumed run re-attaches or settles them), the record is written
and the cancellation goes on. Its journal vanished or could not be written: no machine and no
step is started after it (an intent that cannot be committed is not sent), the operations
already in Azure are followed to their end, and machines not concluded fail as
``JournalUnwritable``; the caller raises the journal's `JournalStorageError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from azhotpatch._azure.session import Arrival, Session, Traffic
from azhotpatch.errors import (
    HotpatchError,
    IneligibleError,
    JournalStorageError,
    OperationFailedError,
    ResourceNotFoundError,
    SubscriptionDisabledError,
)
from azhotpatch.fleet import collector
from azhotpatch.fleet.journal import REMEDIATE_STEP, Journal, SessionRecord, StepRecord
from azhotpatch.fleet.no_journal import NoJournal, RunJournal
from azhotpatch.fleet.plan import Plan, PlanItem
from azhotpatch.fleet.report import MachineResult, Outcome, Report, StepResult
from azhotpatch.fleet.timeline import Timeline
from azhotpatch.install_guard import InstallAppearedError, InstallRecords, code_of, result_of
from azhotpatch.kinds import KINDS, Deadline, Kinds, OperationToken, Started
from azhotpatch.models import Action, Assessment, Installation, InstallOptions, OperationStatus
from azhotpatch.remediation import REMEDIABLE, RebootPolicy, RebootState, Remediation

__all__ = ["ProgressEvent", "RunOptions", "run"]

# Our codes for outcomes no exception carries (docs/troubleshooting.md lists every code).
MACHINE_GONE = "MachineGone"
PATCHES_FAILED = "PatchesFailed"
REBOOT_REQUIRED = "RebootRequired"  # fixes set; no restart allowed (pass reboot=)
REBOOT_DEFERRED = "RebootDeferred"  # fixes set; the restart waits for its window
_WAITING = (REBOOT_REQUIRED, REBOOT_DEFERRED)
DEADLINE_EXCEEDED = "DeadlineExceeded"
JOURNAL_UNWRITABLE = JournalStorageError.code  # the run stopped: its journal failed
_REMEDIABLE_CODES = frozenset(r.value for r in REMEDIABLE)
# How often, at most, the journal's record of the run (its traffic, its session) is written.
RECORD_EVERY = 1.0  # seconds
# ARM's codes for a machine that is not there (any more).
_GONE = (
    "ResourceNotFound",
    "ParentResourceNotFound",
    "ResourceGroupNotFound",
    "SubscriptionNotFound",
)


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan. Step deadlines are wall-clock seconds counted from when the step
    begins, queueing in the pacer included, so they stay generous: they exist to end steps
    that hang, not to pace the run (``deadline`` bounds the whole run)."""

    concurrency: int | None = None  # at most this many machines in flight; None: no cap
    install: InstallOptions = field(default_factory=InstallOptions)
    journal: Journal | None = None  # open, and checked against what the run was asked
    retry_failed: bool = False  # attempt the journal's failed steps again
    enable_deadline: float = 3600.0
    assess_deadline: float = 3600.0
    deadline: float | None = None  # wall seconds for the whole run
    tune_collector: bool = True  # see `azhotpatch.fleet.collector`
    remediate_deadline: float = 7200.0  # measure, fix, restart and measure again
    # send installs even where another run, a person or the platform already installed (or
    # is installing) the current release (see `azhotpatch.install_guard`)
    install_again: bool = False
    # an out-of-band release's day: installs that started before it are not this release's
    released: date | None = None


@dataclass(frozen=True)
class ProgressEvent:
    machine: MachineResult
    done: int
    total: int


Progress = Callable[[ProgressEvent], None]


class _Runner:
    def __init__(
        self, session: Session, plan: Plan, options: RunOptions, progress: Progress | None
    ) -> None:
        self.session = session
        self.plan = plan
        self.options = options
        self.progress = progress
        self.install = plan.install or options.install
        # the run's journal, or one that records nothing: the steps never ask which
        self.journal: RunJournal = options.journal or NoJournal()
        # each kind of machine for this run: its learned poll clocks, watchers and history
        self.kinds = Kinds(session, fleet=True)
        # what Azure records of each machine's installs, read in batches before each install
        self.installs = InstallRecords(
            session, fallback=lambda rid: self.kinds.of(rid).own_installs(rid)
        )
        # subscriptions found disabled (read-only): their other machines fail without a call
        self.disabled: dict[str, SubscriptionDisabledError] = {}
        self.results: dict[str, MachineResult] = {}
        self.remediated: set[str] = set()  # machines remediated in this run
        self.slots = asyncio.Semaphore(options.concurrency) if options.concurrency else None
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = 0
        # the run's record: when each machine ended (this run's own machines; not those a
        # resumed run found concluded), the requests per bucket, and when it was last written
        self.began = time.time()
        self.fresh: set[str] = set()
        self.finished: dict[str, float] = {}
        self.traffic: Traffic | None = None
        self.recorded = 0.0
        metrics = session.metrics
        self.before = (metrics.requests, metrics.throttled, metrics.transport_errors)

    # --- the run ------------------------------------------------------------------------------

    async def run(self) -> Report:
        started = time.monotonic()
        try:
            with (
                # only a journal drains the traffic counts: kept without one, the bins
                # would be a second copy that only grows for the whole run
                self.session.recording(drained=self.options.journal is not None) as self.traffic,
                collector.tuned_for_a_run(self.options.tune_collector),
            ):
                await self._prepare()
                await self._all()
        finally:
            self._write_record()
            await self.kinds.close()
            await self.installs.close()
        requests, throttled, transport_errors = self._sent()
        return Report(
            actions=tuple(a.value for a in self.plan.actions),
            machines=tuple(self.results[i.resource] for i in self.plan.items),
            elapsed=time.monotonic() - started,
            requests=requests,
            throttled=throttled,
            transport_errors=transport_errors,
            resumed=self.journal.resumed,
            calendar=self.plan.calendar_note,
            timeline=self._timeline(),
        )

    def _sent(self) -> tuple[int, int, int]:
        """(requests, 429s, transport errors) since the run began."""
        metrics = self.session.metrics
        requests, throttled, transport_errors = self.before
        return (
            metrics.requests - requests,
            metrics.throttled - throttled,
            metrics.transport_errors - transport_errors,
        )

    def _timeline(self) -> Timeline:
        traffic = self.traffic
        assert traffic is not None
        return Timeline(
            sessions=((self.began, time.time()),),
            finished=dict(self.finished),
            traffic=tuple(traffic.rows()),
            ceilings=dict(traffic.ceilings),
            time_scale=self.session.settings.time_scale,
            today=self.plan.today,
        )

    def _write_record(self) -> None:
        """Bring the journal's record of the run up to date: the requests per bucket since
        it was last written, and this session's counts and end so far."""
        self.recorded = time.monotonic()
        if self.traffic is None:
            return
        self.journal.add_traffic(self.traffic.drain(), self.traffic.ceilings)
        requests, throttled, transport_errors = self._sent()
        self.journal.session(
            SessionRecord(
                started=self.began,
                ended=time.time(),
                requests=requests,
                throttled=throttled,
                transport_errors=transport_errors,
                time_scale=self.session.settings.time_scale,
                calendar=self.plan.calendar_note,
                today=self.plan.today.isoformat(),
            )
        )

    async def _all(self) -> None:
        feeders = [
            asyncio.create_task(self._feed(subscription, items))
            for subscription, items in _by_subscription(self.plan.items).items()
        ]
        try:
            await asyncio.wait_for(self._everything(feeders), timeout=self.options.deadline)
        except asyncio.TimeoutError:
            await self._cancel(feeders)
            self._fail_unfinished(
                DEADLINE_EXCEEDED,
                "the run's deadline passed first; rerun with the same journal to resume",
            )
        except asyncio.CancelledError:
            # stopped from outside (a signal through the command line, or the caller's
            # task cancelled): no machine starts after this, and those in flight stop where
            # they wait, their intents and tokens already committed to the journal
            await self._cancel(feeders)
            raise
        if self.journal.failure is not None:
            self._fail_unfinished(JOURNAL_UNWRITABLE, self._journal_failed("not started"))

    async def _cancel(self, feeders: list[asyncio.Task[None]]) -> None:
        """Cancel the feeders and every machine in flight, and wait until each has
        unwound."""
        for task in [*feeders, *self.tasks]:
            task.cancel()
        await asyncio.gather(*feeders, *self.tasks, return_exceptions=True)

    async def _everything(self, feeders: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*feeders)
        while self.tasks:
            await asyncio.gather(*self.tasks)

    async def _feed(self, subscription: str, items: list[PlanItem]) -> None:
        """Let the subscription's machines in as fast as its buckets can serve them (see
        `Pacer.admit`); skipped machines need no Azure call and are reported at once."""
        for item in items:
            if item.skip is not None and not self._begun_before(item):
                self._record(item, await self._guarded(item))  # no request: reported as is
                continue
            if not self._journal_intact():
                return  # the rest are reported as not started (`_all`)
            if self.slots is not None:
                await self.slots.acquire()
            admitted = await self.session.admit(subscription, self._horizon())
            if not self._journal_intact():  # it failed while this machine waited its turn
                self.session.leave(admitted)
                if self.slots is not None:
                    self.slots.release()
                return
            task = asyncio.create_task(self._one(item, admitted))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            # `admit` returns at once while there is room: without yielding here, a fleet's
            # first thousands of machines would all build their first request before the
            # event loop looked at a single socket
            await asyncio.sleep(0)

    async def _one(self, item: PlanItem, admitted: Arrival) -> None:
        self.session.arrive(admitted)
        try:
            result = await self._guarded(item)
        finally:
            self.session.leave(admitted)
            if self.slots is not None:
                self.slots.release()
        self._record(item, result)

    def _horizon(self) -> float:
        """Wall seconds from a machine's first request to its last: the operations of every
        step but the last, as the clocks currently expect them (the quickest kind's figures:
        a machine whose verdict follows its enrollment takes longer, which is why those are
        let in first)."""
        steps = self.plan.actions[:-1]
        return min(sum(kind.expected_seconds(a) for a in steps) for kind in self.kinds)

    def _record(self, item: PlanItem, result: MachineResult) -> None:
        self.kinds.of(item.machine.id).forget(item.machine.id)
        self.results[item.resource] = result
        self.done += 1
        fresh = item.resource in self.fresh
        if fresh:
            self.finished[item.resource.lower()] = time.time()
        self.journal.ended(result, time.time(), replace=fresh)
        if time.monotonic() - self.recorded >= RECORD_EVERY:
            self._write_record()
        if self.progress is not None:
            self.progress(ProgressEvent(result, self.done, len(self.plan.items)))

    def _begun_before(self, item: PlanItem) -> bool:
        try:
            return self.journal.touched(item.resource)
        except JournalStorageError:  # cannot tell: taken as begun, so never skipped unseen
            return True

    def _journal_intact(self) -> bool:
        """Whether the run may start something new: its journal can still record what is
        sent (see `Journal.intact`; a run without one always may)."""
        return self.journal.intact()

    def _fail_unfinished(self, code: str, message: str) -> None:
        for item in self.plan.items:
            if item.resource not in self.results:
                self.results[item.resource] = MachineResult(
                    item.resource, item.machine.kind.value, Outcome.FAILED, code, message
                )

    def _journal_failed(self, what: str) -> str:
        """A machine's message: ``what`` the run did not do, because its journal failed
        (the journal's error, which says what happened and the fix)."""
        failure = self.journal.failure
        assert failure is not None
        return f"{what}: the run stopped taking machines because of its journal: {failure}"

    async def _prepare(self) -> None:
        """What each kind fetches ahead for the machines it will run (Arc: their patch
        history, in a few batched queries); the journal learns which machines the run is to
        take."""
        self.journal.planned((i.resource, i.machine.kind.value) for i in self.plan.items)
        for kind in self.kinds:
            machines = [i.machine.id for i in self.plan.to_run if i.machine.kind is kind.kind]
            if machines:
                await kind.prepare(machines, self.plan.actions)

    # --- one machine --------------------------------------------------------------------------

    async def _machine(self, item: PlanItem) -> MachineResult:
        kind = item.machine.kind.value
        if item.skip is not None:
            if self._begun_before(item):
                return self._resumed_but_now_ineligible(item)
            self.fresh.add(item.resource)
            return MachineResult(
                item.resource, kind, Outcome.SKIPPED, item.skip.rule.value, str(item.skip)
            )
        steps: list[StepResult] = []
        for action in item.steps:
            if not self._journal_intact():
                return self._stopped(item, action, steps)
            self.session.prioritize(self._priority(item, action))
            again = False
            if action is Action.ENABLE and (item.remediate or self._remediating(item)):
                steps.append(await self._remediation(item))
                if steps[-1].outcome is not Outcome.SUCCEEDED:
                    break
                again = self._refused_before(item)
            step = await self._step_once(item, action, again=again)
            if self._remediates_after(item, step):
                # found only now (an Arc machine that answered ActionRequired): remediate,
                # then enroll again; the failed attempt is not the machine's outcome
                steps.append(await self._remediation(item))
                if steps[-1].outcome is not Outcome.SUCCEEDED:
                    break
                step = await self._step_once(item, action, again=True)
            steps.append(step)
            if step.outcome is not Outcome.SUCCEEDED:
                break
        return MachineResult.of_steps(item.resource, kind, tuple(steps))

    async def _guarded(self, item: PlanItem) -> MachineResult:
        """A machine's steps; a journal that cannot be read any more ends the machine
        (failed, with the journal's error) rather than the run."""
        try:
            return await self._machine(item)
        except JournalStorageError:
            return self._stopped(item, None, [])

    def _stopped(
        self, item: PlanItem, action: Action | None, steps: list[StepResult]
    ) -> MachineResult:
        """A machine the run stopped taking because its journal failed: what it reached,
        and which step was not started."""
        what = (
            f"its {action.value} step was not started"
            if action is not None and steps
            else "not started"
        )
        return MachineResult(
            item.resource,
            item.machine.kind.value,
            Outcome.FAILED,
            JOURNAL_UNWRITABLE,
            self._journal_failed(f"{item.resource}: {what}"),
            tuple(steps),
        )

    async def _step_once(
        self, item: PlanItem, action: Action, *, again: bool = False
    ) -> StepResult:
        """A step, or what the journal says of it when an earlier run finished it (unless
        ``again``: after a remediation, the enrollment it refused is attempted anew)."""
        prior = self.journal.step(item.resource, action.value)
        if prior and prior.done and not again and not self._retried(prior):
            return prior.as_step()
        return await self._step(item, action, prior)

    # --- remediation (Run Command) -------------------------------------------------------------

    def _remediates_after(self, item: PlanItem, step: StepResult) -> bool:
        """An enrollment refused for what a script fixes, in a run that remediates, on a
        machine not remediated yet in this run."""
        return (
            self.plan.remediate
            and step.action == Action.ENABLE.value
            and step.code in _REMEDIABLE_CODES
            and item.resource not in self.remediated
        )

    def _refused_before(self, item: PlanItem) -> bool:
        """An enrollment an earlier run attempted and Azure refused for what a remediation
        fixes (the run was killed while remediating): once the remediation is done, the
        enrollment is attempted anew, not reported as the journal has it."""
        prior = self.journal.step(item.resource, Action.ENABLE.value)
        return prior is not None and prior.done and prior.code in _REMEDIABLE_CODES

    def _remediating(self, item: PlanItem) -> bool:
        """A remediation an earlier run began and did not finish (killed while the machine
        restarted): the fresh plan may no longer list the machine as remediable, since the
        restart may have fixed it, but the remediation is finished first, so that the
        journal and the report say what was done to the machine."""
        if not self.plan.remediate:
            return False
        prior = self.journal.step(item.resource, REMEDIATE_STEP)
        return prior is not None and not prior.done

    async def _remediation(self, item: PlanItem) -> StepResult:
        """Measure, fix and (where the plan's reboot policy allows) restart the machine, as
        a journaled step: a restart's intent is committed before it is sent, so a resumed
        run never restarts a machine twice. Waiting for a restart (not allowed yet) is not
        final: a later run with the same journal takes it up again."""
        self.remediated.add(item.resource)
        prior = self.journal.step(item.resource, REMEDIATE_STEP)
        if prior and prior.done and prior.code not in _WAITING and not self._retried(prior):
            return prior.as_step()
        started = time.monotonic()
        rid = item.machine.id
        try:
            if prior is not None and prior.done:
                self.journal.reopened(item.resource, REMEDIATE_STEP)
            self.journal.started(item.resource, REMEDIATE_STEP)
            self._refuse_if_disabled(item)
            done = await self.kinds.of(rid).remediate(
                rid,
                item.machine.facts,
                fix=True,
                reboot=self.plan.reboot or RebootPolicy(),
                ledger=self.journal,
                deadline=self.session.deadline(self.options.remediate_deadline),
            )
            step = _remediation_step(done)
        except HotpatchError as error:
            step = self._failed_step(item, REMEDIATE_STEP, error)
        step = replace(step, seconds=time.monotonic() - started)
        self._journal_finished(item, step)
        return step

    def _retried(self, prior: StepRecord) -> bool:
        """Whether this run attempts a finished step again: a failed one, when asked to."""
        return self.options.retry_failed and prior.outcome == Outcome.FAILED.value

    def _priority(self, item: PlanItem, action: Action) -> int:
        """Longest remaining work first (see the pacing module): earlier steps start longer
        chains, and an Arc enrollment's writes go before a VM's, since the machine's own
        verdict (tens of seconds to minutes) still follows them."""
        steps_left = len(self.plan.actions) - self.plan.actions.index(action)
        return 2 * steps_left + (1 if _verdict_follows(item, action) else 0)

    def _resumed_but_now_ineligible(self, item: PlanItem) -> MachineResult:
        """A machine this run had begun on before a restart, which the fresh plan now finds
        ineligible (often because of our own attempt, e.g. an Arc machine that answered
        ActionRequired). What the journal recorded decides; unfinished work is a failure."""
        assert item.skip is not None
        kind = item.machine.kind.value
        steps: list[StepResult] = []
        for action in self.plan.actions:
            record = self.journal.step(item.resource, action.value)
            if record is None or not record.done:
                break
            steps.append(record.as_step())
            if record.outcome != Outcome.SUCCEEDED.value:
                return MachineResult.of_steps(item.resource, kind, tuple(steps))
        if len(steps) == len(self.plan.actions):
            return MachineResult.of_steps(item.resource, kind, tuple(steps))
        return MachineResult(
            item.resource, kind, Outcome.FAILED, item.skip.rule.value, str(item.skip), tuple(steps)
        )

    async def _step(self, item: PlanItem, action: Action, prior: StepRecord | None) -> StepResult:
        started = time.monotonic()
        self.fresh.add(item.resource)
        try:
            if prior is not None and prior.done:
                self.journal.reopened(item.resource, action.value)
            self.journal.started(item.resource, action.value)
            self._refuse_if_disabled(item)
            if action in (Action.ENABLE, Action.DISABLE):
                step = StepResult(
                    action.value, Outcome.SUCCEEDED, detail=await self._enrollment(item, action)
                )
            else:
                patched = await self._patch(item, action, prior)
                step = StepResult(
                    action.value,
                    Outcome.SUCCEEDED,
                    patched.code,
                    patched.message,
                    patched.detail,
                )
        except HotpatchError as error:
            step = self._failed_step(item, action, error)
        except _StepFailedError as failed:
            step = StepResult(
                action.value,
                Outcome.FAILED,
                failed.code,
                failed.message,
                failed.detail,
                azure_code=failed.azure_code,
            )
        step = replace(step, seconds=time.monotonic() - started)
        self._journal_finished(item, step)
        return step

    def _journal_finished(self, item: PlanItem, step: StepResult) -> None:
        self.journal.finished(
            item.resource,
            step.action,
            step.outcome.value,
            code=step.code,
            azure_code=step.azure_code,
            request_id=step.request_id,
            message=step.message,
            detail=step.detail,
        )

    def _failed_step(
        self, item: PlanItem, action: Action | str, error: HotpatchError
    ) -> StepResult:
        """A step that ended in one of our errors, with our code (a prerequisite's rule, for
        one found only now) and what Azure said. A machine deleted since the inventory saw
        it is skipped as gone, not failed."""
        name = action.value if isinstance(action, Action) else action
        if isinstance(error, JournalStorageError):  # nothing was sent that it could not record
            said = self._journal_failed(f"{item.resource}: its {name} step sent nothing more")
            return StepResult(name, Outcome.FAILED, error.code, said)
        if isinstance(error, IneligibleError):
            code = error.reasons[0].rule.value if error.reasons else error.code
            return StepResult(name, Outcome.FAILED, code, str(error))
        azure_code = getattr(error, "azure_code", None)
        request_id = getattr(error, "request_id", None)
        if isinstance(error, ResourceNotFoundError) and azure_code in _GONE:
            return StepResult(
                name,
                Outcome.SKIPPED,
                MACHINE_GONE,
                f"{item.resource}: the machine no longer exists (deleted since the inventory "
                "listed it; Resource Graph can lag behind deletions by minutes). Fix: nothing "
                "to do, unless it was deleted by mistake.",
                azure_code=azure_code,
                request_id=request_id,
            )
        if isinstance(error, SubscriptionDisabledError):
            self.disabled.setdefault(item.machine.subscription_id.lower(), error)
        return StepResult(
            name,
            Outcome.FAILED,
            error.code,
            str(error),
            azure_code=azure_code,
            request_id=request_id,
        )

    def _refuse_if_disabled(self, item: PlanItem) -> None:
        """A machine in a subscription this run found disabled fails with that finding,
        without a request that could only be refused too."""
        error = self.disabled.get(item.machine.subscription_id.lower())
        if error is not None:
            raise SubscriptionDisabledError(
                "the subscription is disabled (read-only); found on "
                f"{error.resource}, so no change was attempted here",
                resource=item.resource,
                fix=error.fix,
                status=error.status,
                azure_code=error.azure_code,
            )

    async def _enrollment(self, item: PlanItem, action: Action) -> dict[str, Any]:
        rid = item.machine.id
        deadline = self.session.deadline(self.options.enable_deadline)
        result = await self.kinds.of(rid).enroll(
            rid, item.machine.facts, enable=action is Action.ENABLE, deadline=deadline
        )
        return {
            "before": result.before.value,
            "after": result.after.value,
            "changed": result.changed,
            "detail": result.detail,
        }

    async def _patch(self, item: PlanItem, action: Action, prior: StepRecord | None) -> _Patched:
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
                if isinstance(sent, _Patched):
                    return sent
                token, started = sent
                fresh = True
        else:
            previous = await kind.previous(rid, action)
            sent = await self._unless_elsewhere(item, action, previous, deadline, again=retry)
            if isinstance(sent, _Patched):
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
    ) -> _Patched | tuple[OperationToken, Started]:
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
    ) -> _Patched | None:
        """Before an install is sent: the result of the install someone else is running, or
        started for the current release, on the machine (waited for, reading Azure's
        record); None when there is none and ours may go (see `azhotpatch.install_guard`)."""
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
        self.journal.intent(item.resource, action.value, previous)
        token, started = await self.kinds.of(rid).begin(rid, action, options, previous, deadline)
        self.journal.accepted(item.resource, action.value, token.encode())
        return token, started


def _by_subscription(items: tuple[PlanItem, ...]) -> dict[str, list[PlanItem]]:
    """Each subscription's machines in the order to start them: the longest expected work
    first (an Arc enrollment waits on the machine's own verdict), so the run does not end
    waiting on a few long chains started last; and the regions in turn, so that every
    region's Compute buckets have work from the start."""
    by_subscription: dict[str, dict[str, list[PlanItem]]] = {}
    for item in sorted(items, key=_expected_work, reverse=True):
        regions = by_subscription.setdefault(item.machine.subscription_id.lower(), {})
        regions.setdefault(item.machine.location.lower(), []).append(item)
    return {
        subscription: _in_turn(list(regions.values()))
        for subscription, regions in sorted(by_subscription.items())
    }


def _expected_work(item: PlanItem) -> int:
    return len(item.steps) + (1 if _verdict_follows(item, Action.ENABLE) else 0)


def _verdict_follows(item: PlanItem, action: Action) -> bool:
    """Whether the step is an enrollment the machine's own verdict follows (Arc), which makes
    its chain longer than its requests alone."""
    return (
        action is Action.ENABLE
        and action in item.steps
        and (KINDS[item.machine.kind].verdict_follows_enrollment)
    )


def _in_turn(groups: list[list[PlanItem]]) -> list[PlanItem]:
    """One from each group in turn until all are used up."""
    lanes: list[Iterator[PlanItem]] = [iter(group) for group in groups]
    ordered: list[PlanItem] = []
    while lanes:
        still = []
        for lane in lanes:
            item = next(lane, None)
            if item is not None:
                ordered.append(item)
                still.append(lane)
        lanes = still
    return ordered


@dataclass(frozen=True)
class _Patched:
    """A finished assessment's or installation's detail; ``code`` and ``message`` say when
    the install was someone else's (`azhotpatch.install_guard`)."""

    detail: dict[str, Any]
    code: str | None = None
    message: str | None = None


class _StepFailedError(Exception):
    """Azure ran the operation and it did not succeed: our code, and Azure's where it gave
    one."""

    def __init__(
        self, code: str, message: str, detail: dict[str, Any], azure_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail
        self.azure_code = azure_code


def _judge(result: Assessment | Installation) -> _Patched:
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
        return _Patched(detail)
    if isinstance(result, Installation) and result.failed:
        raise _StepFailedError(
            PATCHES_FAILED,
            f"{result.resource}: {result.failed} patches failed to install. Fix: see the "
            "machine's installation result for each patch's error, then retry "
            "(--retry-failed)",
            detail,
        )
    error = result.error
    raise _StepFailedError(
        OperationFailedError.code,
        f"{result.resource}: the operation ended {result.status.value}"
        + (f" ({error})" if error else "")
        + ". Fix: retry (--retry-failed); if it keeps failing, check the machine's guest "
        "agent and Windows Update logs",
        detail,
        azure_code=error.code if error else None,
    )


def _theirs_judged(result: Installation, detail: dict[str, Any]) -> _Patched:
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
        f"{result.resource}: the current release's install was started by {other.who} as "
        f"operation {other.activity_id}{when}, so none was sent"
    )
    if result.status is OperationStatus.SUCCEEDED:
        message = (
            f"{head}; it succeeded ({result.installed} installed) and is this machine's result."
            " Fix: nothing to do; to install anyway, run again with --install-again"
        )
        return _Patched(detail, code, message)
    error = f" ({result.error})" if result.error else ""
    failed = f", {result.failed} patches failed" if result.failed else ""
    raise _StepFailedError(
        code,
        f"{head}; it ended {result.status.value}{failed}{error}, which is this machine's "
        "result. Fix: retry (--retry-failed with the same journal) to send an install, or "
        "run again with --install-again",
        detail,
        azure_code=result.error.code if result.error else None,
    )


def _remediation_step(done: Remediation) -> StepResult:
    """A remediation's outcome: succeeded when the machine can now be enrolled; skipped,
    with the reason and its manual fix, when no script can fix it; skipped for now when its
    fixes wait for a restart this run may not make."""
    detail: dict[str, Any] = {
        "fixes": [f.value for f in done.fixes],
        "applied": done.applied,
        "reboot": done.reboot.value,
        "reboot_after": done.reboot_after.isoformat() if done.reboot_after else None,
        "scripts": list(done.scripts),
        "vbs_running": done.after.vbs_running if done.after else None,
    }
    if done.blockers:
        first = done.blockers[0]
        message = f"{done.resource}: " + " ".join(str(r) for r in done.blockers)
        return StepResult(REMEDIATE_STEP, Outcome.SKIPPED, first.rule.value, message, detail)
    if done.ready:
        return StepResult(REMEDIATE_STEP, Outcome.SUCCEEDED, detail=detail)
    waiting = REBOOT_DEFERRED if done.reboot is RebootState.DEFERRED else REBOOT_REQUIRED
    message = f"{done.resource}: {done.detail}. Fix: run again with the same journal " + (
        "once the restart's time has come" if waiting == REBOOT_DEFERRED else "and reboot="
    )
    return StepResult(REMEDIATE_STEP, Outcome.SKIPPED, waiting, message, detail)


async def run(
    session: Session, plan: Plan, options: RunOptions, progress: Progress | None = None
) -> Report:
    """Run a plan (see the module docstring)."""
    return await _Runner(session, plan, options, progress).run()
