from __future__ import annotations

from collections.abc import Iterator

import pytest

from azhotpatch.testing import Emulator


@pytest.fixture
def tenant() -> Iterator[Emulator]:
    """An emulated tenant with 300 managed devices in eight Entra groups."""
    with Emulator(devices=300, seed=11, time_scale=600) as emulator:
        yield emulator


def groups(emulator: Emulator) -> list[str]:
    return sorted(emulator.intune.groups)


def writes(emulator: Emulator) -> list[tuple[str, str]]:
    """The writes Graph's front door served, in order: (method, route)."""
    return [
        (r.method, r.route)
        for r in emulator.graph.records
        if r.method != "GET" and r.route.startswith("intune.policies")
    ]
