"""Counting the requests a block sends (how the fleet engine tells a timely poll from an
early one), through the real pipeline against the emulator."""

from __future__ import annotations

import asyncio

from azhotpatch._azure.policies import counting
from azhotpatch.aio import Hotpatch as AsyncHotpatch
from azhotpatch.testing import Emulator

from .conftest import vm_spec


def test_a_count_inside_another_counts_in_both(emu: Emulator) -> None:
    vm = emu.add_vm(vm_spec())

    async def run() -> tuple[int, int]:
        async with AsyncHotpatch(
            emu.async_credential(), endpoint=emu.endpoint, connection_verify=emu.ca_path
        ) as client:
            with counting() as outer:
                await client.status(vm)
                with counting() as inner:
                    await client.status(vm)
            return outer.requests, inner.requests

    outer, inner = asyncio.run(run())
    assert inner >= 1
    assert outer == 2 * inner
