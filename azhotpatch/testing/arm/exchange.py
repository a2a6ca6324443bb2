"""One request and its response as a handler sees them, independent of any HTTP server.

Handlers take a `Request` and return a `Response` (or raise `ArmError`); the server module
turns those into HTTP. Also here: the spellings ARM uses on every provider (timestamps,
``Retry-After``) and its PATCH semantics, so no provider has its own.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

from azhotpatch.testing.arm.errors import ArmError

if TYPE_CHECKING:
    from azhotpatch.testing.arm.endpoints import Route

JSON = Any


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

    @classmethod
    def from_wire(
        cls,
        method: str,
        raw_path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        *,
        now: float,
        now_dt: datetime,
    ) -> Request:
        """A request as the HTTP server received it: the path unquoted, query names
        lower-cased, at an emulated instant."""
        return cls(
            method=method.upper(),
            path=unquote(raw_path),
            query={k.lower(): v for k, v in parse_qsl(query_string, keep_blank_values=True)},
            headers=headers,
            body=body,
            base_url=base_url,
            now=now,
            now_dt=now_dt,
        )

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

    def same_api_version(self) -> dict[str, str]:
        """The query that makes a follow-up URL speak the request's api-version, as ARM's
        ``Location``, ``Azure-AsyncOperation`` and ``nextLink`` URLs do."""
        return {"api-version": self.api_version}


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


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """ARM-style PATCH: objects merge recursively, everything else replaces; JSON null means
    "not specified" (ARM ignores it rather than deleting)."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
