"""What Microsoft.AzureStackHCI serves here: an Azure Local VM's instance and its image."""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import Endpoint
from azhotpatch.testing.stackhci.models import IMAGE_TYPE, INSTANCE_TYPE
from azhotpatch.testing.stackhci.responses import StackHciResponses

PROVIDER = "Microsoft.AzureStackHCI"
_GROUP = "/subscriptions/{sub}/resourceGroups/{group}/providers"
_INSTANCE = (
    _GROUP + "/Microsoft.HybridCompute/machines/{name}/providers/" + INSTANCE_TYPE + "/{instance}"
)
_R = StackHciResponses

ROUTES: tuple[Endpoint[StackHciResponses], ...] = (
    Endpoint("hci.instance.get", "GET", _INSTANCE, _R.instance, PROVIDER, f"{INSTANCE_TYPE}/read"),
    Endpoint("hci.image.get", "GET", f"{_GROUP}/{IMAGE_TYPE}/{{image}}", _R.image, PROVIDER,
             f"{IMAGE_TYPE}/read"),
)  # fmt: skip
