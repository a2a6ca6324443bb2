"""Which Azure buckets a request draws from, read off its method and URL."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from azhotpatch._azure.pacing import (
    BucketKey,
    arm_key,
    compute_key,
    compute_resource_key,
    graph_key,
    run_command_key,
)

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_VM = re.compile(
    r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/"
    r"virtualmachines/[^/]+)(/[^/]+)?/?$"
)
_VM_LIST = re.compile(r"/providers/microsoft\.compute/virtualmachines/?$")
_COMPUTE_OPERATION = re.compile(r"/providers/microsoft\.compute/locations/([^/]+)/operations/")
_GRAPH = re.compile(r"^/providers/microsoft\.resourcegraph/resources/?$")
_RUN_COMMAND = re.compile(
    r"/providers/microsoft\.hybridcompute/machines/[^/]+/runcommands/[^/]+/?$"
)

RegionLookup = Callable[[str], str | None]


def bucket_keys(method: str, url: str, region_of: RegionLookup) -> list[BucketKey]:
    """ARM's bucket for the subscription and method, plus Compute's policy buckets for VM
    calls (their region from ``region_of``, which knows the VMs seen so far), plus Resource
    Graph's quota for queries."""
    path = urlsplit(url).path
    lowered = path.lower()
    if _GRAPH.match(lowered):
        return [graph_key()]
    found = _SUBSCRIPTION.match(path)
    if not found:
        return []
    subscription = found.group(1).lower()
    method = method.upper()
    request_type = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(method, "writes")
    keys = [arm_key(subscription, request_type)]
    keys.extend(_compute_keys(method, lowered, subscription, region_of))
    if method == "PUT" and _RUN_COMMAND.search(lowered):
        keys.append(run_command_key(subscription))
    return keys


def _compute_keys(
    method: str, path: str, subscription: str, region_of: RegionLookup
) -> list[BucketKey]:
    if "/providers/microsoft.compute/" not in path:
        return []
    operation = _COMPUTE_OPERATION.search(path)
    if operation:
        return [compute_key("GetOperation", subscription, operation.group(1))]
    if _VM_LIST.search(path):
        return [compute_key("HighCostGet", subscription, "global")]
    vm = _VM.match(path)
    if not vm:
        return []
    resource, action = vm.group(1), (vm.group(2) or "").lstrip("/")
    policy = _policy(method, action)
    if policy is None:
        return []
    region = region_of(resource) or "unknown"
    return [compute_key(policy, subscription, region), compute_resource_key(policy, resource)]


def _policy(method: str, action: str) -> str | None:
    if method == "POST" and action in ("assesspatches", "installpatches"):
        return "VMGuestPatchOperation"
    if method in ("PATCH", "PUT") and not action:
        return "UpdateVM"
    if method == "GET" and action in ("", "instanceview"):
        return "LowCostGet"
    return None
