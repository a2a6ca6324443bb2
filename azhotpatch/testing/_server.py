"""The HTTPS front: aiohttp on loopback with a trustme certificate, on a background thread
(in-process use) or in the foreground (``python -m azhotpatch.testing``).

HTTPS is not optional: azure-core refuses to send bearer tokens over plain HTTP. Besides the
ARM surface (and other services' front doors by path prefix, Microsoft Graph's under
``/graph/``), ``/_emulator/...`` serves the admin API (stats, request log, install history,
ground truth, clock control, the conditions of a real estate; the emulator answers it from one
table, `admin.ROUTES`) so an emulator in another process can be inspected and driven.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from azhotpatch._files import write_atomically
from azhotpatch.testing.arm.dispatch import Dispatcher

AdminHandler = Callable[[str, str, dict[str, Any]], Any]
# (method, raw path, raw query, headers, body, base URL) -> what to answer
Front = Callable[[str, str, str, Any, bytes, str], Any]


@dataclass
class Tls:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca_path: Path
    context: ssl.SSLContext
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def create(cls, ca_path: Path | None = None) -> Tls:
        ca = trustme.CA(organization_name="azhotpatch emulator")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        tmp = None
        if ca_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="azhotpatch-emulator-")
            ca_path = Path(tmp.name) / "ca.pem"
        # whole or not at all, and never through a FIFO, a device or a link at the path
        write_atomically(ca_path, ca.cert_pem.bytes(), argument="ca_path")
        return cls(ca_path=ca_path, context=context, _tmp=tmp)

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class Server:
    """Runs the dispatcher behind aiohttp; ``fronts`` are other services' front doors by
    path prefix (Microsoft Graph's under ``/graph/``)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        admin: AdminHandler,
        *,
        host: str,
        port: int,
        tls: Tls,
        fronts: Mapping[str, Front] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.fronts = dict(fronts or {})
        self.admin = admin
        self.host = host
        self.port = port
        self.tls = tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # --- lifecycle --------------------------------------------------------------------------

    async def start_async(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self.tls.context, backlog=2048
        )
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run_thread, name="azhotpatch-emulator", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the emulator could not start: {self._error}") from self._error

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.start_async())
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.stop_async())
            loop.close()

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    # --- requests ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if path.startswith("/_emulator/"):
            return await self._admin(request)
        body = await request.read()
        handle = next(
            (f for prefix, f in self.fronts.items() if path.startswith(prefix)),
            self.dispatcher.handle,
        )
        outcome = handle(
            request.method,
            path,
            request.rel_url.raw_query_string,
            request.headers,
            body,
            self.base_url,
        )
        if outcome.drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)  # never written: the connection is gone
        return web.Response(status=outcome.status, body=outcome.body, headers=outcome.headers)

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            payload = json.loads(body) if body else {}
            result = self.admin(request.method, request.path[len("/_emulator/") :], payload)
        except KeyError as error:
            return web.json_response({"error": f"unknown admin endpoint {error}"}, status=404)
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(result, dumps=lambda o: json.dumps(o, default=str))
