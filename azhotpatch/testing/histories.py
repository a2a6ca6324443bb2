"""A machine's patch history as a generated estate draws it, and the verdict on where the
machine stands that azhotpatch must then give (`azhotpatch.posture_rules`), worked out from
the draw alone.

Spread as estates are: most machines current and assessed by the platform in the last days,
some a release or two behind, some with a cumulative update installed and its restart still
pending, some whose last assessment is weeks old and some never assessed. Drawn from the
machine's name, not the fleet's random stream, so the rest of a fleet is what it was before
machines had histories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "STALE_AFTER_DAYS",
    "PatchHistory",
    "PostureTruth",
    "draw_history",
    "posture_truth",
]

# the threshold the truth is worked out for: azhotpatch's default ``stale_after``
STALE_AFTER_DAYS = 7.0


@dataclass(frozen=True)
class PatchHistory:
    """What the platform recorded for a machine before the emulator started.

    ``assessed_days_ago``: its last assessment (None: never assessed). ``installed``: the
    install that brought it to its release is on record (Patch Tuesday of that release plus
    a day; Resource Graph keeps installs 30 days, the emulator keeps them all).
    ``restart_pending``: a day ago someone installed this month's cumulative update with
    ``rebootSetting`` Never, so the machine runs its old build until it restarts.
    ``started_by_platform``: the installs were a maintenance schedule's, not a user's
    (generated estates' are a user's: a schedule's run names a maintenance configuration,
    which a generated estate does not have)."""

    assessed_days_ago: float | None = 1.0
    installed: bool = True
    restart_pending: bool = False
    started_by_platform: bool = False

    @property
    def assessed_lately(self) -> bool:
        return self.assessed_days_ago is not None and self.assessed_days_ago <= STALE_AFTER_DAYS


@dataclass(frozen=True)
class PostureTruth:
    """The verdict azhotpatch must give: a `azhotpatch.posture_rules.Verdict` value, and
    for ``behind`` by how many releases."""

    verdict: str
    behind: int | None = None


def draw_history(seed: int, name: str, *, reports_build: bool) -> PatchHistory:
    """The history of machine ``name``; one whose agent reports nothing (a VM whose agent is
    not ready) was never assessed either."""
    if not reports_build:
        return PatchHistory(assessed_days_ago=None, installed=False)
    rng = random.Random(f"{seed}/history/{name}")
    roll = rng.random()
    if roll < 0.07:
        return PatchHistory(assessed_days_ago=None, installed=False)
    if roll < 0.16:
        return PatchHistory(assessed_days_ago=round(rng.uniform(STALE_AFTER_DAYS + 2, 25), 2))
    if roll < 0.24:
        return PatchHistory(assessed_days_ago=0.5, restart_pending=True)
    return PatchHistory(assessed_days_ago=round(rng.uniform(0.1, STALE_AFTER_DAYS - 1), 2))


def posture_truth(
    *,
    blockers: frozenset[str],
    enrolled: bool,
    history: PatchHistory | None,
    reports_build: bool,
    months_behind: int,
) -> PostureTruth:
    """The verdict, in azhotpatch's order: what blocks Hotpatch, then enrollment, then
    whether there is anything to judge by and how fresh it is, then the restart, the build."""
    if blockers:
        return PostureTruth("not-eligible")
    if not enrolled:
        return PostureTruth("not-enrolled")
    if history is None or not (reports_build or history.assessed_days_ago is not None):
        return PostureTruth("unknown")
    if not history.assessed_lately:
        return PostureTruth("stale")
    if history.restart_pending:
        return PostureTruth("restart-needed")
    if months_behind:
        return PostureTruth("behind", months_behind)
    return PostureTruth("current")
