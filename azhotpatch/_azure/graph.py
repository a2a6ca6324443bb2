"""Azure Resource Graph queries: paged with $skipToken, batched by subscription, streamed.

ARG answers at most 1,000 rows per page and recommends fewer than ~300 subscriptions per
query; pages are fetched one after another (each reuses the query and scope with the token)
and rows are yielded as they arrive, so memory holds one page, not the whole estate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session

MAX_PAGE = 1000
SUBSCRIPTIONS_PER_QUERY = 300


def batches(subscriptions: Sequence[str], size: int = SUBSCRIPTIONS_PER_QUERY) -> list[list[str]]:
    return [list(subscriptions[i : i + size]) for i in range(0, len(subscriptions), size)]


async def rows(
    session: Session,
    query: str,
    *,
    subscriptions: Sequence[str] | None = None,
    management_groups: Sequence[str] | None = None,
    page_size: int = MAX_PAGE,
    deadline: Deadline | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every row of ``query`` over the scope (all visible subscriptions when none is given)."""
    scopes: list[tuple[list[str] | None, list[str] | None]]
    if management_groups:
        scopes = [(None, list(management_groups))]
    elif subscriptions:
        scopes = [(batch, None) for batch in batches(subscriptions)]
    else:
        scopes = [(None, None)]
    client = session.graph()
    for subs, groups in scopes:
        token: str | None = None
        while True:
            request = QueryRequest(
                query=query,
                subscriptions=subs,
                management_groups=groups,
                options=QueryRequestOptions(
                    top=page_size, skip_token=token, result_format="objectArray"
                ),
            )

            async def fetch(request: QueryRequest = request) -> Any:
                return await client.resources(request)

            page = await session.call(
                fetch, resource="Resource Graph", doing="querying Resource Graph", deadline=deadline
            )
            for row in page.data or ():
                yield row
            token = page.skip_token
            if not token:
                break
