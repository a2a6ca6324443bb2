"""What can take Hotpatch, as data, and the pure checks that apply it.

No I/O here: every check takes the facts (an image reference, patch settings, what Arc
reports) and returns an `Eligibility` listing *every* reason a machine falls short, each with
its fix. The operations layer gathers the facts from Azure and calls these.

Sources: Microsoft Learn "Hotpatch for Windows Server" (supported Azure images, Arc
prerequisites), the Compute REST spec (PatchSettings), and the HybridCompute REST spec.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from azhotpatch.errors import Command, Fix
from azhotpatch.models import Eligibility, Reason, Rule

__all__ = [
    "ARC_ACCEPTED_OS",
    "SUPPORTED_IMAGES",
    "InstallationOption",
    "SupportedImage",
    "check_arc_enrollment",
    "check_arc_os",
    "check_arc_state",
    "check_azure_local",
    "check_image",
    "check_image_reference",
    "check_patch_settings",
    "check_region",
    "check_scale_set",
    "check_vm_runtime",
    "find_image",
    "supported_skus",
]

PUBLISHER = "MicrosoftWindowsServer"
OFFER = "WindowsServer"
_HOTPATCH_DOCS = "https://learn.microsoft.com/windows-server/get-started/hotpatch"


class InstallationOption(str, enum.Enum):
    """Windows Server's installation option: Server Core or Desktop Experience (not to be
    confused with `azhotpatch.models.Installation`, a patch installation's result)."""

    CORE = "Core"
    DESKTOP = "Desktop Experience"


@dataclass(frozen=True)
class SupportedImage:
    """One marketplace image Azure accepts ``enableHotpatching`` on."""

    publisher: str
    offer: str
    sku: str
    windows_version: str
    installation_option: InstallationOption
    smalldisk: bool

    def matches(self, publisher: str, offer: str, sku: str) -> bool:
        return (publisher.lower(), offer.lower(), sku.lower()) == (
            self.publisher.lower(),
            self.offer.lower(),
            self.sku.lower(),
        )


def _image(sku: str, version: str, option: InstallationOption, smalldisk: bool) -> SupportedImage:
    return SupportedImage(PUBLISHER, OFFER, sku, version, option, smalldisk)


_CORE, _DESKTOP = InstallationOption.CORE, InstallationOption.DESKTOP
SUPPORTED_IMAGES: tuple[SupportedImage, ...] = (
    _image("2022-datacenter-azure-edition-core", "2022", _CORE, False),
    _image("2022-datacenter-azure-edition-core-smalldisk", "2022", _CORE, True),
    _image("2022-datacenter-azure-edition-hotpatch", "2022", _DESKTOP, False),
    _image("2022-datacenter-azure-edition-hotpatch-smalldisk", "2022", _DESKTOP, True),
    _image("2025-datacenter-azure-edition", "2025", _DESKTOP, False),
    _image("2025-datacenter-azure-edition-smalldisk", "2025", _DESKTOP, True),
    _image("2025-datacenter-azure-edition-core", "2025", _CORE, False),
    _image("2025-datacenter-azure-edition-core-smalldisk", "2025", _CORE, True),
)


def find_image(publisher: str, offer: str, sku: str) -> SupportedImage | None:
    """The supported image for a marketplace reference (case-insensitive), or None."""
    return next((i for i in SUPPORTED_IMAGES if i.matches(publisher, offer, sku)), None)


def supported_skus(windows_version: str | None = None) -> tuple[str, ...]:
    """SKU names, optionally for one Windows Server version ("2022" or "2025")."""
    return tuple(i.sku for i in SUPPORTED_IMAGES if windows_version in (None, i.windows_version))


def _supported_list() -> str:
    return ", ".join(supported_skus())


# --- images -----------------------------------------------------------------------------------

_RECREATE = (
    "an image cannot be changed in place: recreate the VM (or redeploy the workload) from "
    f"{PUBLISHER}:{OFFER}:<sku> with a supported SKU, e.g. 2025-datacenter-azure-edition"
)
_SKU_VERSION = re.compile(r"^(?P<version>2008-r2|2012-r2|20\d\d)")


UNIFORM_SCALE_SET = Reason(
    Rule.UNIFORM_SCALE_SET,
    "the VM belongs to a Uniform-orchestration scale set, which Hotpatch images do not support",
    Fix.of("move the workload to a Flexible-orchestration scale set or standalone VMs"),
)


def check_image(
    publisher: str | None,
    offer: str | None,
    sku: str | None,
    *,
    image_id: str | None = None,
    shared_gallery_image_id: str | None = None,
    community_gallery_image_id: str | None = None,
    os_type: str | None = None,
    uniform_scale_set: bool = False,
) -> Eligibility:
    """Can a VM created from this image take Hotpatch? Every reason, not just the first.

    Custom, shared-gallery and community-gallery images are never supported, nor are Linux
    VMs or members of Uniform-orchestration scale sets, whatever their marketplace SKU.
    """
    reasons: list[Reason] = []
    if os_type is not None and os_type.lower() == "linux":
        reasons.append(
            Reason(
                Rule.LINUX,
                "the VM runs Linux; Hotpatch for Azure VMs covers Windows Server Azure Edition",
                Fix.of(
                    "use Linux livepatching tools for Linux, or run the workload on a supported "
                    f"Windows Server image ({_supported_list()})"
                ),
            )
        )
    reasons.extend(_gallery_reasons(image_id, shared_gallery_image_id, community_gallery_image_id))
    if uniform_scale_set:
        reasons.append(UNIFORM_SCALE_SET)
    has_marketplace_ref = bool(publisher or offer or sku)
    if has_marketplace_ref:
        reasons.extend(_marketplace_reasons(publisher or "", offer or "", sku or ""))
    elif not (image_id or shared_gallery_image_id or community_gallery_image_id):
        reasons.append(
            Reason(
                Rule.NO_IMAGE_REFERENCE,
                "the VM has no image reference (attached or specialized OS disk), so its "
                "image cannot be shown to be a Hotpatch image",
                Fix.of(_RECREATE),
            )
        )
    return Eligibility(reasons=tuple(reasons))


def check_image_reference(
    image_reference: Mapping[str, object] | None,
    *,
    os_type: str | None = None,
    uniform_scale_set: bool = False,
) -> Eligibility:
    """`check_image` on the JSON ``storageProfile.imageReference`` shape ARM returns."""
    ref = image_reference or {}

    def text(key: str) -> str | None:
        value = ref.get(key)
        return value if isinstance(value, str) and value else None

    return check_image(
        text("publisher"),
        text("offer"),
        text("sku"),
        image_id=text("id"),
        shared_gallery_image_id=text("sharedGalleryImageId"),
        community_gallery_image_id=text("communityGalleryImageId"),
        os_type=os_type,
        uniform_scale_set=uniform_scale_set,
    )


def _gallery_reasons(
    image_id: str | None, shared_gallery_id: str | None, community_gallery_id: str | None
) -> list[Reason]:
    reasons: list[Reason] = []
    if image_id:
        is_gallery = "/galleries/" in image_id.lower()
        reasons.append(
            Reason(
                Rule.GALLERY_IMAGE if is_gallery else Rule.CUSTOM_IMAGE,
                f"the VM was created from a {'gallery' if is_gallery else 'custom managed'} "
                f"image ({image_id}); Hotpatch supports only the Azure Edition marketplace images",
                Fix.of(_RECREATE),
            )
        )
    for kind, value in (("shared", shared_gallery_id), ("community", community_gallery_id)):
        if value:
            reasons.append(
                Reason(
                    Rule.GALLERY_IMAGE,
                    f"the VM was created from a {kind} gallery image ({value}); Hotpatch "
                    "supports only the Azure Edition marketplace images",
                    Fix.of(_RECREATE),
                )
            )
    return reasons


def _marketplace_reasons(publisher: str, offer: str, sku: str) -> list[Reason]:
    if find_image(publisher, offer, sku):
        return []
    where = f"{publisher}:{offer}:{sku}"
    if (publisher.lower(), offer.lower()) != (PUBLISHER.lower(), OFFER.lower()):
        message = (
            f"image {where} is not a Hotpatch image; only {PUBLISHER}:{OFFER} with SKU one of "
            f"{_supported_list()} is supported"
        )
    else:
        message = f"SKU {sku!r} {_describe_sku(sku)}; supported SKUs: {_supported_list()}"
    return [Reason(Rule.IMAGE_NOT_SUPPORTED, message, Fix.of(_RECREATE))]


def _describe_sku(sku: str) -> str:
    lowered = sku.lower()
    match = _SKU_VERSION.match(lowered)
    version = match.group("version") if match else None
    if version in ("2022", "2025") and "azure-edition" in lowered:
        return (
            f"is a Windows Server {version} Azure Edition image without Hotpatch support "
            "(for 2022 Desktop Experience the Hotpatch SKU is 2022-datacenter-azure-edition-"
            "hotpatch)"
        )
    if version in ("2022", "2025"):
        return (
            f"is Windows Server {version} but not Azure Edition; on Azure VMs Hotpatch needs "
            "an Azure Edition image (on-premises 2025 machines get it through Azure Arc)"
        )
    if version:
        return f"is Windows Server {version.upper()}, which has no Hotpatch"
    return "is not a Hotpatch image"


def check_region(sku: str, location: str, offered_skus: Iterable[str]) -> Eligibility:
    """Is the image's SKU offered in the VM's region? ``offered_skus`` is the live list from
    the region's image catalog (``VirtualMachineImages.list_skus``)."""
    offered = {s.lower() for s in offered_skus}
    if sku.lower() in offered:
        return Eligibility()
    alternatives = [s for s in supported_skus() if s.lower() in offered]
    hint = (
        f"this region offers {', '.join(alternatives)}"
        if alternatives
        else "this region offers no Hotpatch image"
    )
    return Eligibility(
        reasons=(
            Reason(
                Rule.IMAGE_NOT_IN_REGION,
                f"region {location!r} does not offer the image SKU {sku!r} ({hint})",
                Fix.of(
                    "deploy in a region that offers it (e.g. westcentralus, uksouth, eastasia), "
                    "or use a SKU this region offers"
                ),
            ),
        )
    )


# --- patch settings (VMs) ---------------------------------------------------------------------

_SETTINGS = "osProfile.windowsConfiguration"
_DOES_IT = ("(", Command("enable"), " sets it)")  # a method in Python, a command in a shell
# the same setting, at the same path, on VMs and on Arc machines
_HOTPATCH_SETTING_OFF = Reason(
    Rule.HOTPATCH_SETTING_OFF,
    "patchSettings.enableHotpatching is not true",
    Fix.of(f"set {_SETTINGS}.patchSettings.enableHotpatching to true ", *_DOES_IT),
    blocking=False,
)


def check_patch_settings(
    *,
    patch_mode: str | None,
    provision_vm_agent: bool | None,
    enable_automatic_updates: bool | None,
    bypass_platform_safety_checks: bool | None,
    enable_hotpatching: bool | None = None,
) -> Eligibility:
    """The VM patch settings Hotpatch needs, each as its own reason with its fix.

    ``provisionVMAgent`` is fixed when a VM is created, so a VM without the agent is blocked.
    The other settings are non-blocking: `enable` writes them. ``None`` means ARM did not
    return the property; we treat it as its default (patchMode unset = AutomaticByOS,
    agent and automatic updates on, bypass off, hotpatching off).
    """
    reasons: list[Reason] = []
    mode = patch_mode or "AutomaticByOS (default)"
    if (patch_mode or "").lower() != "automaticbyplatform":
        reasons.append(
            Reason(
                Rule.PATCH_MODE,
                f"patchMode is {mode!r}; Hotpatch needs 'AutomaticByPlatform'",
                Fix.of(
                    f"set {_SETTINGS}.patchSettings.patchMode to AutomaticByPlatform ", *_DOES_IT
                ),
                blocking=False,
            )
        )
    if provision_vm_agent is False:
        reasons.append(
            Reason(
                Rule.VM_AGENT_NOT_PROVISIONED,
                "provisionVMAgent is false; AutomaticByPlatform patching and Hotpatch need "
                "the Azure VM agent",
                Fix.of(
                    "provisionVMAgent is set at creation only: recreate the VM with "
                    f"{_SETTINGS}.provisionVMAgent=true"
                ),
            )
        )
    if enable_automatic_updates is False:
        reasons.append(
            Reason(
                Rule.AUTOMATIC_UPDATES_OFF,
                "enableAutomaticUpdates is false; AutomaticByPlatform requires it true",
                Fix.of(f"set {_SETTINGS}.enableAutomaticUpdates to true ", *_DOES_IT),
                blocking=False,
            )
        )
    if bypass_platform_safety_checks:
        reasons.append(
            Reason(
                Rule.BYPASS_SAFETY_CHECKS,
                "automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule is true; "
                "Hotpatch requires platform safety checks",
                Fix.of(
                    "set it to false ",
                    *_DOES_IT,
                    "; a VM patched only by an Azure Update Manager schedule needs it true, so "
                    "choose one of the two for this VM",
                ),
                blocking=False,
            )
        )
    if not enable_hotpatching:
        reasons.append(_HOTPATCH_SETTING_OFF)
    return Eligibility(reasons=tuple(reasons))


def check_vm_runtime(*, power_state: str | None, vm_agent_status: str | None) -> Eligibility:
    """Runtime state from the instance view: the VM must run and its agent must be Ready for
    AutomaticByPlatform patching (and our on-demand assess/install) to work."""
    reasons: list[Reason] = []
    if power_state is not None and power_state.lower() != "running":
        reasons.append(
            Reason(
                Rule.VM_NOT_RUNNING,
                f"the VM is {power_state!r}, not running",
                Fix.of("start the VM (az vm start) before enrolling or patching it"),
            )
        )
    if vm_agent_status is not None and vm_agent_status.lower() != "ready":
        reasons.append(
            Reason(
                Rule.VM_AGENT_NOT_READY,
                f"the VM agent reports {vm_agent_status!r}, not 'Ready'",
                Fix.of(
                    "check the Windows Azure Guest Agent service inside the VM "
                    "(https://aka.ms/vmagentwindows) and that the VM can reach the wire server"
                ),
            )
        )
    return Eligibility(reasons=tuple(reasons))


# --- Arc --------------------------------------------------------------------------------------

# What the Connected Machine agent reports for the OS (osType/osName, osSku, osVersion) and
# which values we accept. Arc reports osName "windows", osSku the product name without the
# "Microsoft " prefix (e.g. "Windows Server 2025 Datacenter"), osVersion "10.0.<build>.<ubr>";
# Windows Server 2025 is build 26100.
ARC_ACCEPTED_OS: Mapping[str, str] = {
    "osType/osName": "'windows' (any case)",
    "osSku": "'Windows Server 2025 Datacenter' or 'Windows Server 2025 Standard', optionally "
    "prefixed 'Microsoft ' and/or suffixed ' Evaluation' (any case); 'Azure Edition' is not an "
    "Arc Hotpatch edition",
    "osVersion": "10.0.26100.* (used only to explain a mismatch; osSku decides)",
}
_ARC_SKU = re.compile(
    r"^(microsoft\s+)?windows\s+server\s+2025\s+(?P<edition>datacenter|standard)"
    r"(\s+evaluation)?$",
    re.IGNORECASE,
)
_WS2025_BUILD = "26100"
_ARC_OS_FIX = (
    "Hotpatch on Arc needs Windows Server 2025 Datacenter or Standard: upgrade the machine, "
    "or leave it on the monthly cumulative updates"
)


def check_arc_os(
    *, os_name: str | None, os_sku: str | None, os_version: str | None, os_type: str | None = None
) -> Eligibility:
    """Arc OS edition rule (see `ARC_ACCEPTED_OS` for the exact strings accepted)."""
    family = (os_type or os_name or "").strip().lower()
    if family and family != "windows":
        return Eligibility(
            reasons=(
                Reason(
                    Rule.ARC_NOT_WINDOWS,
                    f"the machine runs {os_type or os_name!r}; Arc Hotpatch is for Windows Server "
                    "2025",
                    Fix.of("nothing to enroll on this machine"),
                ),
            )
        )
    sku = (os_sku or "").strip()
    if _ARC_SKU.match(sku):
        return Eligibility()
    if not sku:
        build = _build_of(os_version)
        seen = f"osVersion {os_version!r}" if os_version else "no OS details"
        hint = " (build 26100 is Windows Server 2025)" if build == _WS2025_BUILD else ""
        message = f"Arc reports no osSku and {seen}{hint}, so the edition is unknown"
        fix = (
            "make sure the Connected Machine agent is current and connected so it reports the "
            f"OS edition; {_ARC_OS_FIX}"
        )
    elif "azure edition" in sku.lower():
        return Eligibility(reasons=(_azure_edition(sku),))
    else:
        message = f"osSku {sku!r} is not Windows Server 2025 Datacenter or Standard"
        fix = _ARC_OS_FIX
    return Eligibility(reasons=(Reason(Rule.ARC_OS_NOT_SUPPORTED, message, Fix.of(fix)),))


def _azure_edition(sku: str) -> Reason:
    """Windows Server Datacenter: Azure Edition includes Hotpatch (Microsoft Learn, "Enable
    Hotpatch for Azure Arc-enabled servers": this edition "already includes Hotpatching
    feature by default"), so it is neither enrolled nor billed through the license profile."""
    return Reason(
        Rule.ARC_AZURE_EDITION,
        f"osSku {sku!r} is Datacenter: Azure Edition, which includes Hotpatch: it needs no "
        "license profile Hotpatch feature, so azhotpatch neither enrolls nor bills it through "
        "Arc",
        Fix.of(_AZURE_EDITION_IN_GUEST),
    )


_AZURE_EDITION_IN_GUEST = (
    "nothing to enroll through Arc. Hotpatch comes with the Azure Edition image and is set up "
    "in the guest: on Azure Local, turn on Azure verification for VMs (Azure benefits) for "
    "the VM, keep VBS on (UEFI with Secure Boot), and take updates with Windows Update "
    "(SConfig or Group Policy); an ISO-installed VM also needs the Hotpatch enrollment "
    "package (learn.microsoft.com/windows-server/get-started/enable-hotpatch-azure-edition)"
)


def check_azure_local(
    *, image: Mapping[str, object] | None, image_id: str | None, os_sku: str | None = None
) -> Eligibility:
    """An Azure Local VM (an Arc machine of kind ``HCI``): Hotpatch comes with its Azure
    Edition image and is configured in the guest, not through Update Manager or a license
    profile (Microsoft Learn, "Hotpatch for Windows Server": Azure Local VMs built from the
    Hotpatch images support it, orchestrated with Group Policy, SConfig or third-party tools).
    ``image`` is the publisher/offer/sku of the VM instance's marketplace image, when known."""
    ref = image or {}
    publisher, offer, sku = (str(ref.get(k) or "") for k in ("publisher", "offer", "sku"))
    if find_image(publisher, offer, sku) is not None:
        reason = Reason(
            Rule.AZURE_LOCAL_VM,
            f"an Azure Local VM from the Hotpatch image {publisher}:{offer}:{sku}: Hotpatch "
            "comes with the image and is configured in the guest, not through Update Manager "
            "or the Arc license profile",
            Fix.of(_AZURE_EDITION_IN_GUEST),
        )
        return Eligibility(reasons=(reason,))
    where = f"{publisher}:{offer}:{sku}" if sku else (image_id or "an unknown image")
    return Eligibility(
        reasons=(
            Reason(
                Rule.AZURE_LOCAL_IMAGE,
                f"an Azure Local VM built from {where}, which is not a Hotpatch image"
                + (f" (it reports osSku {os_sku!r})" if os_sku else ""),
                Fix.of(
                    "Hotpatch on Azure Local needs a VM built from a Windows Server Datacenter: "
                    f"Azure Edition Hotpatch image ({_supported_list()}) from the Azure Local "
                    "marketplace; recreate the VM from one"
                ),
            ),
        )
    )


def check_scale_set(
    *, scale_set: str, orchestration_mode: str | None, model_settings: Mapping[str, object]
) -> Eligibility:
    """A VM in a scale set: Uniform scale sets cannot run Hotpatch images; a Flexible one's
    instances are VMs, enrolled like any other, but the scale set's model must agree or the
    instances it creates next come without Hotpatch."""
    if (orchestration_mode or "").lower() == "uniform":
        return Eligibility(reasons=(UNIFORM_SCALE_SET,))
    mode = str(model_settings.get("patchMode") or "")
    enabled = model_settings.get("enableHotpatching") is True
    if enabled and mode.lower() == "automaticbyplatform":
        return Eligibility()
    name = scale_set.rsplit("/", 1)[-1]
    return Eligibility(
        reasons=(
            Reason(
                Rule.SCALE_SET_MODEL,
                f"its Flexible scale set {name!r} has patchMode {mode or 'unset'!r} and "
                f"enableHotpatching {model_settings.get('enableHotpatching')!r} in its model: "
                "this VM is enrolled, but instances the scale set creates next will not be",
                Fix.of(
                    "set virtualMachineProfile.osProfile.windowsConfiguration.patchSettings to "
                    "patchMode AutomaticByPlatform and enableHotpatching true in the model of "
                    f"scale set {name} (portal, template or az vmss); azhotpatch does not change "
                    "scale set models"
                ),
                blocking=False,
            ),
        )
    )


def _build_of(os_version: str | None) -> str | None:
    parts = (os_version or "").split(".")
    return parts[2] if len(parts) >= 3 else None


VBS_REGISTRY_FIX = (
    "turn on Virtualization-Based Security: "
    'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Control\\DeviceGuard" '
    "/v EnableVirtualizationBasedSecurity /t REG_DWORD /d 1 /f, reboot, and check that "
    "msinfo32 shows 'Virtualization-based security: Running'; or let azhotpatch do it "
    "through Run Command (remediate(..., fix=True, reboot='baseline'), or run with "
    "remediate=True)"
)
CHPE_REGISTRY_FIX = (
    "on Arm64, disable CHPE: "
    'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management" '
    "/v HotPatchRestrictions /t REG_DWORD /d 1 /f, then reboot once"
)


def check_arc_state(
    *,
    status: str | None,
    hotpatch_enablement_status: str | None,
    architecture: str | None = None,
) -> Eligibility:
    """Connection and the machine's own Hotpatch verdict (``hotpatchEnablementStatus``).

    ``ActionRequired`` almost always means VBS is not running; on Arm64 it can also mean CHPE
    is still enabled. Both need a registry change and a reboot on the machine itself.
    """
    reasons: list[Reason] = []
    if (status or "").lower() != "connected":
        reasons.append(
            Reason(
                Rule.ARC_DISCONNECTED,
                f"the Arc machine is {status or 'in an unknown state'!r}, not 'Connected'",
                Fix.of(
                    "bring the Connected Machine agent back online (azcmagent show; "
                    "azcmagent check) so Azure can reach the machine"
                ),
            )
        )
    if (hotpatch_enablement_status or "").lower() == "actionrequired":
        arm64 = (architecture or "").lower() in ("arm64", "aarch64")
        reasons.append(
            Reason(
                Rule.ARC_VBS_OFF,
                "the machine reports hotpatchEnablementStatus 'ActionRequired': "
                "Virtualization-Based Security is not running",
                Fix.of(VBS_REGISTRY_FIX + ("" if arm64 else f" ({CHPE_REGISTRY_FIX})")),
            )
        )
        if arm64:
            reasons.append(
                Reason(
                    Rule.ARC_CHPE_ENABLED,
                    "the machine is Arm64 and reports 'ActionRequired': CHPE must be disabled",
                    Fix.of(CHPE_REGISTRY_FIX),
                )
            )
    return Eligibility(reasons=tuple(reasons))


def check_arc_enrollment(
    *, hotpatch_license: str | None, enable_hotpatching: bool | None
) -> Eligibility:
    """What enrolling an Arc machine will set: its license profile's Hotpatch feature and
    its ``enableHotpatching``, each written only where it is not on yet. Neither blocks."""
    reasons: list[Reason] = []
    if (hotpatch_license or "").lower() != "enabled":
        reasons.append(
            Reason(
                Rule.ARC_LICENSE_FEATURE_OFF,
                "the license profile's Hotpatch feature is "
                f"{hotpatch_license or 'not set'!r}, not 'Enabled'",
                Fix.of("enable the Hotpatch feature in licenseProfiles/default ", *_DOES_IT),
                blocking=False,
            )
        )
    if enable_hotpatching is not True:
        reasons.append(_HOTPATCH_SETTING_OFF)
    return Eligibility(reasons=tuple(reasons))
