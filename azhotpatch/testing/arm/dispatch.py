"""From raw request to ARM response: authentication, routing, api-version, RBAC, injected
faults, throttling, the handler, and the headers ARM puts on every answer.

Independent of the HTTP server so the whole pipeline is one synchronous, lock-protected call.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

from azhotpatch.testing._faults import OPERATION_FAULTS
from azhotpatch.testing.arm.auth import principal_of
from azhotpatch.testing.arm.endpoints import Route
from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.estate import not_authorized
from azhotpatch.testing.arm.exchange import Request, Response, retry_after
from azhotpatch.testing.arm.throttling import Charge, Draw, Limits, Throttler
from azhotpatch.testing.arm.versions import API_VERSIONS
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World

logger = logging.getLogger("azhotpatch.testing")
_FAULT_THROTTLE_SECONDS = 5.0
_FAULT_UNAVAILABLE_SECONDS = 10.0
# A machine-level resource path: subscription, group, provider, type, name.
_MACHINE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+", re.IGNORECASE
)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it (no bodies, no tokens)."""

    seq: int
    at: float  # emulated seconds
    method: str
    route: str
    status: int
    principal: str
    subscription: str | None
    action: str | None
    fault: str | None = None
    throttled_by: str | None = None
    # the query's parameter names (not values): tells a status poll from a result GET
    parameters: tuple[str, ...] = ()
    # the machine it concerns (its lower-cased id; for a status poll, the operation's
    # machine), else its subscription (/subscriptions/<id>)
    target: str | None = None


@dataclass(frozen=True)
class ServedBody:
    """One response as the emulator sent it, kept only when asked (`Dispatcher.keep_bodies`):
    what a contract test holds against Microsoft's published schema. ``operation`` is the
    kind of operation a status route reported on (its body's shape depends on it)."""

    route: str
    method: str
    status: int
    api_version: str
    parameters: tuple[str, ...]  # the query's parameter names, e.g. monitor
    operation: str | None
    body: Any  # the decoded JSON, None for an empty body


@dataclass
class Answer:
    """What the HTTP layer must do: answer, or drop the connection before/after processing."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False


class Dispatcher:
    """ARM's front door over the services' routes; it knows no service, only their tables."""

    def __init__(
        self,
        world: World,
        limits: Limits,
        routes: Sequence[Route],
        *,
        roles: Mapping[str, list[str]] | None = None,
        record_requests: bool = True,
        region: str = "westeurope",
    ) -> None:
        self.world = world
        self.throttler = Throttler(limits)
        self.routes = list(routes)
        self.roles = {k: list(v) for k, v in (roles or {}).items()}
        self.record_requests = record_requests
        self.region = region.upper()
        self.lock = threading.RLock()
        self.records: list[RequestRecord] = []
        self.counts: Counter[tuple[str, int]] = Counter()
        self.throttled: Counter[str] = Counter()
        self.faults_served: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._seq = 0
        self._served: list[ServedBody] | None = None

    def keep_bodies(self) -> list[ServedBody]:
        """From now on, keep every response body served (off by default: a fleet run serves
        millions); returns the list it fills."""
        with self.lock:
            if self._served is None:
                self._served = []
            return self._served

    # --- entry point ----------------------------------------------------------------------

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
            self.world.clock.tick()
            now = self.world.settle()
            request = Request.from_wire(
                method,
                raw_path,
                query_string,
                headers,
                body,
                base_url,
                now=now,
                now_dt=self.world.clock.at(now),
            )
            answer, record = self._process(request)
            if self.record_requests:
                self.records.append(record)
            self.counts[(record.route, record.status)] += 1
            return answer

    def _process(self, request: Request) -> tuple[Answer, RequestRecord]:
        state: dict[str, Any] = {"fault": None, "throttled": None}
        try:
            request.principal = principal_of(request.headers)
            response, drop_after = self._serve(request, state)
        except ArmError as error:
            # dropped after processing, whatever the processing answered
            response, drop_after = _error_response(error), state["fault"] == "reset_after_commit"
        except _DropConnectionError:
            state["fault"] = "reset"
            self.faults_served["reset"] += 1
            return Answer(drop=True), self._record(request, 0, state)
        except Exception as error:  # an emulator bug: say so loudly, in ARM's shape
            logger.exception("emulator failure on %s %s", request.method, request.path)
            failure = ArmError(500, "EmulatorInternalError", f"The emulator failed: {error!r}")
            response, drop_after = _error_response(failure), False
        if drop_after:
            self.faults_served["reset_after_commit"] += 1
            return Answer(drop=True), self._record(request, 0, state)
        response.headers = {**state.get("headers", {}), **response.headers}
        self._decorate(request, response)
        encoded = response.encode()
        if self._served is not None:
            self._served.append(self._served_body(request, response.status, encoded))
        return (
            Answer(response.status, response.headers, encoded),
            self._record(request, response.status, state),
        )

    def _served_body(self, request: Request, status: int, encoded: bytes) -> ServedBody:
        """The body as it went on the wire (decoded again, so later changes to the world's
        documents cannot alter what was recorded)."""
        route = request.route or self._addressed_route(request)
        operation = self._operation_of(request) if request.route else None
        return ServedBody(
            route=route.name if route else "unmatched",
            method=request.method,
            status=status,
            api_version=request.api_version,
            parameters=tuple(sorted(request.query)),
            operation=operation.kind if operation else None,
            body=json.loads(encoded) if encoded else None,
        )

    def _serve(self, request: Request, state: dict[str, Any]) -> tuple[Response, bool]:
        route = self._match(request)
        request.route = route
        request.targets = self._targets(request, route)
        self._check_api_version(request, route)
        self._authorize(request, route)
        self.world.estate.check(request, route, route.action.format(**request.params), request.now)
        fault = self._fault(request, route, state)
        if fault == "reset":
            raise _DropConnectionError
        self._throttle(request, route, state)
        response = route.handler(request)
        return response, fault == "reset_after_commit"

    # --- stages ---------------------------------------------------------------------------

    def _match(self, request: Request) -> Route:
        allowed = False
        for candidate in self.routes:
            params = candidate.pattern.match(request.path)
            if params is None:
                continue
            if candidate.method != request.method:
                allowed = True
                continue
            request.params = params.groupdict()
            return candidate
        if allowed:
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"The HTTP method '{request.method}' is not supported on '{request.path}'.",
            )
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type for '{request.path}' could not be found; the emulator serves "
            "the operations azhotpatch uses (see azhotpatch.testing docs).",
        )

    def _addressed_route(self, request: Request) -> Route | None:
        """The route a request addresses, found without answering it: for a request ARM
        refused before routing it (a 401)."""
        return next(
            (
                r
                for r in self.routes
                if r.method == request.method and r.pattern.match(request.path)
            ),
            None,
        )

    def _check_api_version(self, request: Request, route: Route) -> None:
        location = request.params.get("location")
        API_VERSIONS[route.provider].check(request.api_version, location)

    def _authorize(self, request: Request, route: Route) -> None:
        if not self.roles:
            return
        action = route.action.format(**request.params)
        allowed = self.roles.get(request.principal, self.roles.get("*", []))
        if any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in allowed):
            return
        raise not_authorized(request, route, action)

    def _fault(self, request: Request, route: Route, state: dict[str, Any]) -> str | None:
        """The fault injected on this request (kept in ``state`` for the request log): a
        drop is returned for the caller to carry out; an error answer is raised."""
        faults = self.world.faults
        if not faults.active:
            return None
        key = f"{request.method} {request.path.lower()}"
        self._attempts[key] += 1
        fault = self._aimed_fault(request, route) or faults.request_fault(
            key, self._attempts[key], is_write=route.machine_write, route=route.name
        )
        state["fault"] = fault
        if fault is None or fault in ("reset", "reset_after_commit"):
            return fault
        self.faults_served[fault] += 1
        if fault == "internal_error":
            raise ArmError(
                500,
                "InternalServerError",
                "Encountered internal server error. Diagnostic information: timestamp "
                f"'{request.now_dt:%Y%m%dT%H%M%SZ}', tracking id '{uuid.uuid4()}'.",
            )
        if fault == "unavailable":
            raise ArmError(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please try again later.",
                headers=self._retry_after(_FAULT_UNAVAILABLE_SECONDS),
            )
        if fault == "conflict":
            raise ArmError(
                409,
                "Conflict",
                "The request failed because another operation is in progress on the resource. "
                "Retry after it completes.",
            )
        raise ArmError(
            429,
            "TooManyRequests",
            "The request is being throttled. Retry after the interval in the Retry-After header.",
            headers=self._retry_after(_FAULT_THROTTLE_SECONDS),
        )

    def _retry_after(self, azure_seconds: float) -> dict[str, str]:
        clock = self.world.clock
        return retry_after(clock.to_wall(azure_seconds), precise=clock.time_scale != 1.0)

    def _aimed_fault(self, request: Request, route: Route) -> str | None:
        """The first aimed request fault (`FaultRule`) that hits this request, if any."""
        rules = self.world.faults.rules
        if not rules:
            return None
        operation = self._operation_of(request)
        subjects = self._subjects(request, route, operation)
        for rule in rules:
            if rule.route != route.name or rule.kind in OPERATION_FAULTS:
                continue
            if rule.operation is not None and rule.operation not in subjects:
                continue
            if rule.at == "done" and (operation is None or not operation.done):
                continue
            target = next((t for t in request.targets if rule.covers(t)), None)
            if target is not None and self.world.fault_ledger.take(rule, target):
                return rule.kind
        return None

    def _subjects(
        self, request: Request, route: Route, operation: Operation | None
    ) -> tuple[str | None, ...]:
        """What a rule's ``operation`` may name to aim at this request: the operation a
        status route reports on (its kind or its subject), what the route says the request
        concerns (a run command's script), or the table a Resource Graph query reads."""
        if operation is not None:
            return (operation.kind, operation.subject)
        if route.subject is not None:
            return (route.subject(request),)
        return (_table_of(request, route),)

    def _operation_of(self, request: Request) -> Operation | None:
        """The long-running operation a status request reports on."""
        op_id = request.params.get("op")
        return self.world.operations.get(op_id.lower()) if op_id else None

    def _targets(self, request: Request, route: Route) -> tuple[str, ...]:
        """What the request concerns, most specific first, as lower-cased ids: the machine
        (its path, or the target of the operation a status route reports on), else the
        subscription(s) (a Resource Graph query's are in its body)."""
        operation = self._operation_of(request)
        if operation is not None:
            return (operation.target,)
        found = _MACHINE.match(request.path)
        if found:
            return (found.group(0).lower(),)
        sub = request.params.get("sub")
        if sub:
            return (f"/subscriptions/{sub.lower()}",)
        if route.level == "tenant" and request.method == "POST":
            body = request.json(required=False)
            subs = body.get("subscriptions") if isinstance(body, dict) else None
            return tuple(f"/subscriptions/{str(s).lower()}" for s in subs or ())
        return ()

    def _throttle(self, request: Request, route: Route, state: dict[str, Any]) -> None:
        throttler = self.throttler
        if route.level == "tenant":
            self._draw(throttler.tenant_charges(request.principal, route.arm_kind), request, state)
            self._graph_quota(request, state)
            return
        sub = request.params.get("sub", "").lower()
        self._draw(throttler.arm_charges(request.principal, sub, route.arm_kind), request, state)
        key = route.compute(request) if route.compute else None
        if key is not None:
            policy, region, resource = key
            self._draw(throttler.compute_charges(policy, sub, region, resource), request, state)

    def _draw(self, charges: list[Charge], request: Request, state: dict[str, Any]) -> None:
        draw = self.throttler.draw(charges, request.now)
        request_headers = state.setdefault("headers", {})
        _merge_rate_headers(request_headers, draw.headers)
        if draw.allowed:
            return
        assert draw.rejected_by is not None
        state["throttled"] = draw.rejected_by.label
        self.throttled[draw.rejected_by.label] += 1
        raise self._too_many(request, draw, request_headers)

    def _too_many(self, request: Request, draw: Draw, headers: dict[str, str]) -> ArmError:
        charge = draw.rejected_by
        assert charge is not None
        clock = self.world.clock
        wait = max(draw.wait_seconds, 1e-3)
        all_headers = {
            **headers,
            **retry_after(clock.to_wall(wait), precise=clock.time_scale != 1.0),
        }
        if charge.key[0] == "compute":
            policy = charge.label
            limit = charge.limit
            start = clock.at(request.now - 60.0)
            detail = json.dumps(
                {
                    "operationGroup": charge.key[1],
                    "startTime": start.isoformat(),
                    "endTime": clock.at(request.now).isoformat(),
                    "allowedRequestCount": int(limit.capacity),
                    "measuredRequestCount": int(limit.capacity) + 1,
                }
            )
            return ArmError(
                429,
                "OperationNotAllowed",
                "The server rejected the request because too many requests have been received "
                "for this subscription.",
                details=[{"code": "TooManyRequests", "target": policy, "message": detail}],
                headers=all_headers,
            )
        kind = charge.label
        sub = request.params.get("sub", "")
        seconds = max(1, round(clock.to_wall(wait)))
        return ArmError(
            429,
            "SubscriptionRequestsThrottled" if sub else "TenantRequestsThrottled",
            f"Number of '{kind}' requests for subscription '{sub}' actor '{request.principal}' "
            f"against '{self.region}' exceeded. Please try again after '{seconds}' "
            "seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling "
            "for additional information.",
            headers=all_headers,
        )

    def _graph_quota(self, request: Request, state: dict[str, Any]) -> None:
        allowed, remaining, resets = self.throttler.graph_draw(request.principal, request.now)
        wall = self.world.clock.to_wall(resets)
        headers = state.setdefault("headers", {})
        headers["x-ms-user-quota-remaining"] = str(remaining)
        headers["x-ms-user-quota-resets-after"] = _timespan(wall)
        headers["x-ms-ratelimit-remaining-tenant-resource-requests"] = str(remaining)
        if allowed:
            return
        state["throttled"] = "graph"
        self.throttled["graph"] += 1
        raise ArmError(
            429,
            "RateLimiting",
            f"Please provide below info when asking for support: the client '{request.principal}' "
            f"exceeded its Resource Graph quota; retry after {_timespan(wall)}.",
            headers={**headers, **retry_after(wall, precise=self.world.clock.time_scale != 1.0)},
        )

    # --- response -------------------------------------------------------------------------

    def _decorate(self, request: Request, response: Response) -> None:
        request_id = str(uuid.uuid4())
        correlation = (
            request.headers.get("x-ms-correlation-request-id")
            or request.headers.get("x-ms-client-request-id")
            or request_id
        )
        stamp = (request.now_dt or self.world.clock.now()).strftime("%Y%m%dT%H%M%SZ")
        base = {
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": correlation,
            "x-ms-routing-request-id": f"{self.region}:{stamp}:{request_id}",
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            # Azure's clock, sped up and advanced like everything else here: clients that
            # compute "next run" read the service's time from it.
            "Date": format_datetime(request.now_dt or self.world.clock.now(), usegmt=True),
            "X-Content-Type-Options": "nosniff",
        }
        if "x-ms-client-request-id" in request.headers:
            base["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        if response.body is not None or response.raw is not None:
            base["Content-Type"] = "application/json; charset=utf-8"
        base.update(response.headers)
        response.headers = base

    def _record(self, request: Request, status: int, state: dict[str, Any]) -> RequestRecord:
        self._seq += 1
        route = request.route
        action = route.action.format(**request.params) if route else None
        return RequestRecord(
            seq=self._seq,
            at=request.now,
            method=request.method,
            route=route.name if route else "unmatched",
            status=status,
            principal=request.principal,
            subscription=request.params.get("sub", "").lower() or None,
            action=action,
            fault=state.get("fault"),
            throttled_by=state.get("throttled"),
            parameters=tuple(sorted(request.query)),
            target=request.targets[0] if request.targets else None,
        )


def _table_of(request: Request, route: Route) -> str | None:
    """The table a Resource Graph query reads (its first word), which a `FaultRule`'s
    ``operation`` names to aim at one kind of query."""
    if route.level != "tenant" or request.method != "POST":
        return None
    body = request.json(required=False)
    query = body.get("query") if isinstance(body, dict) else None
    words = str(query or "").split()
    return words[0].lower() if words else None


def _error_response(error: ArmError) -> Response:
    return Response(error.status, error.body(), headers=dict(error.headers))


class _DropConnectionError(Exception):
    """Close the connection without answering."""


def _merge_rate_headers(into: dict[str, str], new: dict[str, str]) -> None:
    for name, value in new.items():
        if name == "x-ms-ratelimit-remaining-resource" and name in into:
            into[name] = f"{into[name]},{value}"
        else:
            into[name] = value


def _timespan(seconds: float) -> str:
    """.NET TimeSpan spelling, as ARG's quota header: hh:mm:ss[.fffffff]."""
    whole = int(seconds)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    fraction = seconds - whole
    return text + (f".{round(fraction * 1e7):07d}" if fraction > 1e-7 else "")
