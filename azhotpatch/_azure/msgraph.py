"""Microsoft Graph, where Intune manages Windows 11 devices: a session over azure-core's
`AsyncPipelineClient`, with the library's own retry policy and a pacer for Intune's limits.

No msgraph SDK: msgraph-beta-sdk is a 50 MB wheel, about 350 MB installed and slow to import
(msgraph-beta-sdk-python#184, msgraph-sdk-python#939), for the handful of shapes the devices
module reads. The pipeline is azure-core's: the bearer token policy (scope
``<graph>/.default``), then the pacer, then the same aiohttp transport as Resource Manager.

Two things differ from Resource Manager and are handled here:

* Graph may answer 429 with no ``Retry-After`` (Intune does): the pacer then pauses the
  bucket for a back-off that doubles with each 429 in a row, instead of a fixed second.
* A 403 means an application permission (a Graph scope with admin consent), not an RBAC
  role: the error says which permission to grant.

Report downloads go to the storage URL an export job names, with no bearer token: the URL
carries its own signature, and a Graph token must never be sent to another host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from azure.core import AsyncPipelineClient
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import (
    AsyncBearerTokenCredentialPolicy,
    HeadersPolicy,
    ProxyPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest

from azhotpatch._azure import retry
from azhotpatch._azure.credentials import async_credential
from azhotpatch._azure.errors import response_headers
from azhotpatch._azure.pacing import BucketKey, Pacer, Ticket, retry_after_seconds
from azhotpatch._azure.policies import Metrics, PacingPolicy, RegionCache
from azhotpatch._azure.retry import Deadline, RetryPolicy
from azhotpatch._azure.routing import RegionLookup
from azhotpatch._azure.session import USER_AGENT, http_session, proxies_for
from azhotpatch._proxy import proxy_for
from azhotpatch.clouds import Cloud
from azhotpatch.errors import AuthorizationError, AzureOperationError, HotpatchError
from azhotpatch.limits import Bucket, GraphLimits, ThrottleLimits

__all__ = ["MANAGE_POLICIES", "READ_DEVICES", "GraphSession", "GraphSettings", "graph_keys"]

# The least-privileged application permission each kind of call needs (the Permissions table
# of each microsoft-graph-docs-contrib page cited in azhotpatch.devices)
MANAGE_POLICIES = "DeviceManagementConfiguration.ReadWrite.All"
READ_DEVICES = "DeviceManagementManagedDevices.Read.All"

GRAPH = "Microsoft Graph"  # what messages call the service (not "Azure")
_UPDATE_POLICIES = "/devicemanagement/windowsqualityupdatepolicies"
_EXPORT_JOBS = "/devicemanagement/reports/exportjobs"


def graph_keys(method: str, url: str, region_of: RegionLookup) -> list[BucketKey]:
    """Intune's buckets a Graph request draws from: every Intune request counts against the
    service's limit; writes to quality update policies also against the update service's,
    and a new export job against the export API's."""
    path = urlsplit(url).path.lower()
    if "/devicemanagement/" not in path:
        return []
    keys: list[BucketKey] = [("intune", "app")]
    method = method.upper()
    if _UPDATE_POLICIES in path and method != "GET":
        keys.append(("intune-update-writes", "app"))
    if path.rstrip("/").endswith(_EXPORT_JOBS) and method == "POST":
        keys.append(("intune-exports", "app"))
    return keys


class GraphPacer(Pacer):
    """The pacer over Intune's buckets; a 429 without ``Retry-After`` pauses the bucket for
    a back-off that doubles with each 429 in a row and resets on the first success."""

    def __init__(self, limits: GraphLimits, *, enabled: bool = True) -> None:
        super().__init__(ThrottleLimits(), enabled=enabled)
        self.graph_limits = limits
        self._streak: dict[BucketKey, int] = {}

    def _limit(self, key: BucketKey) -> Bucket:
        return self.graph_limits.bucket(key[0])

    def settle(self, ticket: Ticket, status: int | None, headers: Mapping[str, str]) -> None:
        super().settle(ticket, status, headers)
        if status is not None and status < 400:
            for key in ticket.keys:
                self._streak.pop(key, None)

    def _pause(
        self, ticket: Ticket, headers: Mapping[str, str], remaining: dict[str, int], now: float
    ) -> None:
        told = retry_after_seconds(headers)
        for key in ticket.keys:
            streak = self._streak.get(key, 0)
            self._streak[key] = streak + 1
            wait = told
            if wait is None:
                limits = self.graph_limits
                wait = min(limits.backoff_max, limits.backoff * 2**streak)
            self._cell(key, now).pause(now, wait)
            self.stats.pauses += 1


@dataclass(frozen=True)
class GraphSettings:
    """Everything that shapes how we talk to Microsoft Graph."""

    cloud: Cloud
    endpoint: str  # Graph's root, without the version: https://graph.microsoft.com
    version: str = "beta"
    connection_verify: bool | str = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: GraphLimits = field(default_factory=GraphLimits)
    pacing: bool = True
    connections: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    default_deadline: float = 3600.0
    polling_interval: float = 10.0  # seconds between reads of a running export job
    time_scale: float = 1.0  # > 1 only for emulators whose clock runs faster


class GraphSession:
    """One pipeline to Graph (token, pacing, metrics) and one to report storage (no token)."""

    def __init__(self, credential: Any, settings: GraphSettings) -> None:
        self.settings = settings
        self.credential, self._owns_credential = async_credential(credential, settings.cloud)
        self.pacer = GraphPacer(settings.limits, enabled=settings.pacing)
        self.metrics = Metrics()
        self.reachability = retry.Reachability(
            settings.endpoint,
            settings.connect_timeout,
            lambda: bool(self.metrics.by_status),
            proxy=proxy_for(settings.endpoint),
            service=GRAPH,
        )
        self._http: Any = None
        self._graph: AsyncPipelineClient[Any, Any] | None = None
        self._storage: AsyncPipelineClient[Any, Any] | None = None

    # --- pipelines ----------------------------------------------------------------------------

    def _transport(self) -> AioHttpTransport:
        if self._http is None or self._http.closed:
            self._http = http_session(self.settings.connection_verify, self.settings.connections)
        return AioHttpTransport(
            session=self._http,
            session_owner=False,
            connection_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
        )

    def _client(self, *, signed_in: bool) -> AsyncPipelineClient[Any, Any]:
        policies: list[Any] = [
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy(base_user_agent=USER_AGENT),
            ProxyPolicy(proxies=proxies_for(self.settings.endpoint)),
        ]
        if signed_in:
            policies += [
                AsyncBearerTokenCredentialPolicy(self.credential, self.settings.cloud.graph_scope),
                PacingPolicy(self.pacer, RegionCache(), self.metrics, route=graph_keys),
            ]
        return AsyncPipelineClient(
            self.settings.endpoint, policies=policies, transport=self._transport()
        )

    @property
    def graph(self) -> AsyncPipelineClient[Any, Any]:
        if self._graph is None:
            self._graph = self._client(signed_in=True)
        return self._graph

    @property
    def storage(self) -> AsyncPipelineClient[Any, Any]:
        if self._storage is None:
            self._storage = self._client(signed_in=False)
        return self._storage

    def url(self, path: str) -> str:
        """An absolute URL for a path under the version (``deviceManagement/...``); an
        absolute URL (a nextLink) is kept as it is."""
        if path.startswith(("https://", "http://")):
            return path
        return f"{self.settings.endpoint}/{self.settings.version}/{path.lstrip('/')}"

    def deadline(self, seconds: float | None = None) -> Deadline:
        return Deadline(self.settings.default_deadline if seconds is None else seconds)

    def wall(self, seconds: float) -> float:
        """Wall-clock seconds for a span of service time (differs only against emulators)."""
        return seconds / self.settings.time_scale

    # --- calls --------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        resource: str = "Microsoft Graph",
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool = True,
        deadline: Deadline | None = None,
        permission: str = MANAGE_POLICIES,
    ) -> Any:
        """One Graph call under the retry policy: the decoded JSON answer (None for 204).
        ``permission`` is what a 403 tells the caller to grant."""
        url = self.url(path)

        async def send() -> Any:
            request = HttpRequest(method, url, params=dict(params or {}), json=body)
            response = await self.graph.send_request(request)
            if response.status_code >= 400:
                raise HttpResponseError(response=response)
            return response.json() if response.content else None

        return await self._call(
            send,
            permission,
            resource=resource,
            doing=doing,
            idempotent=idempotent,
            deadline=deadline,
        )

    async def pages(
        self,
        path: str,
        *,
        doing: str,
        params: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
        permission: str = MANAGE_POLICIES,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, page after page (``@odata.nextLink`` carries the query
        on; Graph documents it as opaque), streamed."""
        how: dict[str, Any] = {"doing": doing, "deadline": deadline, "permission": permission}
        page = await self.request("GET", path, params=params, **how)
        while True:
            for item in page.get("value") or ():
                yield item
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = await self.request("GET", str(link), **how)

    async def download(self, url: str, *, doing: str, deadline: Deadline | None = None) -> bytes:
        """The bytes at a signed storage URL, fetched without a Graph token."""

        async def fetch() -> bytes:
            response = await self.storage.send_request(HttpRequest("GET", url))
            if response.status_code >= 400:
                raise HttpResponseError(response=response)
            return bytes(response.content)

        data: bytes = await self._call(
            fetch,
            MANAGE_POLICIES,
            resource="report storage",
            doing=doing,
            deadline=deadline,
            idempotent=True,
        )
        return data

    async def _call(self, operation: Any, permission: str, **how: Any) -> Any:
        settings = self.settings
        deadline = how.pop("deadline", None) or self.deadline()
        try:
            return await retry.call(
                operation,
                policy=settings.retry,
                deadline=deadline,
                paced=settings.pacing,
                reachability=self.reachability,
                service=GRAPH,
                **how,
            )
        except AzureOperationError as error:
            _graph_request_id(error)
            if isinstance(error, AuthorizationError):
                raise _permission_error(error, how["doing"], permission) from error
            raise

    async def close(self) -> None:
        for client in (self._graph, self._storage):
            if client is not None:
                await client.close()
        self._graph = self._storage = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._owns_credential:
            await self.credential.close()


def _graph_request_id(error: AzureOperationError) -> None:
    """Graph names its request ``request-id`` (what support asks for), not ARM's
    ``x-ms-request-id``."""
    if error.request_id is None:
        error.request_id = response_headers(error.__cause__ or error).get("request-id")


def _permission_error(error: AuthorizationError, doing: str, needed: str) -> HotpatchError:
    """Graph's 403 in Graph's terms: an application permission with admin consent."""
    return AuthorizationError(
        f"Microsoft Graph refused the request while {doing} (403 {error.azure_code or ''})",
        resource=error.resource,
        fix=f"grant the app registration the Microsoft Graph application permission {needed} "
        "and an administrator's consent (see docs/how-to/windows11.md); for a signed-in user, "
        "an Intune role that allows it",
        status=error.status,
        azure_code=error.azure_code,
        request_id=error.request_id,
    )
