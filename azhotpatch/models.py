"""Typed results shared by every layer: frozen dataclasses and enums, never SDK models or dicts.

These are what callers hold on to, print, serialise into journals and reports, and compare in
tests, so they are immutable, hashable where it makes sense, and free of I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Eligibility", "Reason", "Rule"]


class Rule(str, enum.Enum):
    """Stable codes for every Hotpatch prerequisite; scripts and reports key on these."""

    # image (VMs)
    IMAGE_NOT_SUPPORTED = "ImageNotSupported"
    CUSTOM_IMAGE = "CustomImage"
    GALLERY_IMAGE = "GalleryImage"
    NO_IMAGE_REFERENCE = "NoImageReference"
    LINUX = "Linux"
    UNIFORM_SCALE_SET = "UniformScaleSet"
    IMAGE_NOT_IN_REGION = "ImageNotInRegion"
    # patch settings (VMs)
    PATCH_MODE = "PatchMode"
    VM_AGENT_NOT_PROVISIONED = "VmAgentNotProvisioned"
    AUTOMATIC_UPDATES_OFF = "AutomaticUpdatesOff"
    BYPASS_SAFETY_CHECKS = "BypassPlatformSafetyChecks"
    HOTPATCH_SETTING_OFF = "HotpatchSettingOff"
    # runtime state (VMs)
    VM_NOT_RUNNING = "VmNotRunning"
    VM_AGENT_NOT_READY = "VmAgentNotReady"
    # Arc
    ARC_OS_NOT_SUPPORTED = "ArcOsNotSupported"
    ARC_NOT_WINDOWS = "ArcNotWindows"
    ARC_DISCONNECTED = "ArcDisconnected"
    ARC_VBS_OFF = "ArcVbsOff"
    ARC_CHPE_ENABLED = "ArcChpeEnabled"
    ARC_LICENSE_FEATURE_OFF = "ArcLicenseFeatureOff"


@dataclass(frozen=True)
class Reason:
    """One broken prerequisite: what is wrong (``message``) and how to fix it (``fix``).

    ``blocking`` reasons stop enrollment until someone acts outside azhotpatch. Non-blocking
    reasons are settings that `enable` itself changes; they describe what enrollment will do.
    """

    rule: Rule
    message: str
    fix: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}"


@dataclass(frozen=True)
class Eligibility:
    """Whether a machine can take Hotpatch, with *every* reason it cannot (not just the first).

    ``ok`` is true when nothing blocks enrollment; ``compliant`` when nothing at all differs
    from what Hotpatch needs (the machine could already be enrolled as it stands).
    """

    resource: str | None = None
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.blockers

    @property
    def compliant(self) -> bool:
        return not self.reasons

    @property
    def blockers(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.blocking)

    @property
    def changes(self) -> tuple[Reason, ...]:
        """Settings `enable` will change on the machine (non-blocking reasons)."""
        return tuple(r for r in self.reasons if not r.blocking)

    @property
    def rules(self) -> frozenset[Rule]:
        return frozenset(r.rule for r in self.reasons)

    def __bool__(self) -> bool:
        return self.ok

    def with_resource(self, resource: str) -> Eligibility:
        return Eligibility(resource=resource, reasons=self.reasons)

    @classmethod
    def combine(cls, parts: Iterable[Eligibility], *, resource: str | None = None) -> Eligibility:
        """Merge partial checks (image, region, settings...) into one verdict."""
        reasons: list[Reason] = []
        for part in parts:
            reasons.extend(r for r in part.reasons if r not in reasons)
        return cls(resource=resource, reasons=tuple(reasons))

    def __str__(self) -> str:
        who = self.resource or "machine"
        if self.compliant:
            return f"{who}: eligible for Hotpatch"
        verdict = "eligible; enable will change:" if self.ok else "NOT eligible for Hotpatch"
        head = f"{who}: {verdict}"
        lines = [head]
        lines += [f"  - [{r.rule.value}] {r}" for r in self.blockers]
        lines += [f"  ~ [{r.rule.value}] {r}" for r in self.changes]
        return "\n".join(lines)
