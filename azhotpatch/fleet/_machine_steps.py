"""One machine's steps in a fleet run, in the plan's order, each ending before the next.

A step an earlier run finished is reported as the journal has it (unless the run retries
failed steps); an enrollment is a write from the inventory's facts; an assessment or install
goes through `azhotpatch.fleet._patch_step`, which sends it at most once; a remediation, where
the run makes one, comes before the enrollment (`azhotpatch.fleet._remediation_step`). A
machine ends at its first step that does not succeed, and when its journal can no longer
record what would be sent, with what it reached.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from azhotpatch.errors import (
    HotpatchError,
    JournalStorageError,
)
from azhotpatch.fleet._patch_step import PatchStep, StepFailedError
from azhotpatch.fleet._remediation_step import RemediationStep
from azhotpatch.fleet._run_context import (
    JOURNAL_UNWRITABLE,
    RunContext,
    verdict_follows,
)
from azhotpatch.fleet.journal import StepRecord
from azhotpatch.fleet.plan import PlanItem
from azhotpatch.fleet.report import MachineResult, Outcome, StepResult
from azhotpatch.models import Action

__all__ = ["MachineSteps"]


class MachineSteps:
    """Takes one machine at a time through its steps (see the module docstring)."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.session = context.session
        self.plan = context.plan
        self.options = context.options
        self.journal = context.journal
        self.kinds = context.kinds
        self.fresh = context.fresh
        self.patches = PatchStep(context)
        self.remediations = RemediationStep(context)

    async def run(self, item: PlanItem) -> MachineResult:
        """A machine's steps; a journal that cannot be read any more ends the machine
        (failed, with the journal's error) rather than the run."""
        try:
            return await self._machine(item)
        except JournalStorageError:
            return self._stopped(item, None, [])

    async def _machine(self, item: PlanItem) -> MachineResult:
        kind = item.machine.kind.value
        if item.skip is not None:
            if self.context.begun_before(item):
                return self._resumed_but_now_ineligible(item)
            self.fresh.add(item.resource)
            return MachineResult.explained(
                item.resource,
                kind,
                Outcome.SKIPPED,
                item.skip.rule.value,
                problem=item.skip.message,
                fix=item.skip.fix,
            )
        steps: list[StepResult] = []
        for action in item.steps:
            if not self.journal.intact():
                return self._stopped(item, action, steps)
            self.session.prioritize(self._priority(item, action))
            again = False
            if action is Action.ENABLE and (item.remediate or self.remediations.unfinished(item)):
                steps.append(await self.remediations.run(item))
                if steps[-1].outcome is not Outcome.SUCCEEDED:
                    break
                again = self.remediations.refused_before(item)
            step = await self._step_once(item, action, again=again)
            if self.remediations.needed_after(item, step):
                # found only now (an Arc machine that answered ActionRequired): remediate,
                # then enroll again; the failed attempt is not the machine's outcome
                steps.append(await self.remediations.run(item))
                if steps[-1].outcome is not Outcome.SUCCEEDED:
                    break
                step = await self._step_once(item, action, again=True)
            steps.append(step)
            if step.outcome is not Outcome.SUCCEEDED:
                break
        return MachineResult.of_steps(item.resource, kind, tuple(steps))

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
        failure = self.journal.failure
        assert failure is not None
        return MachineResult.explained(
            item.resource,
            item.machine.kind.value,
            Outcome.FAILED,
            JOURNAL_UNWRITABLE,
            problem=self.context.journal_failed(what),
            fix=failure.remedy,
            steps=tuple(steps),
        )

    async def _step_once(
        self, item: PlanItem, action: Action, *, again: bool = False
    ) -> StepResult:
        """A step, or what the journal says of it when an earlier run finished it (unless
        ``again``: after a remediation, the enrollment it refused is attempted anew)."""
        prior = self.journal.step(item.resource, action.value)
        if prior and prior.done and not again and not self.context.retried(prior):
            return prior.as_step()
        return await self._step(item, action, prior)

    def _priority(self, item: PlanItem, action: Action) -> int:
        """Longest remaining work first (see the pacing module): earlier steps start longer
        chains, and an Arc enrollment's writes go before a VM's, since the machine's own
        verdict (tens of seconds to minutes) still follows them."""
        steps_left = len(self.plan.actions) - self.plan.actions.index(action)
        return 2 * steps_left + (1 if verdict_follows(item, action) else 0)

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
        return MachineResult.explained(
            item.resource,
            kind,
            Outcome.FAILED,
            item.skip.rule.value,
            problem=item.skip.message,
            fix=item.skip.fix,
            steps=tuple(steps),
        )

    async def _step(self, item: PlanItem, action: Action, prior: StepRecord | None) -> StepResult:
        started = time.monotonic()
        self.fresh.add(item.resource)
        try:
            if prior is not None and prior.done:
                self.journal.record_reopening(item.resource, action.value)
            self.journal.record_start(item.resource, action.value)
            self.context.refuse_if_disabled(item)
            if action in (Action.ENABLE, Action.DISABLE):
                step = StepResult(
                    action.value, Outcome.SUCCEEDED, detail=await self._enrollment(item, action)
                )
            else:
                patched = await self.patches.patch(item, action, prior)
                step = StepResult(action.value, Outcome.SUCCEEDED, detail=patched.detail)
                if patched.problem is not None:
                    step = StepResult.explained(
                        action.value,
                        Outcome.SUCCEEDED,
                        patched.code,
                        resource=item.resource,
                        problem=patched.problem,
                        fix=patched.fix,
                        detail=patched.detail,
                    )
        except HotpatchError as error:
            step = self.context.failed_step(item, action, error)
        except StepFailedError as failed:
            step = StepResult.explained(
                action.value,
                Outcome.FAILED,
                failed.code,
                resource=item.resource,
                problem=failed.problem,
                fix=failed.fix,
                detail=failed.detail,
                azure_code=failed.azure_code,
            )
        step = replace(step, seconds=time.monotonic() - started)
        self.context.journal_finished(item, step)
        return step

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
