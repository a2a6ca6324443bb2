"""ARM's request/response conventions, independent of any HTTP server.

Handlers take a `Request` and return a `Response` (or raise `ArmError`); the server module
turns those into HTTP. Paths match case-insensitively, as ARM does; errors have ARM's
``{"error": {"code", "message", "target", "details"}}`` shape; api-versions are checked per
provider and rejected with the error ARM gives for a version it does not know.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

JSON = Any


class ArmError(Exception):
    """An ARM error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = dict(headers or {})

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details is not None:
            error["details"] = self.details
        return Response(self.status, {"error": error}, headers=dict(self.headers))


def not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def bad_parameter(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


@dataclass
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    query: dict[str, str]  # keys lower-cased
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    principal: str = ""
    now: float = 0.0  # emulated seconds
    now_dt: datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    route: Route | None = None
    targets: tuple[str, ...] = ()  # what it concerns (see Dispatcher._targets)
    _json: JSON = None
    _parsed: bool = False

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    def json(self, *, required: bool = True) -> JSON:
        if not self._parsed:
            self._parsed = True
            if not self.body.strip():
                self._json = None
            else:
                try:
                    self._json = json.loads(self.body)
                except ValueError as error:
                    raise ArmError(
                        400,
                        "InvalidRequestContent",
                        f"The request content was invalid and could not be deserialized: {error}",
                    ) from None
        if required and self._json is None:
            raise ArmError(
                400, "InvalidRequestContent", "The request content is empty; a JSON body is needed."
            )
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content must be a JSON object, got {type(body).__name__}.",
            )
        return body

    def url(self, path: str, **query: str) -> str:
        """An absolute URL on this server (for Location / Azure-AsyncOperation / nextLink)."""
        text = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return f"{self.base_url}{path}" + (f"?{text}" if text else "")


@dataclass
class Response:
    status: int
    body: JSON = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """One ARM operation: how to match it, who handles it, how it is throttled and authorised.

    ``action`` is the RBAC action ARM checks for it (the emulator can enforce a role), and
    ``arm_kind`` the ARM throttling bucket (reads/writes/deletes).
    """

    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    provider: str
    action: str
    arm_kind: str
    scope: str = "subscription"  # or "tenant"
    machine_write: bool = False  # subject to 409 "operation in progress" injection
    compute: Callable[[Request], tuple[str, str, str | None] | None] | None = None

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


def route(
    name: str,
    method: str,
    template: str,
    handler: Handler,
    *,
    provider: str,
    action: str,
    arm_kind: str | None = None,
    **options: Any,
) -> Route:
    """Compile ``/subscriptions/{sub}/...`` into a case-insensitive anchored pattern."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    kind = arm_kind or {"GET": "reads", "DELETE": "deletes"}.get(method, "writes")
    return Route(
        name=name,
        method=method,
        pattern=re.compile(f"^{pattern}/?$", re.IGNORECASE),
        handler=handler,
        provider=provider,
        action=action,
        arm_kind=kind,
        **options,
    )


# --- api-versions -----------------------------------------------------------------------------

_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview|-beta)?$")


@dataclass(frozen=True)
class ApiVersions:
    """The versions a provider accepts: a known list, or a range of well-formed dates."""

    provider: str
    oldest: str
    newest: str
    extra: tuple[str, ...] = ()
    resource_type: str | None = None  # set for RP resource types (NoRegisteredProviderFound)

    def accepts(self, version: str) -> bool:
        if version in self.extra:
            return True
        found = _VERSION.match(version)
        if not found:
            return False
        date_part = version[:10]
        return self.oldest <= date_part <= self.newest

    def check(self, version: str, location: str | None = None) -> None:
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if self.accepts(version):
            return
        listing = f"'{self.oldest}' through '{self.newest}'" + (
            f", {', '.join(repr(v) for v in self.extra)}" if self.extra else ""
        )
        if self.resource_type:
            where = f" for location '{location}'" if location else ""
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found{where} and API version '{version}' for "
                f"type '{self.resource_type}'. The supported api-versions are {listing}.",
            )
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are {listing}.",
        )


# Ranges cover every version the pinned SDKs send and the ones public tools have used.
API_VERSIONS = {
    "Microsoft.Compute": ApiVersions(
        "Microsoft.Compute", "2015-06-15", "2026-04-01", resource_type="virtualMachines"
    ),
    "Microsoft.HybridCompute": ApiVersions(
        "Microsoft.HybridCompute", "2019-03-18", "2026-09-01", resource_type="machines"
    ),
    "Microsoft.Features": ApiVersions(
        "Microsoft.Features", "2014-08-01", "2025-03-01", extra=("2014-08-01-preview",)
    ),
    "Microsoft.Resources": ApiVersions("Microsoft.Resources", "2014-04-01", "2025-04-01"),
    "Microsoft.ResourceGraph": ApiVersions(
        "Microsoft.ResourceGraph", "2018-09-01", "2024-04-01", resource_type="resources"
    ),
    "Microsoft.Maintenance": ApiVersions(
        "Microsoft.Maintenance",
        "2018-06-01",
        "2025-06-01",
        resource_type="maintenanceConfigurations",
    ),
}


def retry_after(wall_seconds: float, *, precise: bool) -> dict[str, str]:
    """When to come back. ``Retry-After`` is whole seconds, which cannot say "in 25 ms", and
    azure-core reads it before anything else; so a sub-second wait (only possible when the
    emulator runs sped up) is sent as ``retry-after-ms`` alone, which azure-core and
    azhotpatch both honour. Longer waits carry ``Retry-After`` as Azure does, plus
    ``retry-after-ms`` when sped up."""
    milliseconds = str(max(1, math.ceil(wall_seconds * 1000)))
    if wall_seconds < 1:
        return {"retry-after-ms": milliseconds}
    headers = {"Retry-After": str(math.ceil(wall_seconds))}
    if precise:
        headers["retry-after-ms"] = milliseconds
    return headers


def iso(moment: datetime | None) -> str | None:
    """ARM's timestamp spelling: ISO 8601 with 7 fractional digits and a Z."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
