"""Plans for the hotpatch quality update policy and its assignments: read, compare, and only
then write what differs. Pure.

Convergence is by display name: one policy per name, created when missing, never a second
one; two policies already sharing the name are refused (`DuplicatePolicyError`) rather than
guessed between. It is a ``windowsQualityUpdatePolicy`` (``hotpatchEnabled``), not a
``windowsQualityUpdateProfile``: profiles are expedited updates, which community tools have
mistaken for the hotpatch setting (Microsoft365DSC#6368, IntuneManagement#387).

``assign`` replaces a policy's whole set of assignments, so the set is read first, and
written (once, whole, keeping the ids of the assignments that stay) only when it differs.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from azhotpatch import _validation
from azhotpatch.devices.models import (
    AssignmentPlan,
    AssignmentTarget,
    Change,
    DeviceStatus,
    FieldChange,
    PolicyPlan,
    PolicySpec,
    QualityUpdatePolicy,
)
from azhotpatch.errors import DuplicatePolicyError, InvalidArgumentError

__all__ = ["assignment_plan", "plan", "read_report", "wanted_targets"]


def plan(
    found: Sequence[QualityUpdatePolicy],
    spec: PolicySpec,
    assignments: AssignmentPlan,
) -> PolicyPlan:
    """What applying ``spec`` changes, given the tenant's quality update policies."""
    policy = _one_named(found, spec.name)
    if policy is None:
        return PolicyPlan(spec, None, Change.CREATE, assignments=assignments)
    fields = _differences(policy, spec)
    change = Change.UPDATE if fields else Change.NONE
    return PolicyPlan(spec, policy, change, fields, assignments)


def _one_named(found: Sequence[QualityUpdatePolicy], name: str) -> QualityUpdatePolicy | None:
    named = [p for p in found if p.name == name]
    if len(named) > 1:
        ids = ", ".join(p.id for p in named)
        raise DuplicatePolicyError(
            f"{len(named)} Windows quality update policies are named {name!r} ({ids})",
            resource=f"policy {name!r}",
            fix="delete or rename all but one in Intune (Devices > Windows updates > Quality "
            "updates), or give another name",
        )
    return named[0] if named else None


def _differences(policy: QualityUpdatePolicy, spec: PolicySpec) -> tuple[FieldChange, ...]:
    changes = []
    if policy.hotpatch != spec.hotpatch:
        changes.append(FieldChange("hotpatchEnabled", policy.hotpatch, spec.hotpatch))
    if spec.description is not None and policy.description != spec.description:
        changes.append(FieldChange("description", policy.description, spec.description))
    if spec.scope_tags is not None and set(policy.scope_tags) != set(spec.scope_tags):
        changes.append(
            FieldChange("roleScopeTagIds", list(policy.scope_tags), list(spec.scope_tags))
        )
    return tuple(changes)


def wanted_targets(
    include: Iterable[str] | None, exclude: Iterable[str] | None
) -> tuple[AssignmentTarget, ...] | None:
    """The groups wanted, ids checked; None when neither list was given (assignments are
    then left alone). A group both included and excluded is refused."""
    if include is None and exclude is None:
        return None
    included = _group_ids(include or (), "include")
    excluded = _group_ids(exclude or (), "exclude")
    both = {g.lower() for g in included} & {g.lower() for g in excluded}
    if both:
        raise InvalidArgumentError(
            "exclude",
            f"names {', '.join(sorted(both))}, which include names too",
            fix="include or exclude each group, not both",
        )
    return tuple(AssignmentTarget(g) for g in included) + tuple(
        AssignmentTarget(g, excluded=True) for g in excluded
    )


def _group_ids(given: Iterable[str], argument: str) -> list[str]:
    if isinstance(given, str):
        raise InvalidArgumentError(
            argument, f"{given!r} is one id, a list is expected", fix=f"{argument}=[{given!r}]"
        )
    ids = [_validation.guid(g, argument) for g in given]
    return list(dict.fromkeys(ids))


def assignment_plan(
    current: Iterable[Mapping[str, Any]], wanted: tuple[AssignmentTarget, ...] | None
) -> AssignmentPlan:
    """The policy's assignments (as Graph lists them) against the groups wanted."""
    bodies = list(current)
    held = [t for t in (AssignmentTarget.from_graph(b) for b in bodies) if t is not None]
    others = len(bodies) - len(held)
    if wanted is None:
        return AssignmentPlan(tuple(held), tuple(held), managed=False, others=others)
    if others:
        raise InvalidArgumentError(
            "include",
            f"the policy is also assigned to {others} target(s) other than groups (all "
            "devices or all users), which assigning by group would drop",
            fix="remove those assignments in Intune first, or leave include/exclude out",
        )
    return AssignmentPlan(tuple(held), wanted, managed=True)


def read_report(data: bytes) -> list[DeviceStatus]:
    """The rows of a downloaded export: a zip holding one CSV (the format's default;
    MicrosoftDocs/memdocs ``intune/device-management/reports/export-graph-apis.md``)."""
    import csv

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not names:
            return []
        text = archive.read(names[0]).decode("utf-8-sig")
    return [DeviceStatus.from_row(row) for row in csv.DictReader(io.StringIO(text))]
