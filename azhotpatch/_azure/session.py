"""A session: the SDK clients, the shared connection pool, the pacer and the retry policy.

One per `azhotpatch.aio.Hotpatch`. Clients are created on first use, one per provider and
subscription, all sharing one aiohttp connection pool (bounded, so a fleet run cannot open
thousands of sockets) and one pacing policy.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport

from azhotpatch._azure import pacing, resend, retry
from azhotpatch._azure.credentials import async_credential
from azhotpatch._azure.pacing import Arrival, Pacer
from azhotpatch._azure.policies import Check, Metrics, PacingPolicy, RegionCache, checked
from azhotpatch._azure.retry import Deadline, RetryPolicy
from azhotpatch._azure.traffic import Traffic, TrafficRow
from azhotpatch._proxy import proxy_for
from azhotpatch.clouds import Cloud
from azhotpatch.limits import ThrottleLimits

if TYPE_CHECKING:
    from azure.mgmt.compute.aio import ComputeManagementClient
    from azure.mgmt.hybridcompute.aio import HybridComputeManagementClient
    from azure.mgmt.maintenance.aio import MaintenanceManagementClient
    from azure.mgmt.resource.features.aio import FeatureClient
    from azure.mgmt.resource.resources.aio import ResourceManagementClient
    from azure.mgmt.resourcegraph.aio import ResourceGraphClient

__all__ = ["Arrival", "Session", "Settings", "Traffic", "TrafficRow"]

T = TypeVar("T")
USER_AGENT = "azhotpatch/0.1.0"


@dataclass(frozen=True)
class Settings:
    """Everything that shapes how we talk to Azure."""

    cloud: Cloud
    endpoint: str
    connection_verify: bool | str = True
    polling_interval: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: ThrottleLimits | None = None
    pacing: bool = True
    headroom: float = 0.97
    connections: int = 200
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    default_deadline: float = 3600.0
    time_scale: float = 1.0  # > 1 only for emulators whose clock runs faster than Azure's
    # How long operations usually take in Azure (recorded traffic: assess ~2 min, Windows
    # installs 2-5 min; a VM settings update or an Arc license profile update, seconds);
    # fleets start polling then instead of from the first second, and learn the real
    # figures as the run goes.
    operation_seconds: Mapping[str, float] = field(
        default_factory=lambda: {
            "update": 15.0,
            "license": 15.0,
            "assess": 120.0,
            "install": 300.0,
        }
    )

    @property
    def credential_scope(self) -> str:
        return self.cloud.credential_scope


def http_session(verify: bool | str, connections: int) -> aiohttp.ClientSession:
    """One bounded connection pool, trusting ``verify`` (True, False or a CA bundle path)."""
    tls: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=verify) if isinstance(verify, str) else bool(verify)
    )
    connector = aiohttp.TCPConnector(ssl=tls, limit=connections)
    # trust_env would look up netrc and proxy variables in a thread on every request; the
    # proxy is resolved once instead (see `proxies_for`). A request that must not be sent
    # twice is not resent by aiohttp when its connection drops (see `resend.sent_once`).
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, middlewares=(resend.no_blind_resend,)
    )


def proxies_for(endpoint: str) -> dict[str, str] | None:
    """HTTPS_PROXY/NO_PROXY from the environment, resolved once for the endpoint."""
    proxy = proxy_for(endpoint)
    return {"https": proxy} if proxy else None


class Session:
    def __init__(self, credential: Any, settings: Settings) -> None:
        self.settings = settings
        self.credential, self._owns_credential = async_credential(credential, settings.cloud)
        self.pacer = Pacer(
            settings.limits or settings.cloud.limits,
            headroom=settings.headroom,
            enabled=settings.pacing,
        )
        self.metrics = Metrics()
        self.regions = RegionCache()
        self.sku_cache: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self.reachability = retry.Reachability(
            settings.endpoint,
            settings.connect_timeout,
            lambda: bool(self.metrics.by_status),
            proxy=proxy_for(settings.endpoint),
        )

    # --- clients ------------------------------------------------------------------------------

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = http_session(self.settings.connection_verify, self.settings.connections)
        return self._http

    def _proxies(self) -> dict[str, str] | None:
        return proxies_for(self.settings.endpoint)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.settings.endpoint,
            "credential_scopes": [self.settings.credential_scope],
            "transport": AioHttpTransport(
                session=self._http_session(),
                session_owner=False,
                connection_timeout=self.settings.connect_timeout,
                read_timeout=self.settings.read_timeout,
            ),
            "retry_total": 0,
            # One policy object per client: azure-core links a pipeline's HTTP policies through
            # their ``next`` attribute, so an instance shared by two clients would send one
            # client's requests down the other's pipeline.
            "per_retry_policies": [PacingPolicy(self.pacer, self.regions, self.metrics)],
            "user_agent": USER_AGENT,
        }
        if self.settings.polling_interval is not None:
            options["polling_interval"] = self.settings.polling_interval
        proxies = self._proxies()
        if proxies:
            options["proxies"] = proxies
        return options

    def _client(self, kind: str, subscription: str, factory: Callable[..., Any]) -> Any:
        key = (kind, subscription.lower())
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = factory(self.credential, subscription, **self._options())
        return client

    # Each service's client module is imported on first use: together they take about as
    # long to import as the rest of the library, and most programs use two or three of them.

    def compute(self, subscription: str) -> ComputeManagementClient:
        from azure.mgmt.compute.aio import ComputeManagementClient

        client: ComputeManagementClient = self._client(
            "compute", subscription, ComputeManagementClient
        )
        return client

    def hybrid(self, subscription: str) -> HybridComputeManagementClient:
        from azure.mgmt.hybridcompute.aio import HybridComputeManagementClient

        client: HybridComputeManagementClient = self._client(
            "hybrid", subscription, HybridComputeManagementClient
        )
        return client

    def maintenance(self, subscription: str) -> MaintenanceManagementClient:
        from azure.mgmt.maintenance.aio import MaintenanceManagementClient

        client: MaintenanceManagementClient = self._client(
            "maintenance", subscription, MaintenanceManagementClient
        )
        return client

    def features(self, subscription: str) -> FeatureClient:
        from azure.mgmt.resource.features.aio import FeatureClient

        client: FeatureClient = self._client("features", subscription, FeatureClient)
        return client

    def resources(self, subscription: str) -> ResourceManagementClient:
        from azure.mgmt.resource.resources.aio import ResourceManagementClient

        client: ResourceManagementClient = self._client(
            "resources", subscription, ResourceManagementClient
        )
        return client

    def graph(self) -> ResourceGraphClient:
        from azure.mgmt.resourcegraph.aio import ResourceGraphClient

        key = ("graph", "")
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = ResourceGraphClient(self.credential, **self._options())
        graph: ResourceGraphClient = client
        return graph

    # --- calls --------------------------------------------------------------------------------

    @property
    def polling_interval(self) -> float:
        """Seconds between reads when waiting on state (Azure's LRO cadence by default)."""
        interval = self.settings.polling_interval
        return 30.0 if interval is None else interval

    def azure_seconds(self, seconds: float) -> float:
        """Wall-clock seconds for a span of Azure time (differs only against emulators)."""
        return seconds / self.settings.time_scale

    def azure_now(self) -> datetime:
        """The service's current time: its last Date header moved on by the time since
        (sped up against an emulator), or this machine's clock before any response."""
        return self.metrics.service_now(self.settings.time_scale)

    def checked(self, check: Check) -> contextlib.AbstractContextManager[None]:
        """Make ``check`` again, once stale, as each request it concerns that the current task
        sends inside the block leaves the pacer (`azhotpatch._azure.policies.checked`)."""
        return checked(check)

    @contextlib.contextmanager
    def recording(self, *, drained: bool = False) -> Iterator[Traffic]:
        """Count every request sent inside the block per throttling bucket and over time
        (see `azhotpatch._azure.traffic`), in bins of one Azure second to start with;
        ``drained`` when the caller takes what is new with `Traffic.drain` (a journal)."""
        traffic = Traffic(self.pacer.ceiling, width=1.0 / self.settings.time_scale, drained=drained)
        self.metrics.recorders.append(traffic)
        try:
            yield traffic
        finally:
            self.metrics.recorders.remove(traffic)

    def deadline(self, seconds: float | None = None) -> Deadline:
        return Deadline(self.settings.default_deadline if seconds is None else seconds)

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        resource: str,
        doing: str,
        idempotent: bool = True,
        deadline: Deadline | None = None,
        retry_conflicts: bool = True,
        streak: retry.FailureStreak | None = None,
    ) -> T:
        """One Azure call under the retry policy (see `azhotpatch._azure.retry`);
        ``streak`` is the failure budget it counts against, when shared with other calls."""
        return await retry.call(
            operation,
            policy=self.settings.retry,
            deadline=deadline or self.deadline(),
            idempotent=idempotent,
            resource=resource,
            doing=doing,
            paced=self.settings.pacing,
            retry_conflicts=retry_conflicts,
            reachability=self.reachability,
            streak=streak,
        )

    # --- what the fleet engine needs of the pacer and of Resource Graph -------------------

    async def admit(self, subscription: str, horizon: float) -> Arrival:
        """Wait until the subscription's buckets can serve one more machine whose requests
        span ``horizon`` wall seconds (see `Pacer.admit`); its task then calls `arrive`."""
        return await self.pacer.admit(subscription, self.pacer.admission_depth(horizon))

    def arrive(self, admitted: Arrival) -> None:
        """In the admitted machine's own task: its first request is the one admitted."""
        pacing.arrival.set(admitted)

    def leave(self, admitted: Arrival) -> None:
        """The admitted machine is done, whether or not it sent anything."""
        self.pacer.arrived(admitted)

    def prioritize(self, priority: int) -> None:
        """This task's requests go before those of lower priority in the pacer's queues."""
        pacing.priority.set(priority)

    def query(
        self,
        query: str,
        *,
        subscriptions: Sequence[str] | None = None,
        management_groups: Sequence[str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of a Resource Graph query, paged, paced to the user's quota."""
        from azhotpatch._azure import graph  # it builds on this module

        return graph.rows(
            self, query, subscriptions=subscriptions, management_groups=management_groups
        )

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_credential:
            await self.credential.close()
