"""The exchanges the cassettes hold: one scenario per operation, shared by the recorder
(against the emulator, or live Azure) and the replay tests (no server, no network).

Scenarios take the machine ids to act on: the neutral ids below when replaying or recording
from the emulator, real ones when recording live (the scrubber renames those to these).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from azhotpatch import Hotpatch

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GROUP = "rg-hotpatch"
_BASE = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers"
NEUTRAL = {
    "SUBSCRIPTION": SUBSCRIPTION,
    "VM": f"{_BASE}/Microsoft.Compute/virtualMachines/web-01",
    "OLD_VM": f"{_BASE}/Microsoft.Compute/virtualMachines/legacy-01",
    "ARC": f"{_BASE}/Microsoft.HybridCompute/machines/srv-01",
}

Ids = Mapping[str, str]
Scenario = Callable[[Hotpatch, Ids], Any]

SCENARIOS: dict[str, Scenario] = {
    "vm_check": lambda h, ids: h.check(ids["VM"]),
    "vm_check_unsupported": lambda h, ids: h.check(ids["OLD_VM"]),
    "vm_enable": lambda h, ids: h.enable(ids["VM"]),
    "vm_status": lambda h, ids: h.status(ids["VM"]),
    "vm_assess": lambda h, ids: h.assess(ids["VM"]),
    "vm_install": lambda h, ids: h.install(ids["VM"], classifications=["Critical", "Security"]),
    "vm_disable": lambda h, ids: h.disable(ids["VM"]),
    "arc_check": lambda h, ids: h.check(ids["ARC"]),
    "arc_enable": lambda h, ids: h.enable(ids["ARC"]),
    "arc_status": lambda h, ids: h.status(ids["ARC"]),
    "arc_assess": lambda h, ids: h.assess(ids["ARC"]),
    "arc_install": lambda h, ids: h.install(ids["ARC"], classifications=["Critical", "Security"]),
    "features_register": lambda h, ids: h.register_preview_features(ids["SUBSCRIPTION"]),
}
