"""Azure Policy's compliance states as Resource Graph's ``policyresources`` table holds them,
for the built-in definitions of patch orchestration.

A small model of what Policy does: an assignment of a definition to a scope (a subscription
or a resource group) evaluates every machine in it the definition applies to, and keeps one
state per machine and assignment (``Compliant`` or ``NonCompliant``) with the time of that
evaluation. Policy evaluates on its own schedule (a new assignment within about 30 minutes,
then every 24 hours, or on a compliance scan), so a setting changed since keeps its old
state: the emulator re-evaluates only when asked (`evaluate`), which is how a test makes a
state stale. The definitions are judged here from the machine's ARM document, as Policy
reads fields, independently of azhotpatch's own reading of the same settings.

The rows carry the columns Microsoft's "Azure Resource Graph sample queries for Azure
Policy" read: ``properties.resourceId``, ``policyAssignmentId``, ``policyAssignmentName``,
``policyAssignmentScope``, ``policyDefinitionId``, ``complianceState``, ``timestamp``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.world.state import World

__all__ = ["ASSESSMENT", "HOTPATCH", "ORCHESTRATION", "PolicyStates", "complies"]

Row = dict[str, Any]
# The machines Resource Graph indexes: (resource id, its ARM document).
Documents = Callable[[], Iterable[tuple[str, dict[str, Any]]]]

# The built-in definitions' names (Azure/azure-policy, built-in-policies/policyDefinitions)
ASSESSMENT = "bd876905-5b84-4f73-ab2d-2e7a7c4568d9"  # periodic assessment
ORCHESTRATION = "9905ca54-1471-49c6-8291-7582c04cd4d4"  # AutomaticByPlatform prerequisite
HOTPATCH = "6d02d2f7-e38b-4bdc-96f3-adc0a8726abc"  # Hotpatch on Azure Edition VMs
_VM = "microsoft.compute/virtualmachines"
_ARC = "microsoft.hybridcompute/machines"


def _patch_settings(document: dict[str, Any]) -> dict[str, Any]:
    profile = (document.get("properties") or {}).get("osProfile") or {}
    config = profile.get("windowsConfiguration") or profile.get("linuxConfiguration") or {}
    settings: dict[str, Any] = config.get("patchSettings") or {}
    return settings


def _applies(definition: str, document: dict[str, Any]) -> bool:
    kind = str(document.get("type", "")).lower()
    if definition == ASSESSMENT:
        return kind in (_VM, _ARC)
    if kind != _VM:
        return False
    image = ((document.get("properties") or {}).get("storageProfile") or {}).get(
        "imageReference"
    ) or {}
    if definition == HOTPATCH:
        return "azure-edition" in str(image.get("sku", "")).lower()
    return str(image.get("offer", "")).lower() == "windowsserver"


def complies(definition: str, document: dict[str, Any]) -> bool:
    """Whether the machine's settings satisfy the definition, as Policy evaluates it (the
    orchestration prerequisite also wants bypassPlatformSafetyChecksOnUserSchedule true)."""
    settings = _patch_settings(document)
    if definition == ASSESSMENT:
        return settings.get("assessmentMode") == "AutomaticByPlatform"
    if definition == HOTPATCH:
        return settings.get("enableHotpatching") is True
    bypass = (settings.get("automaticByPlatformSettings") or {}).get(
        "bypassPlatformSafetyChecksOnUserSchedule"
    )
    return settings.get("patchMode") == "AutomaticByPlatform" and bypass is True


def vouches_wrongly(definition: str, document: dict[str, Any]) -> bool:
    """Whether a ``Compliant`` state of the definition is wrong about what Hotpatch needs
    from the machine now: the setting the definition enforces for it is off. (The
    orchestration prerequisite's bypass flag is not what Hotpatch needs, so it is not
    counted.)"""
    settings = _patch_settings(document)
    if definition == ORCHESTRATION:
        return settings.get("patchMode") != "AutomaticByPlatform"
    return not complies(definition, document)


@dataclass(frozen=True)
class Assignment:
    name: str
    definition: str
    scope: str  # lower-cased: /subscriptions/<id>[/resourcegroups/<name>]

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/microsoft.authorization/policyassignments/{self.name}"

    def covers(self, resource_id: str) -> bool:
        return resource_id.lower().startswith(self.scope + "/")


class PolicyStates:
    """The assignments and their latest states, and the ``policyresources`` rows."""

    def __init__(self, world: World, documents: Documents) -> None:
        self.world = world
        self._documents = documents
        self.assignments: list[Assignment] = []
        # (assignment name, resource id lower-cased) -> (complianceState, evaluated at)
        self.states: dict[tuple[str, str], tuple[str, float]] = {}

    def assign(self, definition: str, scope: str, name: str | None = None) -> Assignment:
        """Assign a built-in definition to a scope, and evaluate it there at once."""
        if definition not in (ASSESSMENT, ORCHESTRATION, HOTPATCH):
            raise ValueError(f"{definition!r} is not a built-in patch orchestration definition")
        scope = scope.rstrip("/").lower()
        name = name or f"{definition[:8]}-{len(self.assignments) + 1}"
        assignment = Assignment(name, definition, scope)
        self.assignments.append(assignment)
        self._evaluate(assignment)
        return assignment

    def evaluate(self) -> None:
        """A compliance scan: every assignment's states from the machines' settings now."""
        for assignment in self.assignments:
            self._evaluate(assignment)

    def _evaluate(self, assignment: Assignment) -> None:
        now = self.world.now()
        for resource_id, document in self._documents():
            if assignment.covers(resource_id) and _applies(assignment.definition, document):
                state = "Compliant" if complies(assignment.definition, document) else "NonCompliant"
                self.states[(assignment.name, resource_id.lower())] = (state, now)
        self.world.changed()

    def mismatched(self) -> set[str]:
        """Machines (lower-cased ids) with a ``Compliant`` state whose settings now say
        otherwise: the ground truth of ``policy-mismatch``."""
        documents = {rid.lower(): document for rid, document in self._documents()}
        found = set()
        for assignment in self.assignments:
            for (name, resource), (state, _) in self.states.items():
                document = documents.get(resource)
                if name != assignment.name or state != "Compliant" or document is None:
                    continue
                if vouches_wrongly(assignment.definition, document):
                    found.add(resource)
        return found

    def rows(self) -> list[Row]:
        by_name = {a.name: a for a in self.assignments}
        return [
            self._row(by_name[name], resource, state, at)
            for (name, resource), (state, at) in self.states.items()
        ]

    def _row(self, assignment: Assignment, resource: str, state: str, at: float) -> Row:
        parts = resource.split("/")
        return {
            "id": f"{resource}/providers/microsoft.policyinsights/policystates/"
            f"{uuid.uuid5(uuid.NAMESPACE_URL, assignment.id + resource)}",
            "name": str(uuid.uuid5(uuid.NAMESPACE_URL, assignment.id + resource)),
            "type": "microsoft.policyinsights/policystates",
            "tenantId": self.world.tenant_id,
            "location": "",
            "resourceGroup": parts[4],
            "subscriptionId": parts[2],
            "properties": {
                "resourceId": resource,
                "resourceType": "/".join(parts[6:8]),
                "policyAssignmentId": assignment.id,
                "policyAssignmentName": assignment.name,
                "policyAssignmentScope": assignment.scope,
                "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/"
                + assignment.definition,
                "policyDefinitionName": assignment.definition,
                "complianceState": state,
                "timestamp": iso(self.world.clock.at(at)),
            },
            "tags": None,
        }
