"""Compute resources as a deployment leaves them: the VM document a `VmSpec` describes and a
scale set with Hotpatch on or off in its model.

These are what `Emulator.add_vm` and `Emulator.add_scale_set` put into the world without a
request, so they belong to Compute beside the rules that later change them: a field Compute
starts to read is added here, next to the code that reads it, and never in the emulator.
"""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.estate import VmSpec
from azhotpatch.testing.world.machines import SCALE_SET_TYPE, ScaleSet, machine_key

# The build of Windows Server 2025 a marketplace image resolves to (any recent one will do).
_EXACT_VERSION = "26100.4946.250905"


def vm_document(spec: VmSpec) -> dict[str, Any]:
    """The ``VirtualMachine`` document (tags and properties) a portal deployment of ``spec``
    would hold: its image, its OS profile with the patch settings asked for, and the disk,
    network and security profiles every VM has."""
    return {
        "tags": dict(spec.tags),
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D4s_v3"},
            "storageProfile": _storage_profile(spec),
            "osProfile": _os_profile(spec),
            "networkProfile": {"networkInterfaces": [{"id": _nic_id(spec)}]},
            "securityProfile": {
                "securityType": "TrustedLaunch",
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
            },
            **_scale_set_member(spec),
        },
    }


def scale_set(
    subscription: str, group: str, name: str, location: str, *, mode: str, hotpatch: bool, sku: str
) -> ScaleSet:
    """A scale set whose model enrolls the instances it creates in Hotpatch (``hotpatch``) or
    leaves patching to the OS."""
    settings: dict[str, Any] = (
        {"patchMode": "AutomaticByPlatform", "enableHotpatching": True}
        if hotpatch
        else {"patchMode": "AutomaticByOS"}
    )
    return ScaleSet(
        key=machine_key(subscription, group, SCALE_SET_TYPE, name),
        id=f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
        f"{SCALE_SET_TYPE}/{name}",
        subscription=subscription.lower(),
        group=group,
        name=name,
        location=location.lower(),
        mode=mode,
        model_patch_settings=settings,
        image={
            "publisher": "MicrosoftWindowsServer",
            "offer": "WindowsServer",
            "sku": sku,
            "version": "latest",
        },
    )


def _storage_profile(spec: VmSpec) -> dict[str, Any]:
    image: dict[str, Any] = (
        {"id": spec.image_id}
        if spec.image_id
        else {
            "publisher": spec.publisher,
            "offer": spec.offer,
            "sku": spec.sku,
            "version": "latest",
            "exactVersion": _EXACT_VERSION,
        }
    )
    return {
        "imageReference": image,
        "osDisk": {
            "osType": spec.os_type,
            "name": f"{spec.name}_OsDisk_1",
            "createOption": "FromImage",
            "caching": "ReadWrite",
            "managedDisk": {"storageAccountType": "Premium_LRS"},
            "diskSizeGB": 127,
        },
        "dataDisks": [],
    }


def _os_profile(spec: VmSpec) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "computerName": spec.name[:15],
        "adminUsername": "azureuser",
        "secrets": [],
        "allowExtensionOperations": True,
        "requireGuestProvisionSignal": True,
    }
    if spec.os_type.lower() == "linux":
        profile["linuxConfiguration"] = _linux_configuration(spec)
    else:
        profile["windowsConfiguration"] = _windows_configuration(spec)
    return profile


def _linux_configuration(spec: VmSpec) -> dict[str, Any]:
    return {
        "disablePasswordAuthentication": True,
        "provisionVMAgent": spec.provision_vm_agent,
        "patchSettings": {
            "patchMode": spec.patch_mode or "ImageDefault",
            "assessmentMode": "ImageDefault",
        },
    }


def _windows_configuration(spec: VmSpec) -> dict[str, Any]:
    """Only the patch settings the spec names are written, as a deployment template that
    leaves the others out would (Azure then reports its defaults)."""
    patch_settings: dict[str, Any] = {"assessmentMode": "ImageDefault"}
    if spec.patch_mode:
        patch_settings["patchMode"] = spec.patch_mode
    if spec.enable_hotpatching is not None:
        patch_settings["enableHotpatching"] = spec.enable_hotpatching
    if spec.bypass_platform_safety_checks is not None:
        patch_settings["automaticByPlatformSettings"] = {
            "rebootSetting": "IfRequired",
            "bypassPlatformSafetyChecksOnUserSchedule": spec.bypass_platform_safety_checks,
        }
    return {
        "provisionVMAgent": spec.provision_vm_agent,
        "enableAutomaticUpdates": spec.enable_automatic_updates,
        "patchSettings": patch_settings,
        "enableVMAgentPlatformUpdates": False,
    }


def _nic_id(spec: VmSpec) -> str:
    return (
        f"/subscriptions/{spec.subscription}/resourceGroups/{spec.group}/providers/"
        f"Microsoft.Network/networkInterfaces/{spec.name}-nic"
    )


def _scale_set_member(spec: VmSpec) -> dict[str, Any]:
    if not spec.scale_set:
        return {}
    scale_set_id = (
        f"/subscriptions/{spec.subscription}/resourceGroups/{spec.group}/providers/"
        f"{SCALE_SET_TYPE}/{spec.scale_set}"
    )
    return {"virtualMachineScaleSet": {"id": scale_set_id}}
