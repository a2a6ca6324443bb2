"""Long-running operations and the patch runs Resource Graph reports: what every service that
starts work on a machine records, and what status endpoints and the ground truth read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Operation:
    """A long-running operation as its status endpoints report it."""

    id: str
    kind: str  # assessPatches | installPatches | vmUpdate | licenseProfile | ... | runCommand
    subscription: str
    location: str
    target: str  # machine key (lower-cased id)
    start: float
    end: float
    failed: bool = False
    status: str = "InProgress"
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    polls: int = 0
    bare: bool = False  # its finished status leaves out the result (an injected fault)
    # which one of its kind it is, where a kind has several (a run command's script): a
    # `FaultRule`'s ``operation`` may name it instead of the kind
    subject: str | None = None

    def named(self, operation: str) -> bool:
        """Whether a `FaultRule`'s ``operation`` names this operation."""
        return operation in (self.kind, self.subject)

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


@dataclass
class PatchRun:
    """An assess or install as Resource Graph's patch tables show it."""

    machine: str  # key
    machine_id: str  # canonical id
    kind: str  # assessPatches | installPatches
    operation: Operation
    os_type: str
    result: dict[str, Any] | None = None
    maintenance_run_id: str | None = None  # set for a maintenance schedule's run

    @property
    def started_by(self) -> str:
        return "Platform" if self.maintenance_run_id else "User"


@dataclass
class InstallRecord:
    """One accepted installPatches POST (what tests check for double triggers)."""

    operation_id: str
    at: datetime
    parameters: dict[str, Any]
    principal: str
