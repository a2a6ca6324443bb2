"""Microsoft Graph's front door on the emulator's HTTPS server, under ``/graph``: the bearer
token, routing, Intune's throttling, Graph's error shape and headers, and the request log.

Graph is not Resource Manager: no api-version (the version is the path, ``/beta``), no RBAC
action (an app's permissions are in its token, which the emulator does not check), errors as
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``,
and throttling per app and per tenant in Intune's documented buckets
(microsoftgraph/microsoft-graph-docs-contrib ``concepts/throttling-limits.md``; export jobs:
MicrosoftDocs/memdocs ``intune/device-management/reports/export-graph-apis.md``). Intune
answers its 429s without ``Retry-After``; the export API says when to come back.

Report downloads (``/graph/storage/...``) stand for the storage account a finished export
job names: they need no token, and the log records whether one was sent anyway.

Faults are injected as on Resource Manager's front (`azhotpatch.testing._faults`: the same
`Faults` rates and `FaultRule` s, seeded, one ledger): 500 or 503 before processing, the
connection dropped before or after processing, 409 on writes, a spurious 429 (without
``Retry-After``, as Intune answers). A Graph request concerns the app that sent it: a rule's
``scope`` is ``app:<principal>`` (a report download, which carries no token, concerns the
app whose export job made it), so tests give each case an app of its own.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, Generic, TypeVar

from azhotpatch.limits import Bucket
from azhotpatch.testing._faults import REQUEST_FAULTS, FaultState
from azhotpatch.testing.arm.auth import principal_of
from azhotpatch.testing.arm.dispatch import Answer
from azhotpatch.testing.arm.endpoints import compile_template
from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import Request, Response, retry_after
from azhotpatch.testing.arm.throttling import TokenBucket
from azhotpatch.testing.world.clock import Clock

logger = logging.getLogger("azhotpatch.testing")
PREFIX = "/graph"
Service = TypeVar("Service")


def _per_twenty_seconds(capacity: float) -> Bucket:
    return Bucket(capacity, capacity * 3.0)


@dataclass(frozen=True)
class IntuneLimits:
    """Intune's limits on Graph, per app (principal) and per tenant (everyone together)."""

    enabled: bool = True
    # family -> (per app, per tenant)
    buckets: Mapping[str, tuple[Bucket, Bucket]] = field(
        default_factory=lambda: {
            "intune": (_per_twenty_seconds(1000), _per_twenty_seconds(2000)),
            "intune-update-writes": (_per_twenty_seconds(100), _per_twenty_seconds(200)),
            "intune-exports": (Bucket(48, 48), Bucket(100, 100)),
        }
    )
    # a share of Intune requests answered 429 with no Retry-After regardless of the buckets
    # (seeded): Graph's throttling is not only the documented buckets
    spurious_429: float = 0.0


@dataclass(frozen=True)
class GraphEndpoint(Generic[Service]):
    """One row of Graph's route table: the path under ``/graph``, the handler, the Intune
    bucket families it draws from, and whether it needs a token. ``owner`` names the app a
    request without a token is made for (a report download: the app that exported it)."""

    name: str
    method: str
    template: str
    handler: Callable[[Service, Request], Response]
    buckets: tuple[str, ...] = ("intune",)
    signed: bool = True
    owner: Callable[[Service, Request], str | None] | None = None

    def bind(self, service: Service) -> GraphRoute:
        handler, owner = self.handler, self.owner
        return GraphRoute(
            self.name,
            self.method,
            compile_template(PREFIX + self.template),
            lambda request: handler(service, request),
            self.buckets,
            self.signed,
            None if owner is None else (lambda request: owner(service, request)),
        )


@dataclass(frozen=True)
class GraphRoute:
    name: str
    method: str
    pattern: Any
    handler: Callable[[Request], Response]
    buckets: tuple[str, ...]
    signed: bool
    owner: Callable[[Request], str | None] | None = None


@dataclass(frozen=True)
class GraphRecord:
    """One request Graph's front saw (no bodies, no tokens)."""

    seq: int
    at: float
    method: str
    route: str
    status: int
    principal: str
    throttled: bool = False
    token_sent: bool = False
    fault: str | None = None  # the injected fault, if one hit it
    app: str | None = None  # the app it concerns (``app:<principal>``; see the module docstring)


@dataclass(frozen=True)
class GraphServed:
    """A request body and the answer's, kept when asked (`GraphFront.keep_bodies`)."""

    route: str
    method: str
    status: int
    request: Any
    response: Any


class GraphFront:
    """Graph's front door; it knows its routes, not the services behind them."""

    def __init__(
        self,
        clock: Clock,
        routes: Sequence[GraphRoute],
        limits: IntuneLimits,
        *,
        seed: int = 0,
        faults: FaultState | None = None,
    ) -> None:
        self.clock = clock
        self.faults = faults  # shared with Resource Manager's front: one set of rules
        self.faults_served: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self.routes = list(routes)
        self.limits = limits
        self.lock = threading.RLock()
        self.records: list[GraphRecord] = []
        self.throttled: Counter[str] = Counter()
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._served: list[GraphServed] | None = None
        self._draw = random.Random(seed ^ 0x429)
        self.denied: set[str] = set()  # routes the app holds no permission for (403)

    def keep_bodies(self) -> list[GraphServed]:
        with self.lock:
            if self._served is None:
                self._served = []
            return self._served

    def handle(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
    ) -> Answer:
        with self.lock:
            self.clock.tick()
            now = self.clock.seconds()
            request = Request.from_wire(
                method,
                raw_path,
                query_string,
                headers,
                body,
                base_url,
                now=now,
                now_dt=self.clock.at(now),
            )
            fault: list[str] = []  # what `_serve` injected, if anything
            route, response = self._serve(request, fault)
            dropped = bool(fault) and fault[0] in ("reset", "reset_after_commit")
            self._decorate(request, response)
            encoded = response.encode()
            self.records.append(
                GraphRecord(
                    len(self.records) + 1,
                    now,
                    request.method,
                    route.name if route else "unmatched",
                    0 if dropped else response.status,
                    request.principal,
                    response.status == 429 and not fault,
                    bool(headers.get("Authorization") or headers.get("authorization")),
                    fault[0] if fault else None,
                    self._app_of(request, route) if route is not None else None,
                )
            )
            if dropped:
                self.faults_served[fault[0]] += 1
                return Answer(drop=True)
            if self._served is not None and route is not None:
                self._served.append(
                    GraphServed(
                        route.name,
                        request.method,
                        response.status,
                        request.json(required=False) if body.strip() else None,
                        json.loads(encoded) if encoded and route.signed else None,
                    )
                )
            return Answer(response.status, response.headers, encoded)

    def _serve(self, request: Request, fault: list[str]) -> tuple[GraphRoute | None, Response]:
        """The answer; an injected fault is appended to ``fault`` (a drop is answered by
        the caller: before processing, ``reset`` never reaches the handler)."""
        route: GraphRoute | None = None
        try:
            route = self._match(request)
            if route.signed:
                request.principal = principal_of(request.headers)
                if route.name in self.denied:
                    raise ArmError(
                        403,
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.",
                    )
            injected = self._fault(request, route)
            if injected is not None:
                fault.append(injected)
                if injected == "reset":
                    return route, Response(500)
            if route.signed:
                self._throttle(request, route)
            return route, route.handler(request)
        except ArmError as error:
            return route, Response(error.status, error.body(), dict(error.headers))
        except Exception as error:  # an emulator bug: say so loudly, in Graph's shape
            logger.exception("emulator failure on %s %s", request.method, request.path)
            failure = ArmError(500, "generalException", f"The emulator failed: {error!r}")
            return route, Response(500, failure.body())

    def _match(self, request: Request) -> GraphRoute:
        allowed = False
        for candidate in self.routes:
            found = candidate.pattern.match(request.path)
            if found is None:
                continue
            if candidate.method != request.method:
                allowed = True
                continue
            request.params = found.groupdict()
            return candidate
        if allowed:
            raise ArmError(405, "Request_BadRequest", f"{request.method} is not allowed here.")
        raise ArmError(
            400,
            "BadRequest",
            f"Resource not found for the segment '{request.path.rsplit('/', 1)[-1]}'.",
        )

    # --- faults ---------------------------------------------------------------------------

    def _fault(self, request: Request, route: GraphRoute) -> str | None:
        """The fault injected on this request, if any: a drop is returned for the caller to
        carry out; an error answer is raised."""
        state = self.faults
        if state is None or not state.faults.active:
            return None
        key = f"{request.method} {request.path.lower()}"
        self._attempts[key] += 1
        is_write = request.method != "GET"
        fault = self._aimed_fault(state, request, route) or state.faults.request_fault(
            key, self._attempts[key], is_write=is_write, route=route.name
        )
        if fault is None or fault in ("reset", "reset_after_commit"):
            return fault
        if fault == "conflict" and not is_write:
            return None
        self.faults_served[fault] += 1
        raise _fault_answer(fault, self.clock)

    def _aimed_fault(self, state: FaultState, request: Request, route: GraphRoute) -> str | None:
        """The first aimed request fault (`FaultRule`) that hits this request, if any."""
        target = self._app_of(request, route)
        for rule in state.faults.rules:
            if rule.route != route.name or rule.kind not in REQUEST_FAULTS:
                continue
            if target is not None and rule.covers(target) and state.fault_ledger.take(rule, target):
                return rule.kind
        return None

    @staticmethod
    def _app_of(request: Request, route: GraphRoute) -> str | None:
        """The app a request concerns (``app:<principal>``), as a rule's ``scope`` names it."""
        if route.signed:
            return f"app:{request.principal}"
        owner = route.owner(request) if route.owner is not None else None
        return f"app:{owner}" if owner else None

    def _throttle(self, request: Request, route: GraphRoute) -> None:
        """Every bucket the route draws from, per app and per tenant: all or nothing."""
        limits = self.limits
        if not limits.enabled:
            return
        charges: list[tuple[tuple[str, ...], Bucket, str]] = []
        for family in route.buckets:
            app, tenant = limits.buckets[family]
            charges.append(((family, "app", request.principal), app, family))
            charges.append(((family, "tenant"), tenant, family))
        taken = [self._bucket(key, limit, request.now) for key, limit, _ in charges]
        empty = next((c for c, b in zip(charges, taken, strict=True) if b.tokens < 1.0), None)
        if empty is None and limits.spurious_429 and self._draw.random() < limits.spurious_429:
            empty = charges[0]
        if empty is not None:
            self.throttled[empty[2]] += 1
            raise self._too_many(empty[2], taken[charges.index(empty)])
        for bucket in taken:
            bucket.tokens -= 1.0

    def _bucket(self, key: tuple[str, ...], limit: Bucket, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit, now)
        bucket.refill(now)
        return bucket

    def _too_many(self, family: str, bucket: TokenBucket) -> ArmError:
        headers: dict[str, str] = {}
        if family == "intune-exports":  # the export API says when; Intune itself does not
            wait = max(bucket.wait_for_token(), 1e-3)
            headers = retry_after(self.clock.to_wall(wait), precise=self.clock.time_scale != 1)
        return ArmError(
            429,
            "TooManyRequests",
            "Too many requests from this application or tenant. Please try again later.",
            headers=headers,
        )

    def _decorate(self, request: Request, response: Response) -> None:
        request_id = str(uuid.uuid4())
        client_id = request.headers.get("client-request-id") or request_id
        moment = request.now_dt or self.clock.now()
        body = response.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body["error"]["innerError"] = {
                "date": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_id,
            }
        base = {
            "request-id": request_id,
            "client-request-id": client_id,
            "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E",'
            '"Ring":"5","ScaleUnit":"000","RoleInstance":"emulator"}}',
            "Strict-Transport-Security": "max-age=31536000",
            "Date": format_datetime(moment, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if body is not None:
            base["Content-Type"] = (
                "application/json;odata.metadata=minimal;odata.streaming=true;"
                "IEEE754Compatible=false;charset=utf-8"
            )
        base.update(response.headers)
        response.headers = base


_FAULT_UNAVAILABLE_SECONDS = 10.0


def _fault_answer(fault: str, clock: Clock) -> ArmError:
    """The error an injected fault answers with, in Graph's shape."""
    if fault == "internal_error":
        return ArmError(500, "InternalServerError", "An internal server error occurred.")
    if fault == "unavailable":
        wait = retry_after(clock.to_wall(_FAULT_UNAVAILABLE_SECONDS), precise=clock.time_scale != 1)
        return ArmError(
            503, "ServiceUnavailable", "The service is temporarily unavailable.", headers=wait
        )
    if fault == "conflict":
        return ArmError(
            409, "Conflict", "Another operation is in progress on the object; retry later."
        )
    return ArmError(  # Intune's own 429: no Retry-After
        429,
        "TooManyRequests",
        "Too many requests from this application or tenant. Please try again later.",
    )
