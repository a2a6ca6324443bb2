"""Intune on the wire (Microsoft Graph beta), shaped as the Graph docs' request and response
examples show (microsoftgraph/microsoft-graph-docs-contrib ``api-reference/beta``):

* ``windowsQualityUpdatePolicies``: list, get, create (201), update (PATCH, 200 with the
  policy), delete (204); ``/{id}/assignments`` list; ``/{id}/assign`` (204), which replaces
  the policy's whole set of assignments (an entry with the id of one it holds keeps it);
* ``managedDevices``: list (``$select``, ``$filter=operatingSystem eq '...'``, paged with
  ``@odata.nextLink``), get (``hardwareInformation`` only when selected);
* ``reports/exportJobs``: create (201 ``notStarted``), get (``inProgress`` until the report
  is built, then ``completed`` with a ``url``), and the zip at that URL.
"""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import Request, Response
from azhotpatch.testing.msgraph.models import ExportJob, IntuneBackend, Policy

BASE = "https://graph.microsoft.com/beta/$metadata"
_POLICY_TYPE = "#microsoft.graph.windowsQualityUpdatePolicy"
_ASSIGNMENT_TYPE = "#microsoft.graph.windowsQualityUpdatePolicyAssignment"
# assignment targets by type, lower-cased without the '#' (the reference writes it either way:
# intune-softwareupdate-windowsqualityupdatepolicy-assign.md), and whether each names a group
_TARGETS = {
    "microsoft.graph.groupassignmenttarget": True,
    "microsoft.graph.exclusiongroupassignmenttarget": True,
    "microsoft.graph.alldevicesassignmenttarget": False,
    "microsoft.graph.alllicensedusersassignmenttarget": False,
    "microsoft.graph.deviceandappmanagementassignmenttarget": False,
}
_WRITABLE = {"@odata.type", "displayName", "description", "roleScopeTagIds", "hotpatchEnabled",
             "approvalSettings"}  # fmt: skip
_REPORT = "QualityUpdateDeviceStatusByPolicy"


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def _not_found(what: str, key: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"{what} with id '{key}' was not found.")


def _stamp(backend: IntuneBackend) -> str:
    return backend.now().strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class IntuneResponses:
    """The handlers of Graph's route table."""

    def __init__(self, backend: IntuneBackend) -> None:
        self.backend = backend

    # --- quality update policies ------------------------------------------------------------

    def list_policies(self, request: Request) -> Response:
        value = [p.body for p in self.backend.policies.values()]
        context = f"{BASE}#deviceManagement/windowsQualityUpdatePolicies"
        return Response(200, {"@odata.context": context, "value": value})

    def _policy(self, request: Request) -> Policy:
        key = request.params["policy"]
        policy = self.backend.policies.get(key.lower())
        if policy is None:
            raise _not_found("windowsQualityUpdatePolicy", key)
        return policy

    def get_policy(self, request: Request) -> Response:
        return Response(200, self._policy(request).body)

    def create_policy(self, request: Request) -> Response:
        body = _checked_policy(request.json_object(), creating=True)
        backend = self.backend
        policy_id = backend.new_id()
        now = _stamp(backend)
        stored = {
            "@odata.type": _POLICY_TYPE,
            "id": policy_id,
            "displayName": body["displayName"],
            "description": body.get("description") or "",
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "roleScopeTagIds": list(body.get("roleScopeTagIds") or ["0"]),
            "hotpatchEnabled": bool(body.get("hotpatchEnabled", False)),
            "approvalSettings": list(body.get("approvalSettings") or []),
        }
        backend.policies[policy_id] = Policy(policy_id, stored)
        backend.writes.created.append(policy_id)
        return Response(201, stored)

    def update_policy(self, request: Request) -> Response:
        policy = self._policy(request)
        body = _checked_policy(request.json_object(), creating=False)
        changes = {k: v for k, v in body.items() if k != "@odata.type"}
        policy.body.update(changes)
        policy.body["lastModifiedDateTime"] = _stamp(self.backend)
        self.backend.writes.updated.append((policy.id, changes))
        return Response(200, policy.body)

    def delete_policy(self, request: Request) -> Response:
        policy = self._policy(request)
        del self.backend.policies[policy.id]
        self.backend.writes.deleted.append(policy.id)
        return Response(204)

    def list_assignments(self, request: Request) -> Response:
        policy = self._policy(request)
        context = f"{BASE}#deviceManagement/windowsQualityUpdatePolicies('{policy.id}')/assignments"
        return Response(200, {"@odata.context": context, "value": policy.assignments})

    def assign(self, request: Request) -> Response:
        """The set replaces the policy's: entries with the id of an assignment held keep it,
        the rest get new ids (``...windowsqualityupdatepolicy-assign.md``: 204)."""
        policy = self._policy(request)
        given = request.json_object().get("assignments")
        if not isinstance(given, list):
            raise _bad("The 'assignments' parameter must be a collection.")
        held = {str(a["id"]): a for a in policy.assignments}
        written = [self._assignment(entry, held) for entry in given]
        policy.assignments = written
        self.backend.writes.assigned.append((policy.id, [dict(a) for a in written]))
        return Response(204)

    def _assignment(self, entry: Any, held: dict[str, dict[str, Any]]) -> dict[str, Any]:
        target = entry.get("target") if isinstance(entry, dict) else None
        kind = str((target or {}).get("@odata.type", "")).lstrip("#").lower()
        if not isinstance(target, dict) or kind not in _TARGETS:
            raise _bad(
                "An assignment target must be a deviceAndAppManagementAssignmentTarget: a "
                "group, an exclusion group, all devices or all licensed users."
            )
        if _TARGETS[kind]:
            group = target.get("groupId")
            if not isinstance(group, str) or not group:
                raise _bad(f"An assignment target of type '{kind}' needs a groupId.")
            if group.lower() not in {g.lower() for g in self.backend.groups}:
                raise _bad(f"The group '{group}' does not exist.")
        kept = held.get(str(entry.get("id")))
        if kept is not None and kept["target"] == target:
            return kept
        return {"@odata.type": _ASSIGNMENT_TYPE, "id": self.backend.new_id(), "target": target}

    # --- managed devices --------------------------------------------------------------------

    def list_devices(self, request: Request) -> Response:
        backend = self.backend
        devices = sorted(backend.devices.values(), key=lambda d: d.id)
        wanted = _os_filter(request.query.get("$filter"))
        if wanted is not None:
            devices = [d for d in devices if d.operating_system.lower() == wanted]
        select = _select(request)
        start = int(request.query.get("$skiptoken") or 0)
        page = devices[start : start + backend.page_size]
        body: dict[str, Any] = {
            "@odata.context": f"{BASE}#deviceManagement/managedDevices",
            "value": [d.document(select) for d in page],
        }
        if start + backend.page_size < len(devices):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(start + backend.page_size)
            body["@odata.nextLink"] = request.url(request.path, **query)
        return Response(200, body)

    def get_device(self, request: Request) -> Response:
        key = request.params["device"].lower()
        device = self.backend.devices.get(key)
        if device is None:
            raise _not_found("managedDevice", key)
        return Response(200, device.document(_select(request)))

    # --- report exports ---------------------------------------------------------------------

    def create_export(self, request: Request) -> Response:
        body = request.json_object()
        if body.get("reportName") != _REPORT:
            raise _bad(f"The report '{body.get('reportName')}' is not served by the emulator.")
        policy = _policy_filter(str(body.get("filter") or ""))
        if policy is None:
            raise _bad("The filter must name a PolicyId: it is required for this report.")
        backend = self.backend
        job_id = f"{_REPORT}_{backend.new_id()}"
        document = {
            "@odata.type": "#microsoft.graph.deviceManagementExportJob",
            "id": job_id,
            "reportName": _REPORT,
            "filter": body["filter"],
            "select": list(body.get("select") or []),
            "format": body.get("format") or "csv",
            "snapshotId": None,
            "localizationType": body.get("localizationType") or "LocalizedValuesAsAdditionalColumn",
            "status": "notStarted",
            "url": None,
            "requestDateTime": _stamp(backend),
            "expirationDateTime": "0001-01-01T00:00:00Z",
        }
        ready = backend.clock.seconds() + backend.export_seconds
        backend.jobs[job_id.lower()] = ExportJob(
            job_id, document, ready, policy.lower(), owner=request.principal
        )
        return Response(201, document)

    def get_export(self, request: Request) -> Response:
        key = request.params["job"].strip("()'").lower()
        job = self.backend.jobs.get(key)
        if job is None:
            raise _not_found("deviceManagementExportJob", key)
        backend = self.backend
        if backend.clock.seconds() < job.ready_at:
            job.body["status"] = "inProgress"
        elif job.body["status"] != "completed":
            backend.blobs[job.id.lower()] = backend.report_zip(job)
            job.body["status"] = "completed"
            job.body["url"] = request.url(
                f"/graph/storage/{job.id}.zip", sv="2019-02-02", sr="b", sig="emulated"
            )
            job.body["expirationDateTime"] = _stamp(backend)
        return Response(200, {"value": job.body} if backend.single_items_wrapped else job.body)

    def download_owner(self, request: Request) -> str | None:
        """The app whose export job made the report a download fetches."""
        job = self.backend.jobs.get(request.params["blob"].removesuffix(".zip").lower())
        return job.owner if job is not None else None

    def download(self, request: Request) -> Response:
        data = self.backend.blobs.get(request.params["blob"].removesuffix(".zip").lower())
        if data is None or request.query.get("sig") != "emulated":
            raise ArmError(
                403, "AuthenticationFailed", "Server failed to authenticate the request."
            )
        return Response(200, raw=data, headers={"Content-Type": "application/zip"})


def _checked_policy(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(body) - _WRITABLE
    if unknown:
        raise _bad(f"Property '{sorted(unknown)[0]}' does not exist or cannot be written.")
    if body.get("@odata.type", _POLICY_TYPE).lower() != _POLICY_TYPE.lower():
        raise _bad(f"The @odata.type must be {_POLICY_TYPE}.")
    name = body.get("displayName")
    if creating and (not isinstance(name, str) or not name):
        raise _bad("displayName is required.")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise _bad("displayName: the max allowed length is 200 chars.")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1500):
        raise _bad("description: the max allowed length is 1500 chars.")
    if "hotpatchEnabled" in body and not isinstance(body["hotpatchEnabled"], bool):
        raise _bad("hotpatchEnabled must be a Boolean.")
    return body


def _select(request: Request) -> list[str] | None:
    text = request.query.get("$select")
    return [s for s in text.split(",") if s] if text else None


def _os_filter(text: str | None) -> str | None:
    """``operatingSystem eq 'Windows'``, the one filter the emulator understands."""
    if not text:
        return None
    words = text.replace("(", " ").replace(")", " ").split()
    if len(words) == 3 and words[0].lower() == "operatingsystem" and words[1].lower() == "eq":
        return words[2].strip("'").lower()
    raise _bad(f"Invalid filter clause: the emulator understands operatingSystem eq only ({text}).")


def _policy_filter(text: str) -> str | None:
    words = text.replace("(", " ").replace(")", " ").split()
    if len(words) == 3 and words[0] == "PolicyId" and words[1].lower() == "eq":
        return words[2].strip("'")
    return None
