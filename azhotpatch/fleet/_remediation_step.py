"""A fleet run's remediation of a machine (Run Command: measure, fix, restart), taken as a
journaled step before the machine's enrollment.

It runs when the plan lists the machine as remediable, when an earlier run began it and did
not finish (killed while the machine restarted), or when the enrollment is refused for what a
script fixes (an Arc machine that answers ActionRequired), and at most once per machine in a
run. A restart's intent is committed to the journal before it is sent, so a resumed run never
restarts a machine twice; a remediation waiting for a restart this run may not make is not
final, and a later run with the same journal takes it up again.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from azhotpatch.errors import (
    REBOOT,
    Fix,
    HotpatchError,
)
from azhotpatch.fleet._run_context import (
    REBOOT_DEFERRED,
    REBOOT_REQUIRED,
    REMEDIABLE_CODES,
    WAITING,
    RunContext,
)
from azhotpatch.fleet.journal import REMEDIATE_STEP
from azhotpatch.fleet.plan import PlanItem
from azhotpatch.fleet.report import Outcome, StepResult
from azhotpatch.models import Action
from azhotpatch.remediation import RebootPolicy, RebootState, Remediation

__all__ = ["RemediationStep"]


class RemediationStep:
    """Remediations for one run (see the module docstring)."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.session = context.session
        self.plan = context.plan
        self.options = context.options
        self.journal = context.journal
        self.kinds = context.kinds
        self.remediated: set[str] = set()  # machines remediated in this run

    def needed_after(self, item: PlanItem, step: StepResult) -> bool:
        """An enrollment refused for what a script fixes, in a run that remediates, on a
        machine not remediated yet in this run."""
        return (
            self.plan.remediate
            and step.action == Action.ENABLE.value
            and step.code in REMEDIABLE_CODES
            and item.resource not in self.remediated
        )

    def refused_before(self, item: PlanItem) -> bool:
        """An enrollment an earlier run attempted and Azure refused for what a remediation
        fixes (the run was killed while remediating): once the remediation is done, the
        enrollment is attempted anew, not reported as the journal has it."""
        prior = self.journal.step(item.resource, Action.ENABLE.value)
        return prior is not None and prior.done and prior.code in REMEDIABLE_CODES

    def unfinished(self, item: PlanItem) -> bool:
        """A remediation an earlier run began and did not finish (killed while the machine
        restarted): the fresh plan may no longer list the machine as remediable, since the
        restart may have fixed it, but the remediation is finished first, so that the
        journal and the report say what was done to the machine."""
        if not self.plan.remediate:
            return False
        prior = self.journal.step(item.resource, REMEDIATE_STEP)
        return prior is not None and not prior.done

    async def run(self, item: PlanItem) -> StepResult:
        """Measure, fix and (where the plan's reboot policy allows) restart the machine, as
        a journaled step: a restart's intent is committed before it is sent, so a resumed
        run never restarts a machine twice. Waiting for a restart (not allowed yet) is not
        final: a later run with the same journal takes it up again."""
        self.remediated.add(item.resource)
        prior = self.journal.step(item.resource, REMEDIATE_STEP)
        if prior and prior.done and prior.code not in WAITING and not self.context.retried(prior):
            return prior.as_step()
        started = time.monotonic()
        rid = item.machine.id
        try:
            if prior is not None and prior.done:
                self.journal.record_reopening(item.resource, REMEDIATE_STEP)
            self.journal.record_start(item.resource, REMEDIATE_STEP)
            self.context.refuse_if_disabled(item)
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
            step = self.context.failed_step(item, REMEDIATE_STEP, error)
        step = replace(step, seconds=time.monotonic() - started)
        self.context.journal_finished(item, step)
        return step


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
        return StepResult.explained(
            REMEDIATE_STEP,
            Outcome.SKIPPED,
            first.rule.value,
            resource=done.resource,
            problem="; ".join(r.message for r in done.blockers),
            fix=Fix.joined(r.fix for r in done.blockers),
            detail=detail,
        )
    if done.ready:
        return StepResult(REMEDIATE_STEP, Outcome.SUCCEEDED, detail=detail)
    waiting = REBOOT_DEFERRED if done.reboot is RebootState.DEFERRED else REBOOT_REQUIRED
    fix = (
        Fix.of("run again with the same journal once the restart's time has come")
        if waiting == REBOOT_DEFERRED
        else Fix.of("run again with the same journal and ", REBOOT)
    )
    return StepResult.explained(
        REMEDIATE_STEP,
        Outcome.SKIPPED,
        waiting,
        resource=done.resource,
        problem=f"{done.detail}.",
        fix=fix,
        detail=detail,
    )
