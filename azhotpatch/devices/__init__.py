"""Windows 11 Enterprise hotpatch through Intune, over Microsoft Graph: device readiness with
every reason and its fix, the hotpatch quality update policy and its group assignments
(plan, then apply only what differs), and status from Intune's reports.

    from azhotpatch.devices import Devices

    with Devices() as devices:
        print(devices.readiness())
        print(devices.enable("Hotpatch", include=["<group id>"]))

`azhotpatch.devices.aio.Devices` is the same for asyncio callers. Names load when first
asked for, so importing `azhotpatch` costs nothing for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azhotpatch.devices.client import Devices
    from azhotpatch.devices.models import (
        HotpatchSource,
        ManagedDevice,
        PolicyPlan,
        QualityUpdatePolicy,
        ReadinessReport,
        StatusReport,
    )

_LAZY = {
    "Devices": "azhotpatch.devices.client",
    "HotpatchSource": "azhotpatch.devices.models",
    "ManagedDevice": "azhotpatch.devices.models",
    "PolicyPlan": "azhotpatch.devices.models",
    "QualityUpdatePolicy": "azhotpatch.devices.models",
    "ReadinessReport": "azhotpatch.devices.models",
    "StatusReport": "azhotpatch.devices.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'azhotpatch.devices' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "Devices",
    "HotpatchSource",
    "ManagedDevice",
    "PolicyPlan",
    "QualityUpdatePolicy",
    "ReadinessReport",
    "StatusReport",
]
