"""Every service the emulator runs, built over one world: the one place that knows them all.

Services never import one another. Where one needs another's work, it is handed it here:
Update Manager gets a way to start an install on a VM (Compute) and on an Arc machine
(Hybrid Compute); Resource Graph gets each provider's documents and rows to index. Adding a
service means a folder beside the others (models, responses, routes, and documents if the
emulator adds its resources without a request) and a few lines here.
"""

from __future__ import annotations

from dataclasses import dataclass

from azhotpatch.testing.arm.endpoints import Route, bind
from azhotpatch.testing.compute import responses as compute_responses
from azhotpatch.testing.compute.models import ComputeBackend
from azhotpatch.testing.compute.routes import ROUTES as COMPUTE_ROUTES
from azhotpatch.testing.features.models import FeaturesBackend
from azhotpatch.testing.features.responses import FeaturesResponses
from azhotpatch.testing.features.routes import ROUTES as FEATURES_ROUTES
from azhotpatch.testing.graph.models import GraphBackend
from azhotpatch.testing.graph.responses import GraphResponses
from azhotpatch.testing.graph.routes import ROUTES as GRAPH_ROUTES
from azhotpatch.testing.hybrid import responses as hybrid_responses
from azhotpatch.testing.hybrid.models import HybridBackend
from azhotpatch.testing.hybrid.routes import ROUTES as HYBRID_ROUTES
from azhotpatch.testing.maintenance import responses as maintenance_responses
from azhotpatch.testing.maintenance.models import MaintenanceBackend
from azhotpatch.testing.maintenance.routes import ROUTES as MAINTENANCE_ROUTES
from azhotpatch.testing.msgraph.front import GraphRoute
from azhotpatch.testing.msgraph.models import IntuneBackend
from azhotpatch.testing.msgraph.responses import IntuneResponses
from azhotpatch.testing.msgraph.routes import ROUTES as INTUNE_ROUTES
from azhotpatch.testing.stackhci.models import StackHciBackend
from azhotpatch.testing.stackhci.responses import StackHciResponses
from azhotpatch.testing.stackhci.routes import ROUTES as STACKHCI_ROUTES
from azhotpatch.testing.world.state import World


@dataclass(frozen=True)
class Services:
    """The services' backends, for the emulator and for tests that inspect their state."""

    compute: ComputeBackend
    hybrid: HybridBackend
    features: FeaturesBackend
    maintenance: MaintenanceBackend
    graph: GraphBackend
    intune: IntuneBackend  # behind Microsoft Graph's own front door, not ARM's
    stackhci: StackHciBackend

    @classmethod
    def over(cls, world: World) -> Services:
        compute, hybrid = ComputeBackend(world), HybridBackend(world)
        maintenance = MaintenanceBackend(
            world, vm_installs=compute.start_install, arc_installs=hybrid.start_install
        )
        graph = GraphBackend(
            world,
            resources=(
                lambda: compute_responses.resource_graph_documents(world),
                lambda: hybrid_responses.resource_graph_documents(world),
            ),
            tables={
                "maintenanceresources": lambda: maintenance_responses.resource_graph_rows(
                    maintenance
                )
            },
        )
        intune = IntuneBackend(world.clock, seed=world.seed)
        return cls(
            compute,
            hybrid,
            FeaturesBackend(world),
            maintenance,
            graph,
            intune,
            StackHciBackend(world),
        )

    def routes(self) -> list[Route]:
        """Every route table, bound to the service that answers it (the order in which the
        dispatcher tries them)."""
        return [
            *bind(COMPUTE_ROUTES, compute_responses.ComputeResponses(self.compute)),
            *bind(HYBRID_ROUTES, hybrid_responses.HybridResponses(self.hybrid)),
            *bind(FEATURES_ROUTES, FeaturesResponses(self.features)),
            *bind(MAINTENANCE_ROUTES, maintenance_responses.MaintenanceResponses(self.maintenance)),
            *bind(GRAPH_ROUTES, GraphResponses(self.graph)),
            *bind(STACKHCI_ROUTES, StackHciResponses(self.stackhci)),
        ]

    def graph_routes(self) -> list[GraphRoute]:
        """Microsoft Graph's route table (Intune), for Graph's front door."""
        return [endpoint.bind(IntuneResponses(self.intune)) for endpoint in INTUNE_ROUTES]
