from __future__ import annotations

from collections.abc import Iterator

import pytest

from azhotpatch import Hotpatch
from azhotpatch.testing import ArcSpec, Emulator, VmSpec

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
WRITES = ("PATCH", "PUT", "POST", "DELETE")


def vm_spec(name: str = "web-01", **fields: object) -> VmSpec:
    values: dict[str, object] = {"subscription": SUB, "group": "rg", "location": "westeurope"}
    return VmSpec(name=name, **{**values, **fields})  # type: ignore[arg-type]


def arc_spec(name: str = "srv-01", **fields: object) -> ArcSpec:
    values: dict[str, object] = {"subscription": SUB, "group": "rg", "location": "westeurope"}
    return ArcSpec(name=name, **{**values, **fields})  # type: ignore[arg-type]


def writes(emu: Emulator) -> list[str]:
    """Every write the emulator received (ARM writes; Resource Graph queries are reads)."""
    return [
        f"{r.method} {r.route}"
        for r in emu.requests()
        if r.method in WRITES and not r.route.startswith("graph.")
    ]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=1, time_scale=2400) as running:
        running.add_subscription(SUB, groups=["rg"])
        yield running


@pytest.fixture
def hotpatch(emu: Emulator) -> Iterator[Hotpatch]:
    with emu.client() as client:
        yield client
