"""Arc-enabled servers as onboarding leaves them: the machine an `ArcSpec` describes (what
its Connected Machine agent detected and reports) and, if it was licensed, its license
profile.

These are what `Emulator.add_arc` puts into the world without a request, so they belong to
Hybrid Compute beside the rules that later change them: a field Hybrid Compute starts to
read is added here, next to the code that reads it, and never in the emulator.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from azhotpatch.testing.estate import ArcSpec
from azhotpatch.testing.world.machines import ArcMachine, Hardware


def arc_machine(spec: ArcSpec, *, created: datetime) -> ArcMachine:
    """The machine ``spec`` describes, onboarded at ``created``, with the license profile a
    licensed (or once licensed) machine has."""
    key = ArcMachine.key_for(spec.subscription, spec.group, spec.name)
    machine = ArcMachine(
        key=key,
        id=spec.id,
        subscription=spec.subscription.lower(),
        group=spec.group,
        name=spec.name,
        location=spec.location.lower(),
        tags=dict(spec.tags),
        status=spec.status,
        os_name=spec.os_name,
        os_sku=spec.os_sku,
        os_version=spec.os_version,
        os_type=spec.os_type,
        detected=_detected_properties(spec),
        vbs_running=spec.vbs_running,
        vm_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"vmuuid/{key}")),
        created=created,
        enable_hotpatching=spec.enable_hotpatching,
        hotpatch_status=spec.hotpatch_status,
        hardware=_hardware(spec),
        arc_kind=spec.arc_kind,
        parent_cluster=spec.parent_cluster,
        local_image=spec.local_image,
    )
    if spec.licensed or spec.license_disabled:
        machine.license = license_profile(spec, created)
    return machine


def license_profile(spec: ArcSpec, at: datetime) -> dict[str, Any]:
    """The license profile's properties: Windows Server with its Hotpatch feature enrolled
    at ``at``, or disenrolled then when the spec says the license was turned off."""
    now = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    hotpatch = (
        {"subscriptionStatus": "Disabled", "disenrollmentDate": now, "billingEndDate": now}
        if spec.license_disabled and not spec.licensed
        else {"subscriptionStatus": "Enabled", "enrollmentDate": now, "billingStartDate": now}
    )
    return {
        "softwareAssurance": {"softwareAssuranceCustomer": False},
        "productProfile": {
            "productType": "WindowsServer",
            "subscriptionStatus": "Enabled",
            "enrollmentDate": now,
            "billingStartDate": now,
            "productFeatures": [{"name": "Hotpatch", **hotpatch}],
        },
    }


def _detected_properties(spec: ArcSpec) -> dict[str, str]:
    """What the agent detected on a physical server (the portal's "detected properties")."""
    return {
        "cloudprovider": "N/A",
        "manufacturer": "Dell Inc.",
        "model": "PowerEdge R760",
        "coreCount": str(spec.cores),
        "logicalCoreCount": str(spec.cores * 2),
        "processorCount": "1",
        "processorNames": "Intel(R) Xeon(R) Gold 6430",
        "totalPhysicalMemoryInGigabytes": str(spec.cores * 8),
    }


def _hardware(spec: ArcSpec) -> Hardware:
    return Hardware(
        uefi=spec.uefi,
        secure_boot=spec.secure_boot,
        virtualization=spec.virtualization,
        architecture=spec.architecture,
        vbs_configured=spec.vbs_running,
        chpe_restricted=not spec.chpe_on,
        chpe_off=not spec.chpe_on,
    )
