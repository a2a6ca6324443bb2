"""A full run against the emulator, and its fault paths, for the contract test to check.

The library does what a user does (plan, enroll, assess and install a sample fleet of VMs and
Arc machines, register the preview features, put the fleet on Update Manager schedules and
read how their runs went); faults and a real estate's conditions make operations fail, come
back without their result, or be refused by ARM; the unmodified SDK clients then reach every
route the library does not (lists, deletes, unregistration, validation errors, status URLs
read while the operation still runs). A second emulator with tiny buckets throttles.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.hybridcompute import HybridComputeManagementClient
from azure.mgmt.maintenance import MaintenanceManagementClient
from azure.mgmt.maintenance.models import (
    ConfigurationAssignment,
    ConfigurationAssignmentFilterProperties,
)
from azure.mgmt.resource.features import FeatureClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azhotpatch import Hotpatch
from azhotpatch.limits import Bucket, ThrottleLimits
from azhotpatch.testing import (
    ArcSpec,
    Durations,
    Emulator,
    EmulatorCredential,
    FaultRule,
    Faults,
    FleetSpec,
    Limits,
    VmSpec,
)
from azhotpatch.testing.arm.dispatch import ServedBody

from .conftest import LICENSE_PUT, sdk_options

START = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
QUICK = Durations(
    assess=30.0,
    install=60.0,
    vm_update=5.0,
    license_profile=5.0,
    arc_enablement=30.0,
    feature_registration=30.0,
    provider_registration=10.0,
)
DISABLE = {
    "properties": {
        "productProfile": {
            "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Disable"}]
        }
    }
}


def serve_a_full_run() -> list[ServedBody]:
    """Every response body the emulators served, in order."""
    spec = FleetSpec(vms=12, arc=6, subscriptions=1, seed=4)
    options: dict[str, Any] = {"seed": 4, "time_scale": 3000, "durations": QUICK, "start": START}
    with Emulator(fleet=spec, page_size=4, **options) as emu:
        served = emu.dispatcher.keep_bodies()
        sub = sorted(emu.world.subscriptions)[0]
        with emu.client() as client:
            _library_run(emu, client, sub)
            _fault_paths(emu, client, sub)
            _estate_conditions(emu, client, sub)
            _rest_of_the_estate(emu, client, sub)
        _sdk_calls(emu, sub, served)
    with Emulator(seed=5, limits=_two_of_each(), start=START) as emu:
        throttled = emu.dispatcher.keep_bodies()
        _throttled(emu)
    return [*served, *throttled]


def _attempt(*calls: Callable[[], object]) -> None:
    """Make each call, whatever Azure answers (the answers are what is checked)."""
    for call in calls:
        with suppress(HttpResponseError):
            call()


# --- through the library ---------------------------------------------------------------------


def _library_run(emu: Emulator, client: Hotpatch, sub: str) -> None:
    group = sorted(emu.world.subscriptions[sub].group_names.values())[0]
    client.plan(subscriptions=[sub])
    client.run(subscriptions=[sub])
    client.register_preview_features(sub)
    client.schedule(
        subscriptions=[sub],
        resource_group=f"/subscriptions/{sub}/resourceGroups/{group}",
        location="westeurope",
    )
    emu.advance(timedelta(days=40))  # the schedules' windows open, their runs finish
    client.scheduled_status(subscriptions=[sub])
    vm = next(v for v in emu.world.vms.values() if v.power == "running" and v.agent_ready)
    arc = next(m for m in emu.world.arcs.values() if m.hotpatch_status == "Enabled")
    for machine in (vm.id, arc.id):
        client.check(machine)
        client.status(machine)
    client.disable(arc.id)


def _fault_paths(emu: Emulator, client: Hotpatch, sub: str) -> None:
    """Failed operations, bare statuses and injected ARM errors, on machines added for them:
    one machine per failing step (a failed step ends the machine's run), one with every
    status bare."""
    vms = [
        emu.add_vm(VmSpec(sub, "rg-faults", f"vm-f{i}", "westeurope", patch_mode="AutomaticByOS"))
        for i in range(4)
    ]
    arcs = [emu.add_arc(ArcSpec(sub, "rg-faults", f"arc-f{i}", "westeurope")) for i in range(4)]
    steps = {vms[0]: "vmUpdate", vms[1]: "assessPatches", vms[2]: "installPatches"}
    steps |= {arcs[0]: "licenseProfile", arcs[1]: "assessPatches", arcs[2]: "installPatches"}
    bare = {vms[3]: ("vmUpdate", "assessPatches", "installPatches")}
    bare |= {arcs[3]: ("licenseProfile", "assessPatches", "installPatches")}
    requests = (
        ("internal_error", "vm.update"),
        ("unavailable", "arc.license.put"),
        ("conflict", "vm.installPatches"),
        ("throttle", "arc.installPatches"),
        ("internal_error", "compute.operation"),
        ("unavailable", "arc.patchOperation"),
        ("throttle", "graph.resources"),
    )
    rules = [
        *(FaultRule("lro_failure", operation=step, scope=m) for m, step in steps.items()),
        *(
            FaultRule("bare_status", operation=k, scope=m)
            for m, kinds in bare.items()
            for k in kinds
        ),
        *(FaultRule(kind, route=route) for kind, route in requests),
    ]
    emu.set_faults(Faults.aimed(*rules))
    client.run(machines=[*vms, *arcs])
    emu.set_faults(None)


def _estate_conditions(emu: Emulator, client: Hotpatch, sub: str) -> None:
    """What real estates answer: a missing role, a lock, a policy, a machine busy with
    someone else's operation, a disabled subscription, an expired token."""
    vms = [
        emu.add_vm(VmSpec(sub, "rg-estate", f"vm-e{i}", "westeurope", patch_mode="AutomaticByOS"))
        for i in range(3)
    ]
    arc = emu.add_arc(ArcSpec(sub, "rg-estate", "arc-e0", "westeurope"))
    emu.revoke(vms[0], ("Microsoft.Compute/virtualMachines/write",))
    emu.lock(vms[1])
    emu.occupy(vms[2], 3600.0)
    emu.deny_by_policy(arc)
    other = emu.add_subscription(groups=["rg"])
    disabled = emu.add_vm(VmSpec(other, "rg", "vm-d", "westeurope", patch_mode="AutomaticByOS"))
    emu.disable_subscription(other)
    for machine in (*vms, arc, disabled):
        with suppress(Exception):  # the library's typed errors; the bodies are what matter
            client.enable(machine)
    expired = ComputeManagementClient(EmulatorCredential(lifetime=-60.0), sub, **sdk_options(emu))
    _attempt(lambda: expired.virtual_machines.get("rg-estate", "vm-e0"))


def _rest_of_the_estate(emu: Emulator, client: Hotpatch, sub: str) -> None:
    """An Arc server remediated through Run Command (VBS off: measured, fixed, restarted), an
    Azure Local VM and a Flexible scale set's VM, checked."""
    where = {"subscription": sub, "group": "rg-rest", "location": "westeurope"}
    emu.add_subscription(sub, groups=["rg-rest"])
    emu.add_scale_set(sub, "rg-rest", "flex", "westeurope", hotpatch=True)
    cluster = (
        f"/subscriptions/{sub}/resourceGroups/rg-rest/providers/Microsoft.AzureStackHCI/clusters/c1"
    )
    fixable = emu.add_arc(ArcSpec(name="arc-vbs", vbs_running=False, **where))
    local = ArcSpec(
        name="local-vm",
        arc_kind="HCI",
        parent_cluster=cluster,
        local_image="2025-datacenter-azure-edition",
        os_sku="Windows Server 2025 Datacenter: Azure Edition",
        **where,
    )
    client.remediate(fixable, fix=True, reboot="now")
    client.check(emu.add_arc(local))
    client.check(emu.add_vm(VmSpec(name="flex_1", scale_set="flex", **where)))


# --- through the SDK clients -------------------------------------------------------------------


def _sdk_calls(emu: Emulator, sub: str, served: list[ServedBody]) -> None:
    options = sdk_options(emu)
    compute = ComputeManagementClient(emu.credential(), sub, **options)
    hybrid = HybridComputeManagementClient(emu.credential(), sub, **options)
    group = "rg-sdk"
    emu.add_subscription(sub, groups=[group])
    vm_group = next(v.group for v in emu.world.vms.values() if v.subscription == sub)
    list(compute.virtual_machines.list(vm_group))
    list(compute.virtual_machines.list_all())
    compute.virtual_machines.begin_create_or_update(group, "vm-new", _new_vm()).result()
    compute.virtual_machines.get(group, "vm-new")
    arc = emu.add_arc(ArcSpec(sub, group, "arc-new", "westeurope"))
    list(hybrid.machines.list_by_resource_group(group))
    list(hybrid.machines.list_by_subscription())
    hybrid.machines.get(group, "arc-new")
    _validation_errors(emu, compute, hybrid, sub, group)
    versions = {body.route: body.api_version for body in served}  # what the SDK sends
    vm = f"{emu.endpoint}/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/vm-new"
    _status_urls(emu, compute, hybrid, vm, f"{emu.endpoint}{arc}", versions)
    hybrid.license_profiles.begin_update(group, "arc-new", DISABLE).result()
    list(hybrid.license_profiles.list(group, "arc-new"))
    hybrid.license_profiles.begin_delete(group, "arc-new").result()
    list(hybrid.machine_run_commands.list("rg-rest", "arc-vbs"))
    hybrid.machine_run_commands.begin_delete("rg-rest", "arc-vbs", "azhotpatch-measure").result()
    _registrations(emu, sub)
    _maintenance(emu, sub)


def _new_vm() -> dict[str, Any]:
    return {
        "location": "westeurope",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "imageReference": {
                    "publisher": "MicrosoftWindowsServer",
                    "offer": "WindowsServer",
                    "sku": "2025-datacenter-azure-edition",
                    "version": "latest",
                }
            },
            "osProfile": {
                "computerName": "vm-new",
                "windowsConfiguration": {
                    "provisionVMAgent": True,
                    "enableAutomaticUpdates": True,
                    "patchSettings": {"patchMode": "AutomaticByOS"},
                },
            },
        },
    }


def _validation_errors(
    emu: Emulator,
    compute: ComputeManagementClient,
    hybrid: HybridComputeManagementClient,
    sub: str,
    group: str,
) -> None:
    """400s and 404s the providers raise themselves, and an api-version ARM does not know."""
    bad_kb = {"rebootSetting": "IfRequired", "windowsParameters": {"kbNumbersToInclude": ["1111"]}}
    too_old = HybridComputeManagementClient(
        emu.credential(), sub, api_version="2010-01-01", **sdk_options(emu)
    )
    _attempt(
        lambda: compute.virtual_machines.begin_install_patches(group, "vm-new", bad_kb),
        lambda: compute.virtual_machines.get(group, "absent"),
        lambda: hybrid.license_profiles.get(group, "absent"),
        lambda: hybrid.license_profiles.begin_update(group, "absent", DISABLE),
        lambda: list(too_old.machines.list_by_subscription()),
    )


def _status_urls(
    emu: Emulator,
    compute: ComputeManagementClient,
    hybrid: HybridComputeManagementClient,
    vm: str,
    arc: str,
    versions: dict[str, str],
) -> None:
    """Start an assessment on each kind of machine and a license profile update, and read
    every status URL Azure hands back while the operation runs (the clock stopped: 202s and
    in-progress documents) and once it has finished."""
    with emu.clock.frozen():
        assess = compute.send_request(
            HttpRequest("POST", f"{vm}/assessPatches?api-version={versions['vm.assessPatches']}")
        )
        arc_assess = hybrid.send_request(
            HttpRequest("POST", f"{arc}/assessPatches?api-version={versions['arc.assessPatches']}")
        )
        profile = f"{arc}/licenseProfiles/default?api-version={versions['arc.license.put']}"
        license_put = hybrid.send_request(HttpRequest("PUT", profile, json=LICENSE_PUT))
        urls = (
            (compute, assess.headers["Location"]),
            (compute, assess.headers["Azure-AsyncOperation"]),
            (hybrid, arc_assess.headers["Location"]),
            (hybrid, license_put.headers["Location"]),
            (hybrid, license_put.headers["Azure-AsyncOperation"]),
        )
        for client, url in urls:
            client.send_request(HttpRequest("GET", url))
    emu.advance(timedelta(minutes=10))
    for client, url in urls:
        client.send_request(HttpRequest("GET", url))


def _registrations(emu: Emulator, sub: str) -> None:
    options = sdk_options(emu)
    features = FeatureClient(emu.credential(), sub, **options).features
    features.unregister("Microsoft.Compute", "InGuestPatchVMPreview")
    list(features.list("Microsoft.Compute"))
    list(features.list_all())
    _attempt(lambda: features.get("Microsoft.Compute", "NoSuchFeature"))
    providers = ResourceManagementClient(emu.credential(), sub, **options).providers
    providers.unregister("Microsoft.Compute")


def _maintenance(emu: Emulator, sub: str) -> None:
    """Read, list and delete what the schedules made, add and remove a dynamic scope, and
    try a window Update Manager refuses."""
    client = MaintenanceManagementClient(emu.credential(), sub, **sdk_options(emu))
    config = next(iter(client.maintenance_configurations.list()))
    config_group = config.id.split("/")[4]
    list(client.maintenance_configurations_for_resource_group.list(config_group))
    client.maintenance_configurations.get(config_group, config.name)
    assigned = next(a for a in emu.services.maintenance.assignments.values() if a.machine)
    group, provider, kind, name = (assigned.resource_id.split("/")[i] for i in (4, 6, 7, 8))
    on_machine = client.configuration_assignments
    list(on_machine.list(group, provider, kind, name))
    on_machine.get(group, provider, kind, name, assigned.name)
    on_machine.delete(group, provider, kind, name, assigned.name)
    scopes = client.configuration_assignments_for_subscriptions
    arc_machines = ConfigurationAssignmentFilterProperties(
        resource_types=["Microsoft.HybridCompute/machines"], os_types=["Windows"]
    )
    scope = ConfigurationAssignment(
        location="global", maintenance_configuration_id=config.id, filter=arc_machines
    )
    scopes.create_or_update("hotpatch-arc", scope)
    list(client.configuration_assignments_within_subscription.list())
    scopes.get("hotpatch-arc")
    scopes.delete("hotpatch-arc")
    client.maintenance_configurations.delete(config_group, config.name)
    config.duration = "01:00"  # shorter than Update Manager allows
    config.start_date_time = (START + timedelta(days=60)).strftime("%Y-%m-%d %H:%M")
    _attempt(
        lambda: client.maintenance_configurations.create_or_update(config_group, "short", config)
    )


# --- throttling ------------------------------------------------------------------------------


def _two_of_each() -> Limits:
    """Two tokens in ARM's write bucket, Compute's cheap-read buckets and Resource Graph's
    quota, slow to refill (the emulator runs at Azure's pace here)."""
    two = Bucket(2, 1)
    buckets = ThrottleLimits(
        arm_writes=two,
        graph_queries_per_window=2,
        compute={**ThrottleLimits().compute, "LowCostGet": (two, two)},
    )
    return Limits(buckets=buckets)


def _throttled(emu: Emulator) -> None:
    """429s from ARM's, Compute's and Resource Graph's own buckets, to SDK clients that do
    not retry."""
    sub = emu.add_subscription(groups=["rg"])
    emu.add_vm(VmSpec(sub, "rg", "vm-t", "westeurope"))
    options = {**sdk_options(emu), "retry_total": 0}
    compute = ComputeManagementClient(emu.credential(), sub, **options)
    graph = ResourceGraphClient(emu.credential(), **options)
    providers = ResourceManagementClient(emu.credential(), sub, **options).providers
    query = QueryRequest(subscriptions=[sub], query="resources | project id")
    for _ in range(3):
        _attempt(
            lambda: compute.virtual_machines.get("rg", "vm-t"),
            lambda: graph.resources(query),
            lambda: providers.register("Microsoft.Compute"),
        )
