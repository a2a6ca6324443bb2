"""Headless Chromium driven over the DevTools protocol, for tests that open a page as a person
would: Debian's ``chromium`` package, no browser downloaded at run time.

The protocol is JSON over a WebSocket, which aiohttp (already a dependency of the library)
speaks, so the tests need no driver binary and no new package; and it reports every network
request the page makes, which is what a test of a page that must make none needs to see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

# A closed network: nothing in the background (updates, sync, safe browsing) may call out.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--remote-debugging-port=0",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def browser_path() -> str | None:
    """The browser to use: ``AZHOTPATCH_CHROMIUM``, else the first of the usual names."""
    chosen = os.environ.get("AZHOTPATCH_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def require_browser() -> str:
    found = browser_path()
    if found is None:
        pytest.skip(
            "no headless browser here: install Debian's chromium package "
            "(apt-get install -y chromium), which .ci/run does, or point AZHOTPATCH_CHROMIUM "
            "at a Chromium binary"
        )
    return found


@dataclass
class Page:
    """One tab: commands, and what the page did (requests, script errors)."""

    socket: aiohttp.ClientWebSocketResponse
    session: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _loaded: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        message = {"id": number, "method": method, "params": params, "sessionId": self.session}
        await self.socket.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    def receive(self, message: dict[str, Any]) -> None:
        if "id" in message and message["id"] in self._waiting:
            future = self._waiting.pop(message["id"])
            if "error" in message:
                future.set_exception(RuntimeError(f"{message['error']}"))
            else:
                future.set_result(message.get("result", {}))
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def open(self, url: str) -> float:
        """Navigate and wait for the load event (a hang guard bounds the wait); wall seconds
        it took."""
        self._loaded.clear()
        began = time.monotonic()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), 30)
        return time.monotonic() - began

    async def cpu_seconds(self) -> float:
        """CPU seconds the tab's renderer process has used so far (DevTools' ProcessTime):
        the page's work, which, unlike the wall clock, a busy machine does not stretch."""
        found = await self.send("Performance.getMetrics")
        metrics = {m["name"]: m["value"] for m in found["metrics"]}
        return float(metrics["ProcessTime"])

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view first)."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field and type, as a keyboard would."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def screenshot(self) -> bytes:
        """The whole page as PNG (to look at while working on it)."""
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def chromium(binary: str) -> AsyncIterator[Page]:
    """A fresh headless browser (its own profile) with one tab, closed afterwards. The
    browser runs in a process group of its own, and the whole group is stopped before the
    profile is removed: its helper processes outlive the main one by a moment, writing to
    the profile as it is deleted (a busy machine makes that moment longer)."""
    with tempfile.TemporaryDirectory(
        prefix="azhotpatch-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            endpoint = await _endpoint(Path(profile), process)
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(endpoint, max_msg_size=0) as socket,
            ):
                page, reader = await _tab(socket)
                try:
                    yield page
                finally:
                    reader.cancel()
        finally:
            await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """The browser and every process it started, stopped and waited for."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
    _signal_group(process.pid, signal.SIGKILL)  # helpers that outlived it


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


async def _endpoint(profile: Path, process: asyncio.subprocess.Process) -> str:
    """The browser's DevTools WebSocket, from the file it writes once it listens."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the browser exited with {process.returncode}")
        lines = port_file.read_text().split() if port_file.exists() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    raise RuntimeError("the browser did not open its DevTools port within 30 s")


async def _tab(socket: aiohttp.ClientWebSocketResponse) -> tuple[Page, asyncio.Task[None]]:
    """A new tab, attached, with network, page and runtime events and performance metrics
    on; and the task that reads the socket for it."""
    pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
    page: Page | None = None

    async def pump() -> None:
        async for message in socket:
            data = json.loads(message.data)
            if page is not None and data.get("sessionId") == page.session:
                page.receive(data)
            elif data.get("id") in pending:
                pending.pop(data["id"]).set_result(data.get("result", {}))

    async def browser(number: int, method: str, **params: Any) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        pending[number] = future
        await socket.send_str(json.dumps({"id": number, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    reader = asyncio.create_task(pump())
    target = await browser(1, "Target.createTarget", url="about:blank")
    attached = await browser(2, "Target.attachToTarget", targetId=target["targetId"], flatten=True)
    page = Page(socket, attached["sessionId"])
    for domain in ("Network", "Page", "Runtime", "Performance"):
        await page.send(f"{domain}.enable")
    await page.send(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=1000,
        deviceScaleFactor=1,
        mobile=False,
    )
    return page, reader
