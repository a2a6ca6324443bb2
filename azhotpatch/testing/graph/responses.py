"""Azure Resource Graph on the wire: ``POST /providers/Microsoft.ResourceGraph/resources``.

Paging as documented: ``$top`` (1-1000), ``$skip``, and ``$skipToken``. Like ARG, a query that
does not project ``id`` cannot be paged: it comes back with ``resultTruncated: "true"`` and no
``$skipToken``. A bad query is a 400 with ``InvalidQuery``/``ParserFailure`` details. (The
quota headers and 429 are ARM's front door's, in the dispatcher.)
"""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import Request, Response
from azhotpatch.testing.graph.models import GraphBackend, Row

_MAX_TOP = 1000


class GraphResponses:
    """The handler of Resource Graph's route table."""

    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend

    def resources(self, request: Request) -> Response:
        body = request.json_object()
        options = body.get("options") or {}
        top = _top(options)
        if options.get("$skipToken"):
            rows, offset = self.backend.resume(str(options["$skipToken"]))
        else:
            query = body.get("query")
            scope = self.backend.scope(body.get("subscriptions"), body.get("managementGroups"))
            rows = self.backend.query(query, scope, request.principal)
            offset = _int_option(options, "$skip", 0)
        chunk = rows[offset : offset + top]
        more = offset + top < len(rows)
        pageable = not chunk or all("id" in row for row in chunk)
        result: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(chunk),
            "data": _format(chunk, str(options.get("resultFormat") or "objectArray")),
            "facets": [],
            "resultTruncated": "true" if more and not pageable else "false",
        }
        if more and pageable:
            result["$skipToken"] = self.backend.skip_token(rows, offset + top)
        return Response(200, result)


def _top(options: dict[str, Any]) -> int:
    top = _int_option(options, "$top", 100)
    if not 1 <= top <= _MAX_TOP:
        raise ArmError(
            400,
            "BadRequest",
            f"The $top value {top} is out of range; it must be between 1 and {_MAX_TOP}.",
            details=[{"code": "InvalidTop", "message": f"$top must be 1..{_MAX_TOP}."}],
        )
    return top


def _int_option(options: dict[str, Any], name: str, default: int) -> int:
    value = options.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArmError(400, "BadRequest", f"The option {name} must be a non-negative integer.")
    return value


def _format(rows: list[Row], result_format: str) -> Any:
    if result_format.lower() != "table":
        return rows
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    return {
        "columns": [{"name": c, "type": "object"} for c in columns],
        "rows": [[row.get(c) for c in columns] for row in rows],
    }
