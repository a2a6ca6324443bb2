"""Least privilege: exactly the Azure RBAC actions azhotpatch performs, as a custom role.

The list is checked by the test suite against the emulator's request log of a full run
(every operation the library has, against VMs and Arc machines): nothing missing, nothing
extra. Assign the role at the narrowest scope that holds your machines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FEATURE_ACTIONS",
    "REMEDIATION_ACTIONS",
    "REQUIRED_ACTIONS",
    "SCHEDULE_ACTIONS",
    "custom_role",
]

MACHINE_ACTIONS: tuple[str, ...] = (
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/assessPatches/action",
    "Microsoft.Compute/virtualMachines/installPatches/action",
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/read",
    "Microsoft.HybridCompute/machines/read",
    "Microsoft.HybridCompute/machines/write",
    "Microsoft.HybridCompute/machines/assessPatches/action",
    "Microsoft.HybridCompute/machines/installPatches/action",
    "Microsoft.HybridCompute/machines/licenseProfiles/read",
    "Microsoft.HybridCompute/machines/licenseProfiles/write",
    "Microsoft.HybridCompute/locations/operationstatus/read",
    "Microsoft.HybridCompute/locations/updateCenterOperationResults/read",
    "Microsoft.ResourceGraph/resources/read",
    # checking a Flexible scale set's VM against its scale set's model, and an Azure Local
    # VM's image (its virtualMachineInstances/default names a marketplace gallery image)
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.AzureStackHCI/virtualMachineInstances/read",
    "Microsoft.AzureStackHCI/marketplaceGalleryImages/read",
)
# Only `register_preview_features` needs these.
FEATURE_ACTIONS: tuple[str, ...] = (
    "Microsoft.Features/providers/features/read",
    "Microsoft.Features/providers/features/register/action",
    "Microsoft.Resources/subscriptions/providers/read",
    "Microsoft.Compute/register/action",
)
# Only `schedule` and `scheduled_status` need these (Azure Update Manager).
SCHEDULE_ACTIONS: tuple[str, ...] = (
    "Microsoft.Maintenance/maintenanceConfigurations/read",
    "Microsoft.Maintenance/maintenanceConfigurations/write",
    "Microsoft.Maintenance/configurationAssignments/write",
)
# Only `remediate` and `run(remediate=True)` need these: Run Command runs scripts on Arc
# servers as their local system account, so grant them only to the identity that remediates.
REMEDIATION_ACTIONS: tuple[str, ...] = (
    "Microsoft.HybridCompute/machines/runCommands/read",
    "Microsoft.HybridCompute/machines/runCommands/write",
)
REQUIRED_ACTIONS: tuple[str, ...] = (
    MACHINE_ACTIONS + FEATURE_ACTIONS + SCHEDULE_ACTIONS + REMEDIATION_ACTIONS
)


def custom_role(
    scopes: Iterable[str],
    *,
    name: str = "Hotpatch Operator (azhotpatch)",
    include_features: bool = True,
    include_schedule: bool = True,
    include_remediation: bool = True,
) -> dict[str, Any]:
    """An Azure custom role definition (``az role definition create --role-definition``).

    ``include_features=False`` leaves out what only `register_preview_features` needs (the
    Features and provider-registration actions); ``include_schedule=False`` what only
    `schedule` and `scheduled_status` need (the Maintenance actions);
    ``include_remediation=False`` what only remediation needs (Run Command, which runs
    scripts as the machine's system account: leave it out wherever nothing remediates).
    Each drops only its own group."""
    assignable = list(scopes)
    if not assignable:
        from azhotpatch.errors import InvalidArgumentError

        raise InvalidArgumentError(
            "scopes",
            "no assignable scope given",
            fix="pass e.g. ['/subscriptions/<id>'] or a resource group's id",
        )
    actions = (
        MACHINE_ACTIONS
        + (FEATURE_ACTIONS if include_features else ())
        + (SCHEDULE_ACTIONS if include_schedule else ())
        + (REMEDIATION_ACTIONS if include_remediation else ())
    )
    return {
        "Name": name,
        "IsCustom": True,
        "Description": "Check, enroll, assess and patch machines for Hotpatch with azhotpatch.",
        "Actions": list(actions),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": assignable,
    }


def custom_role_json(
    scopes: Iterable[str],
    *,
    name: str = "Hotpatch Operator (azhotpatch)",
    include_features: bool = True,
    include_schedule: bool = True,
    include_remediation: bool = True,
) -> str:
    """`custom_role` as the JSON ``az role definition create --role-definition`` reads."""
    role = custom_role(
        scopes,
        name=name,
        include_features=include_features,
        include_schedule=include_schedule,
        include_remediation=include_remediation,
    )
    return json.dumps(role, indent=2)
