"""What a run was asked to do, which its journal is bound to (see `RunIdentity`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.models import Action, InstallOptions

__all__ = ["RunIdentity"]


@dataclass(frozen=True)
class RunIdentity:
    """What a run was asked to do, which its journal is bound to: the scope (the inventory
    filter, or the exact machines), the actions in order, and the install options as sent
    to Azure."""

    scope: Mapping[str, Any]
    actions: tuple[str, ...]
    install: Mapping[str, Any] = field(default_factory=dict)
    remediate: bool = False  # the run remediates Arc machines (when its restarts may happen
    # is not part of it: a run deferred to a baseline window resumes with any policy)
    # installs are sent even where another run or the platform already installed this
    # release; ``released``: the day of an out-of-band release (ISO), see install_guard
    install_again: bool = False
    released: str | None = None

    @classmethod
    def of(
        cls,
        scope: InventoryFilter,
        actions: Iterable[Action],
        install: InstallOptions,
        *,
        remediate: bool = False,
        install_again: bool = False,
        released: date | None = None,
    ) -> RunIdentity:
        return cls(
            scope.describe(),
            tuple(a.value for a in actions),
            install.request_body(),
            remediate,
            install_again,
            released.isoformat() if released is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """What the journal records; ``remediate``, ``install_again`` and ``released``
        only when set, so the runs before them keep their fingerprints."""
        asked: dict[str, Any] = {
            "scope": dict(self.scope),
            "actions": list(self.actions),
            "install": self.install,
        }
        if self.remediate:
            asked["remediate"] = True
        if self.install_again:
            asked["install_again"] = True
        if self.released is not None:
            asked["released"] = self.released
        return asked

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def differences(self, recorded: Mapping[str, Any]) -> list[str]:
        """How this differs from a recorded identity, in words (empty: the same run)."""
        mine = self.as_dict()
        found: list[str] = []
        for part in ("scope", "actions", "install", "remediate", "install_again", "released"):
            theirs, ours = recorded.get(part), mine.get(part)
            if part == "scope" and isinstance(theirs, Mapping) and isinstance(ours, Mapping):
                keys = sorted(set(theirs) | set(ours))
                found += [
                    f"{key}: the journal has {theirs.get(key)!r}, this run {ours.get(key)!r}"
                    for key in keys
                    if theirs.get(key) != ours.get(key)
                ]
            elif theirs != ours:
                found.append(f"{part}: the journal has {theirs!r}, this run {ours!r}")
        return found
