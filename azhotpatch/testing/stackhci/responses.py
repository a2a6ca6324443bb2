"""Microsoft.AzureStackHCI on the wire: an Azure Local VM's instance and its image."""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.arm.exchange import Request, Response
from azhotpatch.testing.stackhci.models import IMAGE_TYPE, INSTANCE_TYPE, StackHciBackend
from azhotpatch.testing.world.machines import ArcMachine


class StackHciResponses:
    def __init__(self, backend: StackHciBackend) -> None:
        self.backend = backend

    def instance(self, request: Request) -> Response:
        p = request.params
        machine = self.backend.instance(p["sub"], p["group"], p["name"], p["instance"])
        return Response(200, render_instance(machine))

    def image(self, request: Request) -> Response:
        p = request.params
        machine = self.backend.image(p["sub"], p["group"], p["image"])
        return Response(200, render_image(p["sub"], p["group"], machine))


def _image_id(sub: str, group: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{IMAGE_TYPE}/{name}"


def _custom_location(machine: ArcMachine) -> dict[str, str]:
    cluster = (machine.parent_cluster or "cluster").rstrip("/").rsplit("/", 1)[-1]
    return {
        "type": "CustomLocation",
        "name": f"/subscriptions/{machine.subscription}/resourceGroups/{machine.group}/"
        f"providers/Microsoft.ExtendedLocation/customLocations/{cluster}-location",
    }


def render_instance(machine: ArcMachine) -> dict[str, Any]:
    image = machine.local_image or "unknown"
    return {
        "id": f"{machine.id}/providers/{INSTANCE_TYPE}/default",
        "name": "default",
        "type": INSTANCE_TYPE,
        "extendedLocation": _custom_location(machine),
        "properties": {
            "hardwareProfile": {"vmSize": "Custom", "processors": 4, "memoryMB": 8192},
            "osProfile": {
                "computerName": machine.name[:15],
                "windowsConfiguration": {"provisionVMAgent": True, "provisionVMConfigAgent": True},
            },
            "securityProfile": {
                "enableTPM": True,
                "uefiSettings": {"secureBootEnabled": machine.hardware.secure_boot},
                "securityType": "TrustedLaunch",
            },
            "storageProfile": {
                "imageReference": {"id": _image_id(machine.subscription, machine.group, image)},
                "osDisk": {"osType": "Windows"},
            },
            "provisioningState": "Succeeded",
            "status": {"powerState": "Running"},
        },
    }


def render_image(sub: str, group: str, machine: ArcMachine) -> dict[str, Any]:
    """The marketplace image ``machine`` is built from, in its region and custom location
    (MarketplaceGalleryImages in the AzureStackHCI 2024-01-01 examples)."""
    name = machine.local_image or "unknown"
    return {
        "id": _image_id(sub, group, name),
        "name": name,
        "type": IMAGE_TYPE,
        "location": machine.location,
        "extendedLocation": _custom_location(machine),
        "properties": {
            "osType": "Windows",
            "hyperVGeneration": "V2",
            "identifier": {
                "publisher": "MicrosoftWindowsServer",
                "offer": "WindowsServer",
                "sku": name,
            },
            "provisioningState": "Succeeded",
        },
    }
