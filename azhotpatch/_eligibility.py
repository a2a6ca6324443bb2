"""The Hotpatch verdict for a whole machine: every catalog rule applied to what we know.

Pure: the facts come from an ARM read (single machine) or a Resource Graph row (fleet), so
the same verdict serves `check`, `enable` and fleet plans. Also decides which error a refusal
raises and which reasons ``force=`` may override.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from azhotpatch import catalog
from azhotpatch._facts import ArcFacts, VmFacts
from azhotpatch.errors import (
    IneligibleError,
    PrerequisiteError,
    UnsupportedImageError,
    UnsupportedRegionError,
)
from azhotpatch.models import Eligibility, Reason, Rule

__all__ = [
    "OVERRIDABLE",
    "arc_eligibility",
    "azure_local_eligibility",
    "refusal",
    "vm_eligibility",
]

IMAGE_RULES = frozenset(
    {
        Rule.IMAGE_NOT_SUPPORTED,
        Rule.CUSTOM_IMAGE,
        Rule.GALLERY_IMAGE,
        Rule.NO_IMAGE_REFERENCE,
        Rule.LINUX,
        Rule.UNIFORM_SCALE_SET,
    }
)
# Reasons Azure itself does not enforce when Hotpatch is switched on, so `enable(force=True)`
# may proceed despite them: the region's catalog (an existing VM keeps its image even if the
# SKU is withdrawn from the region) and the VM's current power/agent state (settings can be
# written to a stopped VM; they apply when it runs).
OVERRIDABLE = frozenset({Rule.IMAGE_NOT_IN_REGION, Rule.VM_NOT_RUNNING, Rule.VM_AGENT_NOT_READY})


def vm_eligibility(facts: VmFacts, *, offered_skus: Iterable[str] | None = None) -> Eligibility:
    """Image, region (when the region's live SKU list is given), patch settings and runtime."""
    parts = [catalog.check_image_reference(facts.image, os_type=facts.os_type)]
    sku = str(facts.image.get("sku") or "")
    supported = catalog.find_image(
        str(facts.image.get("publisher") or ""), str(facts.image.get("offer") or ""), sku
    )
    if supported is not None and offered_skus is not None:
        parts.append(catalog.check_region(sku, facts.location, offered_skus))
    if (facts.os_type or "Windows").lower() != "linux":
        parts.append(
            catalog.check_patch_settings(
                patch_mode=facts.patch_mode,
                provision_vm_agent=facts.provision_vm_agent,
                enable_automatic_updates=facts.enable_automatic_updates,
                bypass_platform_safety_checks=facts.bypass_platform_safety_checks,
                enable_hotpatching=facts.enable_hotpatching,
            )
        )
    parts.append(
        catalog.check_vm_runtime(
            power_state=facts.power_state, vm_agent_status=facts.vm_agent_status
        )
    )
    return Eligibility.combine(parts, resource=facts.id)


def arc_eligibility(facts: ArcFacts) -> Eligibility:
    """OS edition, connection and the machine's own Hotpatch verdict; and what enrolling it
    will change."""
    return Eligibility.combine(
        [
            catalog.check_arc_os(
                os_name=facts.os_name,
                os_sku=facts.os_sku,
                os_version=facts.os_version,
                os_type=facts.os_type,
            ),
            catalog.check_arc_state(
                status=facts.status, hotpatch_enablement_status=facts.enablement_status
            ),
            catalog.check_arc_enrollment(
                hotpatch_license=facts.hotpatch_license,
                enable_hotpatching=facts.enable_hotpatching,
            ),
        ],
        resource=facts.id,
    )


def azure_local_eligibility(
    facts: ArcFacts, *, image: Mapping[str, object] | None, image_id: str | None
) -> Eligibility:
    """An Azure Local VM: its connection, and its image (Hotpatch comes with the Azure
    Edition image and is configured in the guest: no license profile is written)."""
    return Eligibility.combine(
        [
            catalog.check_arc_state(status=facts.status, hotpatch_enablement_status=None),
            catalog.check_azure_local(image=image, image_id=image_id, os_sku=facts.os_sku),
        ],
        resource=facts.id,
    )


def refusal(resource: str, blockers: Iterable[Reason]) -> IneligibleError:
    """The most specific error for a refused enrollment, carrying every reason."""
    reasons = tuple(blockers)
    rules = {r.rule for r in reasons}
    if rules & IMAGE_RULES:
        return UnsupportedImageError(resource, reasons)
    if Rule.IMAGE_NOT_IN_REGION in rules:
        return UnsupportedRegionError(resource, reasons)
    return PrerequisiteError(resource, reasons)
