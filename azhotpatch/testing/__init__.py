"""Test Azure automation offline: a local HTTPS emulator of Azure Resource Manager.

    from azhotpatch.testing import Emulator

    with Emulator(fleet="sample:200", time_scale=600) as emu:
        hotpatch = emu.client()
        ...

See `Emulator` for what it serves, `FleetSpec` for generated fleets, `Faults` for seeded
fault injection and `Limits` for the throttling it enforces (Azure's documented limits by
default).
"""

from __future__ import annotations

from azhotpatch.limits import Bucket, ThrottleLimits
from azhotpatch.testing._faults import FaultRule, Faults
from azhotpatch.testing.arm.throttling import Limits
from azhotpatch.testing.emulator import (
    AsyncEmulatorCredential,
    AzureRecord,
    Emulator,
    EmulatorCredential,
    EmulatorStats,
    OperationRecord,
)
from azhotpatch.testing.estate import ArcSpec, FleetSpec, MachineTruth, VmSpec
from azhotpatch.testing.process import emulator_process
from azhotpatch.testing.world.clock import Clock
from azhotpatch.testing.world.state import Durations

__all__ = [
    "ArcSpec",
    "AsyncEmulatorCredential",
    "AzureRecord",
    "Bucket",
    "Clock",
    "Durations",
    "Emulator",
    "EmulatorCredential",
    "EmulatorStats",
    "FaultRule",
    "Faults",
    "FleetSpec",
    "Limits",
    "MachineTruth",
    "OperationRecord",
    "ThrottleLimits",
    "VmSpec",
    "emulator_process",
]
