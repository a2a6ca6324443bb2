"""What Microsoft.HybridCompute serves: one row per operation (see `arm.endpoints.Endpoint`).
Hybrid Compute has no per-region policies of its own here: ARM's buckets only."""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import Endpoint
from azhotpatch.testing.hybrid.models import LICENSE_TYPE
from azhotpatch.testing.hybrid.responses import HybridResponses
from azhotpatch.testing.world.machines import ARC_TYPE

PROVIDER = "Microsoft.HybridCompute"
_MACHINES = "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines"
_MACHINE = _MACHINES + "/{name}"
_LICENSE = _MACHINE + "/licenseProfiles/{profile}"
_RUN_COMMAND = _MACHINE + "/runCommands/{command}"
_RUN_COMMANDS = f"{ARC_TYPE}/runCommands"
_LOCATION = "/subscriptions/{sub}/providers/Microsoft.HybridCompute/locations/{location}"
_LOCATIONS = "Microsoft.HybridCompute/locations"
_R = HybridResponses

ROUTES: tuple[Endpoint[HybridResponses], ...] = (
    Endpoint("arc.get", "GET", _MACHINE, _R.get, PROVIDER, f"{ARC_TYPE}/read"),
    Endpoint("arc.update", "PATCH", _MACHINE, _R.update, PROVIDER, f"{ARC_TYPE}/write",
             machine_write=True),
    Endpoint("arc.list", "GET", _MACHINES, _R.list_group, PROVIDER, f"{ARC_TYPE}/read"),
    Endpoint("arc.listAll", "GET", f"/subscriptions/{{sub}}/providers/{ARC_TYPE}", _R.list_all,
             PROVIDER, f"{ARC_TYPE}/read"),
    Endpoint("arc.assessPatches", "POST", f"{_MACHINE}/assessPatches", _R.assess, PROVIDER,
             f"{ARC_TYPE}/assessPatches/action", machine_write=True),
    Endpoint("arc.installPatches", "POST", f"{_MACHINE}/installPatches", _R.install, PROVIDER,
             f"{ARC_TYPE}/installPatches/action", machine_write=True),
    Endpoint("arc.patchOperation", "GET", f"{_LOCATION}/updateCenterOperationResults/{{op}}",
             _R.patch_operation, PROVIDER, f"{_LOCATIONS}/updateCenterOperationResults/read"),
    Endpoint("arc.license.get", "GET", _LICENSE, _R.license_get, PROVIDER,
             f"{LICENSE_TYPE}/read"),
    Endpoint("arc.license.list", "GET", f"{_MACHINE}/licenseProfiles", _R.license_list,
             PROVIDER, f"{LICENSE_TYPE}/read"),
    Endpoint("arc.license.put", "PUT", _LICENSE, _R.license_put, PROVIDER,
             f"{LICENSE_TYPE}/write", machine_write=True),
    Endpoint("arc.license.patch", "PATCH", _LICENSE, _R.license_patch, PROVIDER,
             f"{LICENSE_TYPE}/write", machine_write=True),
    Endpoint("arc.license.delete", "DELETE", _LICENSE, _R.license_delete, PROVIDER,
             f"{LICENSE_TYPE}/delete", machine_write=True),
    Endpoint("arc.runCommand.put", "PUT", _RUN_COMMAND, _R.run_command_put, PROVIDER,
             f"{_RUN_COMMANDS}/write", machine_write=True, subject=_R.run_command_script),
    Endpoint("arc.runCommand.get", "GET", _RUN_COMMAND, _R.run_command_get, PROVIDER,
             f"{_RUN_COMMANDS}/read", subject=_R.run_command_script),
    Endpoint("arc.runCommand.list", "GET", f"{_MACHINE}/runCommands", _R.run_command_list,
             PROVIDER, f"{_RUN_COMMANDS}/read"),
    Endpoint("arc.runCommand.delete", "DELETE", _RUN_COMMAND, _R.run_command_delete, PROVIDER,
             f"{_RUN_COMMANDS}/delete", machine_write=True),
    Endpoint("arc.operationStatus", "GET", f"{_LOCATION}/operationStatus/{{op}}",
             _R.operation_status, PROVIDER, f"{_LOCATIONS}/operationstatus/read"),
    Endpoint("arc.operationResults", "GET", f"{_LOCATION}/operationResults/{{op}}",
             _R.operation_result, PROVIDER, f"{_LOCATIONS}/operationresults/read"),
)  # fmt: skip
