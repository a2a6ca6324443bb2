"""What users write today, for comparison: the raw azure-mgmt SDK, one machine after another
(``begin_*().result()``, the SDK's default retries and its 30 s polling cadence), or the
same loop in a pool of 32 threads.

    python benchmarks/naive_client.py INFO ACTIONS sequential|threads32 COUNT

Works on the first COUNT machines of the emulator's fleet (listed through the SDK, as such a
script would) and prints one JSON object with the wall seconds it took and the Azure seconds
those stand for (wall x the emulator's time scale).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.hybridcompute import HybridComputeManagementClient

from azhotpatch.testing import EmulatorCredential

HOTPATCH_LICENSE = {
    "productProfile": {
        "productType": "WindowsServer",
        "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Enabled"}],
    }
}
VM_SETTINGS = {
    "properties": {
        "osProfile": {
            "windowsConfiguration": {
                "patchSettings": {"patchMode": "AutomaticByPlatform", "enableHotpatching": True}
            }
        }
    }
}
INSTALL = {
    "maximumDuration": "PT2H",
    "rebootSetting": "IfRequired",
    "windowsParameters": {"classificationsToInclude": ["Critical", "Security"]},
}


Machine = tuple[str, str, str, str, str]  # kind, subscription, group, name, location
ARC_HOTPATCH = {
    "properties": {
        "osProfile": {"windowsConfiguration": {"patchSettings": {"enableHotpatching": True}}}
    }
}


class Scripts:
    """One SDK client per subscription and provider, as a careful script would keep them."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.polling = 30.0 / float(info["time_scale"])  # Azure's 30 s cadence, scaled
        self.compute: dict[str, ComputeManagementClient] = {}
        self.hybrid: dict[str, HybridComputeManagementClient] = {}

    def _options(self) -> dict[str, Any]:
        return {
            "base_url": self.info["endpoint"],
            "connection_verify": self.info["ca_path"],
            "polling_interval": self.polling,
            "credential_scopes": ["https://management.azure.com/.default"],
        }

    def vms(self, subscription: str) -> ComputeManagementClient:
        if subscription not in self.compute:
            self.compute[subscription] = ComputeManagementClient(
                EmulatorCredential(), subscription, **self._options()
            )
        return self.compute[subscription]

    def arcs(self, subscription: str) -> HybridComputeManagementClient:
        if subscription not in self.hybrid:
            self.hybrid[subscription] = HybridComputeManagementClient(
                EmulatorCredential(), subscription, **self._options()
            )
        return self.hybrid[subscription]

    def machines(self, count: int) -> list[Machine]:
        """(kind, subscription, group, name, location) of the first ``count`` machines."""
        found: list[Machine] = []
        for subscription in self.info["subscriptions"]:
            for vm in self.vms(subscription).virtual_machines.list_all():
                found.append(("vm", subscription, _group(vm.id), vm.name, vm.location))
            for machine in self.arcs(subscription).machines.list_by_subscription():
                found.append(
                    ("arc", subscription, _group(machine.id), machine.name, machine.location)
                )
            if len(found) >= count:
                break
        return _interleaved(found)[:count]

    def one(self, machine: Machine, actions: list[str]) -> None:
        kind, subscription, group, name, location = machine
        if kind == "vm":
            vms = self.vms(subscription).virtual_machines
            if "enable" in actions:
                vms.begin_update(group, name, VM_SETTINGS).result()
            if "assess" in actions:
                vms.begin_assess_patches(group, name).result()
            if "install" in actions:
                vms.begin_install_patches(group, name, INSTALL).result()
            return
        arc = self.arcs(subscription)
        if "enable" in actions:
            arc.license_profiles.begin_create_or_update(
                group, name, {"location": location, "properties": HOTPATCH_LICENSE}
            ).result()
            arc.machines.update(
                group,
                name,
                {
                    "properties": {
                        "osProfile": {
                            "windowsConfiguration": {"patchSettings": {"enableHotpatching": True}}
                        }
                    }
                },
            )
        if "assess" in actions:
            arc.machines.begin_assess_patches(group, name).result()
        if "install" in actions:
            arc.machines.begin_install_patches(group, name, INSTALL).result()


def _group(resource_id: str) -> str:
    return resource_id.split("/")[4]


def _interleaved(
    machines: list[Machine],
) -> list[Machine]:
    """VMs and Arc machines in the fleet's proportion, so a sample has the fleet's mix."""
    vms = [m for m in machines if m[0] == "vm"]
    arcs = [m for m in machines if m[0] == "arc"]
    if not arcs or not vms:
        return vms or arcs
    every = max(1, round(len(machines) / len(arcs)))
    mixed: list[Machine] = []
    for index in range(len(machines)):
        source = arcs if (index % every == every - 1 and arcs) or not vms else vms
        mixed.append(source.pop(0))
    return mixed


def main() -> None:
    info = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    actions, style, count = sys.argv[2].split(","), sys.argv[3], int(sys.argv[4])
    scripts = Scripts(info)
    machines = scripts.machines(count)
    began = time.monotonic()
    if style == "sequential":
        for machine in machines:
            scripts.one(machine, actions)
    else:
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda m: scripts.one(m, actions), machines))
    wall = time.monotonic() - began
    print(
        json.dumps(
            {
                "style": style,
                "machines": len(machines),
                "arc": sum(1 for m in machines if m[0] == "arc"),
                "wall_seconds": wall,
                "azure_seconds": wall * float(info["time_scale"]),
            }
        )
    )


if __name__ == "__main__":
    main()
