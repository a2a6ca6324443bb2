"""What Microsoft Graph serves for Intune: one row per operation (see `front.GraphEndpoint`),
paths under ``/graph`` as they are under ``https://graph.microsoft.com``."""

from __future__ import annotations

from azhotpatch.testing.msgraph.front import GraphEndpoint
from azhotpatch.testing.msgraph.responses import IntuneResponses

_POLICIES = "/beta/deviceManagement/windowsQualityUpdatePolicies"
_POLICY = _POLICIES + "/{policy}"
_DEVICES = "/beta/deviceManagement/managedDevices"
_JOBS = "/beta/deviceManagement/reports/exportJobs"
_WRITES = ("intune", "intune-update-writes")
_R = IntuneResponses

ROUTES: tuple[GraphEndpoint[IntuneResponses], ...] = (
    GraphEndpoint("intune.policies.list", "GET", _POLICIES, _R.list_policies),
    GraphEndpoint("intune.policies.create", "POST", _POLICIES, _R.create_policy, _WRITES),
    GraphEndpoint("intune.policies.get", "GET", _POLICY, _R.get_policy),
    GraphEndpoint("intune.policies.update", "PATCH", _POLICY, _R.update_policy, _WRITES),
    GraphEndpoint("intune.policies.delete", "DELETE", _POLICY, _R.delete_policy, _WRITES),
    GraphEndpoint("intune.assignments.list", "GET", _POLICY + "/assignments",
                  _R.list_assignments),
    GraphEndpoint("intune.policies.assign", "POST", _POLICY + "/assign", _R.assign, _WRITES),
    GraphEndpoint("intune.devices.list", "GET", _DEVICES, _R.list_devices),
    GraphEndpoint("intune.devices.get", "GET", _DEVICES + "/{device}", _R.get_device),
    GraphEndpoint("intune.exports.create", "POST", _JOBS, _R.create_export,
                  ("intune", "intune-exports")),
    GraphEndpoint("intune.exports.get", "GET", _JOBS + "/{job}", _R.get_export),
    GraphEndpoint("intune.exports.getByKey", "GET", _JOBS + "({job})", _R.get_export),
    GraphEndpoint("storage.download", "GET", "/storage/{blob}", _R.download, (), signed=False,
                  owner=_R.download_owner),
)  # fmt: skip
