"""ARM list paging: ``{"value": [...], "nextLink": ...}`` with an opaque ``$skiptoken``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import Request, Response

T = TypeVar("T")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o":
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is not valid.") from None


def page(request: Request, items: Sequence[T], render: Callable[[T], Any], size: int) -> Response:
    """One page of ``items`` starting at the request's ``$skiptoken``; ``nextLink`` repeats
    the request's path and api-version, as ARM's do."""
    start = _offset(request.query["$skiptoken"]) if "$skiptoken" in request.query else 0
    chunk = items[start : start + size]
    body: dict[str, Any] = {"value": [render(item) for item in chunk]}
    if start + size < len(items):
        body["nextLink"] = request.url(
            request.path,
            **request.same_api_version(),
            **{"$skiptoken": _token(start + size)},
        )
    return Response(200, body)
