"""Azure Local VMs over the world's Arc machines: a machine of kind ``HCI`` has a VM
instance (``virtualMachineInstances/default``, an extension resource on the machine) built from
a marketplace gallery image in the cluster's resource group.

Shapes from the Microsoft.AzureStackHCI types (Azure/bicep-types-az, generated from the REST
specs): the instance's ``storageProfile.imageReference.id`` names the image; a marketplace
gallery image's ``identifier`` holds its publisher, offer and SKU. Modelled: every image an
emulated Azure Local VM names is a ``MicrosoftWindowsServer:WindowsServer`` marketplace image
whose SKU is the image's name.
"""

from __future__ import annotations

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.world.machines import ARC_TYPE, ArcMachine
from azhotpatch.testing.world.state import World

INSTANCE_TYPE = "Microsoft.AzureStackHCI/virtualMachineInstances"
IMAGE_TYPE = "Microsoft.AzureStackHCI/marketplaceGalleryImages"


class StackHciBackend:
    """The Azure Local side of the world's HCI machines."""

    def __init__(self, world: World) -> None:
        self.world = world

    def instance(self, sub: str, group: str, name: str, instance: str) -> ArcMachine:
        """The HCI machine whose VM instance a path addresses (404 for any other)."""
        machine = self.world.require_arc(sub, group, name)
        if (machine.arc_kind or "").upper() != "HCI" or instance.lower() != "default":
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{ARC_TYPE}/{name}/providers/{INSTANCE_TYPE}/{instance}' under "
                f"resource group '{group}' was not found.",
            )
        return machine

    def image(self, sub: str, group: str, name: str) -> ArcMachine:
        """An HCI machine of the group built from the marketplace image (404 for an image no
        machine is built from): the image lives where that machine does."""
        self.world.require_group(sub, group)
        for machine in self.world.arcs.values():
            same_group = (
                machine.subscription == sub.lower() and machine.group.lower() == group.lower()
            )
            if same_group and (machine.local_image or "").lower() == name.lower():
                return machine
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{IMAGE_TYPE}/{name}' under resource group '{group}' was not found.",
        )
