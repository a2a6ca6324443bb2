"""What Microsoft.Compute serves: one row per operation (see `arm.endpoints.Endpoint`).

Every VM operation draws from Compute's per-region policies as well as ARM's buckets: reads
from ``LowCostGet``, settings writes from ``UpdateVM``, assess and install from
``VMGuestPatchOperation``, status polls from ``GetOperation`` and lists from ``HighCostGet``
(the names recorded traffic shows in ``x-ms-ratelimit-remaining-resource``).
"""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import ChargedTo, ComputeThrottle, Endpoint
from azhotpatch.testing.arm.exchange import Request
from azhotpatch.testing.compute.responses import ComputeResponses
from azhotpatch.testing.world.machines import VM_TYPE

PROVIDER = "Microsoft.Compute"
_VMS = "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"
_VM = _VMS + "/{name}"
_SCALE_SET = (
    "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/"
    "virtualMachineScaleSets/{scaleSet}"
)
_LOCATION = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}"
_SKUS = _LOCATION + "/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus"


def _the_vm(responses: ComputeResponses, request: Request) -> ChargedTo | None:
    """Charged to the VM's region and the VM itself (unknown VMs: ARM's buckets only)."""
    p = request.params
    vm = responses.world.find_vm(p["sub"], p["group"], p["name"])
    return (vm.location, vm.key) if vm else None


def _the_operation(responses: ComputeResponses, request: Request) -> ChargedTo:
    """Charged to the operation's region and the machine it runs on."""
    op = responses.world.operations.get(request.params["op"].lower())
    return request.params["location"], op.target if op else None


def _subscription_wide(responses: ComputeResponses, request: Request) -> ChargedTo:
    return "global", None


_READ = ComputeThrottle("LowCostGet", _the_vm)
_UPDATE = ComputeThrottle("UpdateVM", _the_vm)
_PATCH = ComputeThrottle("VMGuestPatchOperation", _the_vm)
_POLL = ComputeThrottle("GetOperation", _the_operation)
_LIST = ComputeThrottle("HighCostGet", _subscription_wide)
_R = ComputeResponses

ROUTES: tuple[Endpoint[ComputeResponses], ...] = (
    Endpoint("vm.get", "GET", _VM, _R.get, PROVIDER, f"{VM_TYPE}/read", throttle=_READ),
    Endpoint("vm.instanceView", "GET", f"{_VM}/instanceView", _R.instance_view, PROVIDER,
             f"{VM_TYPE}/read", throttle=_READ),
    Endpoint("vm.update", "PATCH", _VM, _R.update, PROVIDER, f"{VM_TYPE}/write",
             machine_write=True, throttle=_UPDATE),
    Endpoint("vm.createOrUpdate", "PUT", _VM, _R.create_or_update, PROVIDER, f"{VM_TYPE}/write",
             machine_write=True, throttle=_UPDATE),
    Endpoint("vm.assessPatches", "POST", f"{_VM}/assessPatches", _R.assess, PROVIDER,
             f"{VM_TYPE}/assessPatches/action", machine_write=True, throttle=_PATCH),
    Endpoint("vm.installPatches", "POST", f"{_VM}/installPatches", _R.install, PROVIDER,
             f"{VM_TYPE}/installPatches/action", machine_write=True, throttle=_PATCH),
    Endpoint("vmss.get", "GET", _SCALE_SET, _R.scale_set, PROVIDER,
             "Microsoft.Compute/virtualMachineScaleSets/read"),
    Endpoint("vm.list", "GET", _VMS, _R.list_group, PROVIDER, f"{VM_TYPE}/read", throttle=_LIST),
    Endpoint("vm.listAll", "GET", f"/subscriptions/{{sub}}/providers/{VM_TYPE}", _R.list_all,
             PROVIDER, f"{VM_TYPE}/read", throttle=_LIST),
    Endpoint("compute.operation", "GET", f"{_LOCATION}/operations/{{op}}", _R.operation,
             PROVIDER, "Microsoft.Compute/locations/operations/read", throttle=_POLL),
    Endpoint("images.listSkus", "GET", _SKUS, _R.list_skus, PROVIDER,
             "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/read"),
)  # fmt: skip
