"""What azhotpatch knows about a machine: the facts its rules read, from ARM or from Resource
Graph, whichever kind of machine it is. `azhotpatch._parse` builds them from Azure's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from azhotpatch.models import EnrollmentState

__all__ = ["ArcFacts", "Facts", "VmFacts", "VmRuntime"]


@dataclass(frozen=True, slots=True)
class VmFacts:
    """What the Hotpatch rules need to know about a VM, from ARM or from Resource Graph."""

    id: str
    location: str
    os_type: str | None
    image: Mapping[str, Any]
    patch_mode: str | None
    provision_vm_agent: bool | None
    enable_automatic_updates: bool | None
    bypass_platform_safety_checks: bool | None
    enable_hotpatching: bool | None
    power_state: str | None
    vm_agent_status: str | None
    provisioning_state: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    patch_status: Mapping[str, Any] = field(default_factory=dict)
    scale_set: str | None = None  # a Flexible scale set's id, for a VM that belongs to one
    os_version: str | None = None  # as the guest agent reports it: 10.0.<build>.<revision>
    assessment_mode: str | None = None  # patchSettings.assessmentMode

    @property
    def cores(self) -> int | None:
        """Compute bills a VM by its size, not its cores: nothing to count here."""
        return None

    @property
    def enrollment(self) -> EnrollmentState:
        enrolled = bool(self.enable_hotpatching) and (self.patch_mode or "").lower() == (
            "automaticbyplatform"
        )
        return EnrollmentState.ENROLLED if enrolled else EnrollmentState.NOT_ENROLLED


@dataclass(frozen=True, slots=True)
class VmRuntime:
    """A VM's instance view alone: what is running and what its patch summaries say."""

    power_state: str | None
    vm_agent_status: str | None
    patch_status: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArcFacts:
    """What the Hotpatch rules need to know about an Arc-enabled server."""

    id: str
    location: str
    status: str | None
    os_name: str | None
    os_sku: str | None
    os_version: str | None
    os_type: str | None
    enable_hotpatching: bool | None
    enablement_status: str | None
    patch_mode: str | None
    hotpatch_license: str | None
    cores: int | None
    tags: Mapping[str, str] = field(default_factory=dict)
    arc_kind: str | None = None  # "HCI" for an Azure Local VM (also VMware, SCVMM, AWS...)
    parent_cluster: str | None = None  # an Azure Local VM's cluster
    assessment_mode: str | None = None  # patchSettings.assessmentMode

    @property
    def azure_local(self) -> bool:
        """An Azure Local VM: Hotpatch comes with its image, configured in the guest."""
        return (self.arc_kind or "").upper() == "HCI"

    @property
    def enrollment(self) -> EnrollmentState:
        status = (self.enablement_status or "").lower()
        if status == "enabled":
            return EnrollmentState.ENROLLED
        if status == "actionrequired":
            return EnrollmentState.ACTION_REQUIRED
        if status == "pendingevaluation" or self.enable_hotpatching:
            return EnrollmentState.PENDING
        return EnrollmentState.NOT_ENROLLED


Facts = VmFacts | ArcFacts
