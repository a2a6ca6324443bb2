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
release (`azhotpatch._operations.install_guard`); that install's result is the machine's, with the
code ``PatchedByAnotherRun`` or ``PatchedByPlatform`` and the other operation's id, and it counts
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from azhotpatch._azure.session import Arrival, Session
from azhotpatch.errors import Fix
from azhotpatch.fleet import collector
from azhotpatch.fleet._machine_steps import MachineSteps
from azhotpatch.fleet._run_context import (
    DEADLINE_EXCEEDED,
    JOURNAL_UNWRITABLE,
    MACHINE_GONE,
    PATCHES_FAILED,
    REBOOT_DEFERRED,
    REBOOT_REQUIRED,
    RunContext,
    RunOptions,
    verdict_follows,
)
from azhotpatch.fleet._run_record import RunRecord
from azhotpatch.fleet.plan import Plan, PlanItem
from azhotpatch.fleet.report import MachineResult, Outcome, Report
from azhotpatch.models import Action

__all__ = [
    "DEADLINE_EXCEEDED",
    "JOURNAL_UNWRITABLE",
    "MACHINE_GONE",
    "PATCHES_FAILED",
    "REBOOT_DEFERRED",
    "REBOOT_REQUIRED",
    "ProgressEvent",
    "RunOptions",
    "run",
]


@dataclass(frozen=True)
class ProgressEvent:
    machine: MachineResult
    done: int
    total: int


Progress = Callable[[ProgressEvent], None]


class _Runner:
    """A run: lets each subscription's machines in as its buckets can serve them, within
    the run's deadline and its journal's health, and assembles the report; each machine's
    steps are `MachineSteps`', the run's record `RunRecord`'s."""

    def __init__(
        self, session: Session, plan: Plan, options: RunOptions, progress: Progress | None
    ) -> None:
        self.context = RunContext(session, plan, options)
        self.session = session
        self.plan = plan
        self.options = options
        self.progress = progress
        self.journal = self.context.journal
        self.kinds = self.context.kinds
        self.machines = MachineSteps(self.context)
        self.record = RunRecord(session, plan, self.journal)
        self.results: dict[str, MachineResult] = {}
        self.slots = asyncio.Semaphore(options.concurrency) if options.concurrency else None
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = 0

    # --- the run ------------------------------------------------------------------------------

    async def run(self) -> Report:
        started = time.monotonic()
        try:
            with (
                # only a journal drains the traffic counts: kept without one, the bins
                # would be a second copy that only grows for the whole run
                self.session.recording(
                    drained=self.options.journal is not None
                ) as self.record.traffic,
                collector.tuned_for_a_run(self.options.tune_collector),
            ):
                await self._prepare()
                await self._all()
        finally:
            self.record.write()
            await self.context.close()
        requests, throttled, transport_errors = self.record.sent()
        return Report(
            actions=tuple(a.value for a in self.plan.actions),
            machines=tuple(self.results[i.resource] for i in self.plan.items),
            elapsed=time.monotonic() - started,
            requests=requests,
            throttled=throttled,
            transport_errors=transport_errors,
            resumed=self.journal.resumed,
            calendar=self.plan.calendar_note,
            timeline=self.record.timeline(),
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
                "the run's deadline passed first",
                Fix.of("rerun with the same journal to resume"),
            )
        except asyncio.CancelledError:
            # stopped from outside (a signal through the command line, or the caller's
            # task cancelled): no machine starts after this, and those in flight stop where
            # they wait, their intents and tokens already committed to the journal
            await self._cancel(feeders)
            raise
        failure = self.journal.failure
        if failure is not None:
            self._fail_unfinished(
                JOURNAL_UNWRITABLE, self.context.journal_failed("not started"), failure.remedy
            )

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
            if item.skip is not None and not self.context.begun_before(item):
                self._record(item, await self.machines.run(item))  # no request: reported as is
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
            result = await self.machines.run(item)
        finally:
            self.session.leave(admitted)
            if self.slots is not None:
                self.slots.release()
        self._record(item, result)

    def _horizon(self) -> float:
        """Wall seconds from a machine's first request to its last: the operations of every
        step but the last, as the poll cadences currently expect them (the quickest kind's figures:
        a machine whose verdict follows its enrollment takes longer, which is why those are
        let in first)."""
        steps = self.plan.actions[:-1]
        return min(sum(kind.expected_seconds(a) for a in steps) for kind in self.kinds)

    def _record(self, item: PlanItem, result: MachineResult) -> None:
        self.kinds.of(item.machine.id).forget(item.machine.id)
        self.results[item.resource] = result
        self.done += 1
        self.record.machine_ended(item.resource, result, fresh=item.resource in self.context.fresh)
        if self.progress is not None:
            self.progress(ProgressEvent(result, self.done, len(self.plan.items)))

    def _journal_intact(self) -> bool:
        """Whether the run may start something new: its journal can still record what is
        sent (see `Journal.intact`; a run without one always may)."""
        return self.journal.intact()

    def _fail_unfinished(self, code: str, problem: str, fix: Fix | None) -> None:
        for item in self.plan.items:
            if item.resource not in self.results:
                self.results[item.resource] = MachineResult.explained(
                    item.resource,
                    item.machine.kind.value,
                    Outcome.FAILED,
                    code,
                    problem=problem,
                    fix=fix,
                )

    async def _prepare(self) -> None:
        """What each kind fetches ahead for the machines it will run (Arc: their patch
        history, in a few batched queries); the journal learns which machines the run is to
        take."""
        self.journal.record_plan((i.resource, i.machine.kind.value) for i in self.plan.items)
        for kind in self.kinds:
            machines = [i.machine.id for i in self.plan.to_run if i.machine.kind is kind.kind]
            if machines:
                await kind.prepare(machines, self.plan.actions)


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
    return len(item.steps) + (1 if verdict_follows(item, Action.ENABLE) else 0)


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


async def run(
    session: Session, plan: Plan, options: RunOptions, progress: Progress | None = None
) -> Report:
    """Run a plan (see the module docstring)."""
    return await _Runner(session, plan, options, progress).run()
