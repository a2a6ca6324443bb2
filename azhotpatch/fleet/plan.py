"""A plan before acting: for every machine, whether it is eligible (with every reason),
what enrollment will change, which steps will run, what Arc Hotpatch will cost over the
coming months, and where the Hotpatch calendar stands.

Building a plan reads nothing per machine: the inventory's facts plus one image-catalog
listing per region are enough. Plans print as a table, export as JSON or CSV, and render as
HTML in notebooks.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from azhotpatch import calendar, pricing, remediation
from azhotpatch._azure.session import Session
from azhotpatch._operations.kinds import Kinds
from azhotpatch.errors import PYTHON, InvalidArgumentError, Words
from azhotpatch.fleet._folding import COLORS, Group, html_groups, text_groups
from azhotpatch.fleet.inventory import InventoryFilter, MachineRecord
from azhotpatch.models import Action, Eligibility, InstallOptions, Reason
from azhotpatch.remediation import REMEDIABLE, RebootPolicy

__all__ = ["Action", "Plan", "PlanItem", "build_plan", "parse_actions"]


def parse_actions(actions: Iterable[Action | str] | Action | str) -> tuple[Action, ...]:
    """Validate a pipeline of actions: each known, none twice, enable xor disable, in the
    order enable/disable -> assess -> install."""
    if isinstance(actions, (str, Action)):
        actions = [actions]
    parsed: list[Action] = []
    for value in actions:
        try:
            action = Action(str(value.value if isinstance(value, Action) else value).lower())
        except ValueError:
            raise InvalidArgumentError(
                "actions",
                f"{value!r} is not an action",
                fix=f"use any of {', '.join(a.value for a in Action)}",
            ) from None
        if action in parsed:
            raise InvalidArgumentError(
                "actions", f"{action.value} is listed twice", fix="list it once"
            )
        parsed.append(action)
    if not parsed:
        raise InvalidArgumentError(
            "actions", "no action given", fix="e.g. ['enable', 'assess', 'install']"
        )
    if Action.ENABLE in parsed and Action.DISABLE in parsed:
        raise InvalidArgumentError("actions", "enable and disable together", fix="choose one")
    order = list(Action)
    return tuple(sorted(parsed, key=order.index))


@dataclass(frozen=True, slots=True)
class PlanItem:
    """What the run will do to one machine, and why."""

    machine: MachineRecord
    eligibility: Eligibility
    steps: tuple[Action, ...]
    skip: Reason | None = None
    monthly_cost: Decimal | None = None
    # blocked only by what a script and a restart fix (VBS, CHPE): remediated first
    remediate: bool = False

    @property
    def resource(self) -> str:
        return str(self.machine.id)

    @property
    def remediable(self) -> bool:
        """Blocked only by what `Hotpatch.remediate` can fix on the machine, whether or not
        this plan remediates."""
        return self.remediate or (
            bool(self.eligibility.blockers)
            and all(r.rule in REMEDIABLE for r in self.eligibility.blockers)
        )

    @property
    def skipped(self) -> bool:
        return self.skip is not None

    @property
    def changes(self) -> tuple[str, ...]:
        return tuple(r.rule.value for r in self.eligibility.changes)

    def as_dict(self, words: Words = PYTHON) -> dict[str, Any]:
        """Plain JSON, the skip's fix in ``words``."""
        return {
            "resource": self.resource,
            "kind": self.machine.kind.value,
            "location": self.machine.location,
            "steps": [s.value for s in self.steps],
            "skipped": self.skipped,
            "reason": self.skip.rule.value if self.skip else None,
            "message": self.skip.message if self.skip else None,
            "fix": self.skip.fix.render(words) if self.skip else None,
            "blockers": [r.rule.value for r in self.eligibility.blockers],
            "changes": list(self.changes),
            "cores": self.machine.cores,
            "monthly_cost_usd": str(self.monthly_cost) if self.monthly_cost is not None else None,
            "remediate": self.remediate,
            "remediable": self.remediable,
        }


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    items: tuple[PlanItem, ...]
    today: date
    install: InstallOptions | None = None
    months_ahead: int = 3
    cost: Decimal = Decimal("0.00")
    cost_lines: tuple[str, ...] = field(default_factory=tuple)
    # what the plan was asked to cover (a filter, or exact machines); None: not said
    scope: InventoryFilter | None = None
    # remediation through Run Command, and when its restarts may happen (None: not asked)
    reboot: RebootPolicy | None = None
    # how fixes are worded: a Python caller's by default (`in_words` for another edge)
    words: Words = PYTHON

    def __post_init__(self) -> None:
        if not self.items:
            raise InvalidArgumentError(
                "fleet",
                "the fleet is empty: no machine matched",
                fix="check the inventory filter (subscriptions, groups, tags, locations)",
            )

    # --- summary ------------------------------------------------------------------------------

    @property
    def to_run(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if not i.skipped)

    @property
    def skipped(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.skipped)

    @property
    def remediate(self) -> bool:
        return self.reboot is not None

    @property
    def remediable(self) -> tuple[PlanItem, ...]:
        """Machines a script and a restart can unblock: to be remediated first when the plan
        remediates, else listed apart from the blocked ones."""
        return tuple(i for i in self.items if i.remediable)

    @property
    def remediation_note(self) -> str:
        """What remediation will run and when its restarts may happen."""
        window = remediation.baseline_window(
            self.today, unplanned=self.reboot.unplanned if self.reboot else ()
        )
        scripts = ", ".join(s.run_command for s in remediation.SCRIPTS)
        restart = (
            f"restarts {self.reboot.describe()}"
            if self.reboot
            else "nothing is run unless remediate=True"
        )
        return (
            f"Run Command scripts {scripts} (see azhotpatch.remediation.SCRIPTS); {restart}; "
            f"next baseline window {window[0].isoformat()} to {window[1].isoformat()} "
            "(reboot='baseline': the baseline's own restart makes it cost nothing extra), or "
            "leave the restart to an Update Manager baseline schedule (azhotpatch schedule) "
            "and run again after it"
        )

    @property
    def skip_reasons(self) -> Counter[str]:
        return Counter(i.skip.rule.value for i in self.items if i.skip)

    @property
    def calendar_note(self) -> str:
        current = calendar.month_kind(self.today.year, self.today.month)
        coming = calendar.next_release(self.today)
        kinds = {
            "B": "a baseline month (installs reboot)",
            "H": "a hotpatch month (no reboot)",
            "U": "an unplanned baseline month (installs reboot)",
        }
        return (
            f"{self.today:%B %Y} is {kinds[current.value]}; next release "
            f"{coming.date.isoformat()} ({kinds[coming.kind.value].split(' (')[0]})"
        )

    def summary(self) -> str:
        by_kind = Counter(i.machine.kind.value for i in self.items)
        lines = [
            f"Plan: {', '.join(a.value for a in self.actions)} on {len(self.items)} machines "
            f"({by_kind.get('vm', 0)} VMs, {by_kind.get('arc', 0)} Arc)",
            f"  will run on {len(self.to_run)}, skip {len(self.skipped)}",
        ]
        lines += [f"    skip {count:>5}  {rule}" for rule, count in self.skip_reasons.most_common()]
        if self.remediable:
            verb = "will remediate first" if self.remediate else "could remediate (remediate=True)"
            lines.append(f"  {verb}: {len(self.remediable)} (VBS/CHPE, then a restart)")
            lines.append(f"    {self.remediation_note}")
        lines.append(f"  calendar: {self.calendar_note}")
        lines.append(
            f"  Arc Hotpatch cost for the next {self.months_ahead} months: USD {self.cost}"
        )
        return "\n".join(lines)

    # --- renderings ---------------------------------------------------------------------------

    def groups(self) -> list[Group]:
        """The machines by what the run will do to them: those it will run on, then those
        it will skip, one group per reason, the most common first."""
        found: list[Group] = []
        headers = ("machine", "kind", "location")
        if self.to_run:
            changes = Counter(change for item in self.to_run for change in item.changes)
            found.append(
                Group(
                    f"run {'+'.join(a.value for a in self.actions)}",
                    (*headers, "enrollment changes"),
                    [(*_columns(i), ", ".join(i.changes) or "-") for i in self.to_run],
                    note="enrollment will change: "
                    + ", ".join(f"{rule} on {n:,}" for rule, n in changes.most_common())
                    if changes
                    else "",
                    color=COLORS["succeeded"],
                )
            )
        by_rule: dict[str, list[PlanItem]] = {}
        for item in self.skipped:
            assert item.skip is not None
            by_rule.setdefault(item.skip.rule.value, []).append(item)
        for rule, items in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            first = items[0].skip
            assert first is not None
            found.append(
                Group(
                    f"skip {rule}",
                    (*headers, "why"),
                    [(*_columns(i), i.skip.message if i.skip else "") for i in items],
                    fix=first.fix.render(self.words),
                    color=COLORS["skipped"],
                )
            )
        return found

    def table(self, limit: int | None = 10) -> str:
        """The machines by what the run will do, counts first: up to ``limit`` machines
        under each group (all of them with None)."""
        return text_groups(self.groups(), limit)

    def __str__(self) -> str:
        return self.summary()

    def in_words(self, words: Words) -> Plan:
        """The same plan, its fixes rendered in ``words`` (the command line's)."""
        return replace(self, words=words)

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": [a.value for a in self.actions],
            "today": self.today.isoformat(),
            "calendar": self.calendar_note,
            "cost_usd": str(self.cost),
            "months_ahead": self.months_ahead,
            "machines": len(self.items),
            "to_run": len(self.to_run),
            "skip_reasons": dict(self.skip_reasons),
            "remediable": len(self.remediable),
            "remediation": self.remediation_note if self.remediable else None,
            "items": [i.as_dict(self.words) for i in self.items],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        columns = [
            "resource",
            "kind",
            "location",
            "steps",
            "skipped",
            "reason",
            "message",
            "cores",
            "monthly_cost_usd",
        ]
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for item in self.items:
            row = item.as_dict()
            row["steps"] = "+".join(row["steps"])
            writer.writerow(row)
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        return html_groups(self.summary(), self.groups())


def _columns(item: PlanItem) -> tuple[str, str, str]:
    return (item.machine.id.name, item.machine.kind.value, item.machine.location)


# --- building -------------------------------------------------------------------------------


async def build_plan(
    session: Session,
    machines: AsyncIterable[MachineRecord] | Iterable[MachineRecord],
    actions: Sequence[Action],
    *,
    today: date,
    install: InstallOptions | None = None,
    months_ahead: int = 3,
    scope: InventoryFilter | None = None,
    reboot: RebootPolicy | None = None,
) -> Plan:
    """``reboot`` given: the plan remediates (see `PlanItem.remediate`), restarting as it
    says."""
    items: list[PlanItem] = []
    total = Decimal("0.00")
    end = _add_months(today, months_ahead)
    kinds = Kinds(session)
    async for machine in _iterate(machines):
        item = await _item(kinds, machine, actions, today, end, remediate=reboot is not None)
        if item.monthly_cost is not None and not item.skipped and Action.ENABLE in actions:
            assert machine.cores is not None
            total += pricing.estimate(machine.cores, today, end).total
        items.append(item)
    if not items and scope is not None:  # found by reading the inventory: say what was read
        raise scope.nothing_found()
    if scope is None:  # records handed over: the plan covers exactly those machines
        scope = InventoryFilter.of_ids(item.machine.id for item in items) if items else None
    return Plan(
        tuple(actions),
        tuple(items),
        today,
        install,
        months_ahead,
        total,
        scope=scope,
        reboot=reboot,
    )


async def _iterate(
    machines: AsyncIterable[MachineRecord] | Iterable[MachineRecord],
) -> Any:
    if isinstance(machines, AsyncIterable):
        async for machine in machines:
            yield machine
    else:
        for machine in machines:
            yield machine


async def _item(
    kinds: Kinds,
    machine: MachineRecord,
    actions: Sequence[Action],
    today: date,
    end: date,
    *,
    remediate: bool = False,
) -> PlanItem:
    verdict = await kinds.of(machine.id).eligibility(machine.id, machine.facts)
    cost = None
    if machine.cores:  # machines billed per core (Arc); a VM's Hotpatch is in its price
        month_end = _add_months(today, 1)
        cost = pricing.estimate(machine.cores, today, month_end).total
    gated = [a for a in actions if a is not Action.DISABLE]
    fixable = all(r.rule in REMEDIABLE for r in verdict.blockers)
    if gated and verdict.blockers and remediate and fixable and Action.ENABLE in actions:
        return PlanItem(machine, verdict, tuple(actions), None, cost, remediate=True)
    if gated and verdict.blockers:
        return PlanItem(machine, verdict, (), verdict.blockers[0], cost)
    return PlanItem(machine, verdict, tuple(actions), None, cost)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, 28))
