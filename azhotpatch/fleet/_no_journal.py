"""What a fleet run writes to its journal, and the journal of a run that keeps none.

The runner records every step the same way whether or not it was given a journal: it talks
to a `RunJournal`, which is either the run's `azhotpatch.fleet.journal.Journal` or a
`NoJournal`, which records nothing, has never begun a machine and never fails. So the step
chain has no branch for "no journal", and the exactly-once order (intent committed before
the request, token after Azure accepted it) is written once, for the journal that keeps it.

`NoJournal` behaves as the runner behaved with ``journal=None``: nothing was touched before
(nothing resumes), nothing is refused (``intact`` is always true), and a remediation's
restart ledger remembers nothing, so a restart is sent as it would be with no ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from azhotpatch._azure.session import TrafficRow
from azhotpatch.errors import Fix, JournalStorageError
from azhotpatch.fleet.journal import AttemptRecord, StepRecord
from azhotpatch.fleet.report import MachineResult
from azhotpatch.limits import Bucket

__all__ = ["NoJournal", "RunJournal"]


class RunJournal(Protocol):
    """The part of a journal a run uses (see `azhotpatch.fleet.journal.Journal`, whose
    docstrings say what each write guarantees)."""

    resumed: bool
    failure: JournalStorageError | None

    def intact(self) -> bool: ...

    def touched(self, resource: str) -> bool: ...

    def step(self, resource: str, action: str) -> StepRecord | None: ...

    def record_plan(self, machines: Iterable[tuple[str, str]]) -> None: ...

    def record_start(self, resource: str, action: str) -> None: ...

    def record_intent(self, resource: str, action: str, previous: str | None) -> None: ...

    def record_acceptance(self, resource: str, action: str, token: str) -> None: ...

    def record_reopening(self, resource: str, action: str) -> None: ...

    def record_finish(
        self,
        resource: str,
        action: str,
        outcome: str,
        *,
        code: str | None = None,
        azure_code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        problem: str | None = None,
        fix: Fix | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    def record_end(
        self, result: MachineResult, finished: float, *, replace: bool = True
    ) -> None: ...

    def record_attempt(self, record: AttemptRecord) -> None: ...

    def record_traffic(
        self, rows: Iterable[TrafficRow], ceilings: Mapping[str, Bucket]
    ) -> None: ...

    def restart_sent(self, resource: str) -> str | None: ...

    def record_restart_intent(self, resource: str, name: str) -> None: ...


class NoJournal:
    """The journal of a run given none: every write is dropped, every read finds nothing."""

    resumed = False
    failure: JournalStorageError | None = None

    def intact(self) -> bool:
        return True

    def touched(self, resource: str) -> bool:
        return False

    def step(self, resource: str, action: str) -> StepRecord | None:
        return None

    def record_plan(self, machines: Iterable[tuple[str, str]]) -> None:
        pass

    def record_start(self, resource: str, action: str) -> None:
        pass

    def record_intent(self, resource: str, action: str, previous: str | None) -> None:
        pass

    def record_acceptance(self, resource: str, action: str, token: str) -> None:
        pass

    def record_reopening(self, resource: str, action: str) -> None:
        pass

    def record_finish(
        self,
        resource: str,
        action: str,
        outcome: str,
        *,
        code: str | None = None,
        azure_code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        problem: str | None = None,
        fix: Fix | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        pass

    def record_end(self, result: MachineResult, finished: float, *, replace: bool = True) -> None:
        pass

    def record_attempt(self, record: AttemptRecord) -> None:
        pass

    def record_traffic(self, rows: Iterable[TrafficRow], ceilings: Mapping[str, Bucket]) -> None:
        pass

    def restart_sent(self, resource: str) -> str | None:
        return None

    def record_restart_intent(self, resource: str, name: str) -> None:
        pass
