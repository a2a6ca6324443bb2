"""What the parts of one fleet run share: the plan and its options, the journal (or
`NoJournal`), each kind's objects, Azure's install records, and what the run learnt on the
way (subscriptions found disabled, machines it began). A run is a few small objects composed
around one `RunContext` (`azhotpatch.fleet._runner` lets machines in and reports;
`azhotpatch.fleet._machine_steps` takes one machine through its steps, with
`azhotpatch.fleet._patch_step` for an assessment or install and
`azhotpatch.fleet._remediation_step` for a remediation); the context also holds the few rules
every step follows alike: how a failure becomes a step's result, how a finished step is
journaled, and when a finished step is attempted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from azhotpatch._azure.session import Session
from azhotpatch._operations.install_guard import InstallRecords
from azhotpatch._operations.kinds import KINDS, Kinds
from azhotpatch.errors import (
    Fix,
    HotpatchError,
    IneligibleError,
    JournalStorageError,
    ResourceNotFoundError,
    SubscriptionDisabledError,
)
from azhotpatch.fleet._no_journal import NoJournal, RunJournal
from azhotpatch.fleet.journal import Journal, StepRecord
from azhotpatch.fleet.plan import Plan, PlanItem
from azhotpatch.fleet.report import Outcome, StepResult, problem_in
from azhotpatch.models import Action, InstallOptions
from azhotpatch.remediation import REMEDIABLE

__all__ = ["RunContext", "RunOptions"]

# Our codes for outcomes no exception carries (docs/troubleshooting.md lists every code).
MACHINE_GONE = "MachineGone"
PATCHES_FAILED = "PatchesFailed"
REBOOT_REQUIRED = "RebootRequired"  # fixes set; no restart allowed (pass reboot=)
REBOOT_DEFERRED = "RebootDeferred"  # fixes set; the restart waits for its window
WAITING = (REBOOT_REQUIRED, REBOOT_DEFERRED)
DEADLINE_EXCEEDED = "DeadlineExceeded"
JOURNAL_UNWRITABLE = JournalStorageError.code  # the run stopped: its journal failed
REMEDIABLE_CODES = frozenset(r.value for r in REMEDIABLE)
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
    # is installing) the current release (see `azhotpatch._operations.install_guard`)
    install_again: bool = False
    # an out-of-band release's day: installs that started before it are not this release's
    released: date | None = None


class RunContext:
    """One run's shared state and the rules its steps share (see the module docstring)."""

    def __init__(self, session: Session, plan: Plan, options: RunOptions) -> None:
        self.session = session
        self.plan = plan
        self.options = options
        self.install = plan.install or options.install
        # the run's journal, or one that records nothing: the steps never ask which
        self.journal: RunJournal = options.journal or NoJournal()
        # each kind of machine for this run: its learned poll cadences, watchers and history
        self.kinds = Kinds(session, at_scale=True)
        # what Azure records of each machine's installs, read in batches before each install
        self.installs = InstallRecords(
            session, fallback=lambda rid: self.kinds.of(rid).own_installs(rid)
        )
        # subscriptions found disabled (read-only): their other machines fail without a call
        self.disabled: dict[str, SubscriptionDisabledError] = {}
        # this run's own machines (not those a resumed run found concluded)
        self.fresh: set[str] = set()

    async def close(self) -> None:
        await self.kinds.close()
        await self.installs.close()

    def begun_before(self, item: PlanItem) -> bool:
        try:
            return self.journal.touched(item.resource)
        except JournalStorageError:  # cannot tell: taken as begun, so never skipped unseen
            return True

    def journal_failed(self, what: str) -> str:
        """A machine's problem: ``what`` the run did not do, because its journal failed
        (the journal's error says what happened; its fix is the machine's)."""
        failure = self.journal.failure
        assert failure is not None
        return (
            f"{what}: the run stopped taking machines because of its journal: "
            f"{failure.resource}: {failure.problem}"
        )

    def retried(self, prior: StepRecord) -> bool:
        """Whether this run attempts a finished step again: a failed one, when asked to."""
        return self.options.retry_failed and prior.outcome == Outcome.FAILED.value

    def journal_finished(self, item: PlanItem, step: StepResult) -> None:
        self.journal.record_finish(
            item.resource,
            step.action,
            step.outcome.value,
            code=step.code,
            azure_code=step.azure_code,
            request_id=step.request_id,
            message=step.message,
            problem=step.problem,
            fix=step.fix,
            detail=step.detail,
        )

    def failed_step(self, item: PlanItem, action: Action | str, error: HotpatchError) -> StepResult:
        """A step that ended in one of our errors, with our code (a prerequisite's rule, for
        one found only now) and what Azure said. A machine deleted since the inventory saw
        it is skipped as gone, not failed."""
        name = action.value if isinstance(action, Action) else action
        resource = item.resource
        if isinstance(error, JournalStorageError):  # nothing was sent that it could not record
            said = self.journal_failed(f"its {name} step sent nothing more")
            return StepResult.explained(
                name, Outcome.FAILED, error.code, resource=resource, problem=said, fix=error.remedy
            )
        problem = problem_in(resource, error)
        if isinstance(error, IneligibleError):
            code = error.reasons[0].rule.value if error.reasons else error.code
            return StepResult.explained(
                name, Outcome.FAILED, code, resource=resource, problem=problem, fix=error.remedy
            )
        azure_code = getattr(error, "azure_code", None)
        request_id = getattr(error, "request_id", None)
        if isinstance(error, ResourceNotFoundError) and azure_code in _GONE:
            return StepResult.explained(
                name,
                Outcome.SKIPPED,
                MACHINE_GONE,
                resource=resource,
                problem="the machine no longer exists (deleted since the inventory listed it; "
                "Resource Graph can lag behind deletions by minutes).",
                fix=Fix.of("nothing to do, unless it was deleted by mistake."),
                azure_code=azure_code,
                request_id=request_id,
            )
        if isinstance(error, SubscriptionDisabledError):
            self.disabled.setdefault(item.machine.subscription_id.lower(), error)
        return StepResult.explained(
            name,
            Outcome.FAILED,
            error.code,
            resource=resource,
            problem=problem,
            fix=error.remedy,
            azure_code=azure_code,
            request_id=request_id,
        )

    def refuse_if_disabled(self, item: PlanItem) -> None:
        """A machine in a subscription this run found disabled fails with that finding,
        without a request that could only be refused too."""
        error = self.disabled.get(item.machine.subscription_id.lower())
        if error is not None:
            raise SubscriptionDisabledError(
                "the subscription is disabled (read-only); found on "
                f"{error.resource}, so no change was attempted here",
                resource=item.resource,
                fix=error.remedy,
                status=error.status,
                azure_code=error.azure_code,
            )


def verdict_follows(item: PlanItem, action: Action) -> bool:
    """Whether the step is an enrollment the machine's own verdict follows (Arc), which makes
    its chain longer than its requests alone."""
    return (
        action is Action.ENABLE
        and action in item.steps
        and (KINDS[item.machine.kind].verdict_follows_enrollment)
    )
