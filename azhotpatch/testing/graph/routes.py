"""What Azure Resource Graph serves: one tenant-level query operation, a read for ARM's
throttling although it is a POST."""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import Endpoint
from azhotpatch.testing.graph.responses import GraphResponses

PROVIDER = "Microsoft.ResourceGraph"

ROUTES: tuple[Endpoint[GraphResponses], ...] = (
    Endpoint(
        "graph.resources",
        "POST",
        "/providers/Microsoft.ResourceGraph/resources",
        GraphResponses.resources,
        PROVIDER,
        "Microsoft.ResourceGraph/resources/read",
        arm_kind="reads",
        level="tenant",
    ),
)
