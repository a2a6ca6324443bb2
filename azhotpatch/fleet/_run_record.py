"""A fleet run's record of itself: when each of its machines ended, its requests per
throttling bucket over time, and its counts of requests, 429s and transport errors. The
report's timeline is drawn from it, and the journal keeps it (at most about once a second,
and at the end) so that a report can be rebuilt after a crash (`azhotpatch.fleet._history`).
"""

from __future__ import annotations

import time

from azhotpatch._azure.session import Session, Traffic
from azhotpatch.fleet._no_journal import RunJournal
from azhotpatch.fleet._timeline import Timeline
from azhotpatch.fleet.journal import AttemptRecord
from azhotpatch.fleet.plan import Plan
from azhotpatch.fleet.report import MachineResult

__all__ = ["RECORD_EVERY", "RunRecord"]

# How often, at most, the journal's record of the run (its traffic, this attempt) is written.
RECORD_EVERY = 1.0  # seconds


class RunRecord:
    """One attempt at a run (one process's part of it), as recorded (see the module docstring)."""

    def __init__(self, session: Session, plan: Plan, journal: RunJournal) -> None:
        self.session = session
        self.plan = plan
        self.journal = journal
        # when each machine ended (this run's own machines; not those a resumed run found
        # concluded), the requests per bucket, and when the record was last written
        self.began = time.time()
        self.finished: dict[str, float] = {}
        self.traffic: Traffic | None = None
        self.recorded = 0.0
        metrics = session.metrics
        self.before = (metrics.requests, metrics.throttled, metrics.transport_errors)

    def machine_ended(self, resource: str, result: MachineResult, *, fresh: bool) -> None:
        """A machine's outcome, journaled; the rest of the record written when it is due."""
        if fresh:
            self.finished[resource.lower()] = time.time()
        self.journal.record_end(result, time.time(), replace=fresh)
        if time.monotonic() - self.recorded >= RECORD_EVERY:
            self.write()

    def sent(self) -> tuple[int, int, int]:
        """(requests, 429s, transport errors) since the run began."""
        metrics = self.session.metrics
        requests, throttled, transport_errors = self.before
        return (
            metrics.requests - requests,
            metrics.throttled - throttled,
            metrics.transport_errors - transport_errors,
        )

    def timeline(self) -> Timeline:
        traffic = self.traffic
        assert traffic is not None
        return Timeline(
            attempts=((self.began, time.time()),),
            finished=dict(self.finished),
            traffic=tuple(traffic.rows()),
            ceilings=dict(traffic.ceilings),
            time_scale=self.session.settings.time_scale,
            today=self.plan.today,
        )

    def write(self) -> None:
        """Bring the journal's record of the run up to date: the requests per bucket since
        it was last written, and this attempt's counts and end so far."""
        self.recorded = time.monotonic()
        if self.traffic is None:
            return
        self.journal.record_traffic(self.traffic.drain(), self.traffic.ceilings)
        requests, throttled, transport_errors = self.sent()
        self.journal.record_attempt(
            AttemptRecord(
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
