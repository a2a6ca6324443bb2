"""What the HTTP transport may send again on its own, and what it may not.

aiohttp sends an idempotent request (GET, PUT, DELETE) once more by itself when a kept-alive
connection drops, as HTTP allows. For a PUT that runs something (an Arc run command: PUT is
"create or update", and an update runs its script again) that resend is a second run, sent
blindly: inside `sent_once` the transport does not resend, the failure reaches the caller,
and the caller asks Azure what it received (see `azhotpatch._operations.arc_remediation`). Every
client session carries `no_blind_resend` (see `session.http_session`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator

import aiohttp

__all__ = ["NotResentError", "no_blind_resend", "sent_once"]

_sent_once: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "azhotpatch_sent_once", default=False
)


@contextlib.contextmanager
def sent_once() -> Iterator[None]:
    """Requests sent inside the block (in this task) are sent at most once by the HTTP
    transport: a connection that drops after sending ends the request with an error instead
    of aiohttp sending it again, so the caller can ask Azure what it received."""
    token = _sent_once.set(True)
    try:
        yield
    finally:
        _sent_once.reset(token)


class NotResentError(aiohttp.ClientConnectionError):
    """The connection failed after the request may have been sent, inside `sent_once`."""


async def no_blind_resend(
    request: aiohttp.ClientRequest,
    handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
) -> aiohttp.ClientResponse:
    """aiohttp middleware: inside `sent_once`, a dropped connection is not answered by
    sending the request again (aiohttp does so for idempotent methods, PUT included); a
    failure to connect, which proves nothing was sent, is left as it is."""
    try:
        return await handler(request)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
        if _sent_once.get():
            raise NotResentError(f"{error} (not sent again)") from error
        raise
