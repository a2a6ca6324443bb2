"""Run coroutines from synchronous code on a private event-loop thread.

The synchronous API drives the same async core as `azhotpatch.aio`; one loop per client keeps
its connection pool and pacer alive between calls, and works where ``asyncio.run`` cannot
(inside notebooks, which already run a loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "azhotpatch") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a synchronous Hotpatch call was made from its own event loop")
        if self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("this Hotpatch client is closed")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
