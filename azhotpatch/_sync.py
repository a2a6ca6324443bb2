"""Run coroutines from synchronous code on a private event-loop thread.

The synchronous API drives the same async core as `azhotpatch.aio`; one loop per client keeps
its connection pool and pacer alive between calls, and works where ``asyncio.run`` cannot
(inside notebooks, which already run a loop).

An interruption of the calling thread (Ctrl-C, or SIGTERM as the command line handles it)
cancels the coroutine and waits for it to unwind before the interruption goes on: a fleet
run then starts no more machines and writes its record, and nothing is left pending on the
loop to be reported as destroyed when the loop closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# How long an interrupted call may take to unwind (cancelling waits, writing the journal's
# record) before the interruption goes on regardless.
UNWIND_SECONDS = 30.0
_WAKE_EVERY = 0.1  # seconds between the calling thread's looks at signals while it waits


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
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self._loop.create_task(coroutine)
            tasks.append(task)
            task.add_done_callback(lambda done: _settle(done, outcome))

        self._loop.call_soon_threadsafe(start)
        try:
            return _result(outcome)
        except BaseException:
            if not outcome.done():  # interrupted here: stop the coroutine, let it unwind
                self._loop.call_soon_threadsafe(_cancel, tasks)
                _unwound(outcome, UNWIND_SECONDS)
            raise

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(_wind_down(), self._loop)
            # closed regardless after that: what is still pending is the loop's to drop
            with contextlib.suppress(
                concurrent.futures.TimeoutError, concurrent.futures.CancelledError
            ):
                future.result(timeout=UNWIND_SECONDS)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()


def _result(outcome: concurrent.futures.Future[T]) -> T:
    """The outcome, waited for in short spells. A signal the kernel hands to another
    thread (the loop's, a resolver's) only sets a flag the main thread reads when it wakes:
    a wait without a timeout would leave SIGINT or SIGTERM unhandled until the call ended
    by itself."""
    while True:
        try:
            return outcome.result(timeout=_WAKE_EVERY)
        except concurrent.futures.TimeoutError:
            continue


def _unwound(outcome: concurrent.futures.Future[T], seconds: float) -> None:
    """Wait up to ``seconds`` for a cancelled call to unwind, in short spells too (a second
    signal must reach its handler meanwhile)."""
    end = time.monotonic() + seconds
    while not outcome.done() and time.monotonic() < end:
        concurrent.futures.wait([outcome], timeout=_WAKE_EVERY)


def _cancel(tasks: list[asyncio.Task[T]]) -> None:
    for task in tasks:
        task.cancel()


def _settle(task: asyncio.Task[T], outcome: concurrent.futures.Future[T]) -> None:
    """Hand a finished task's result (or exception, or cancellation) to the caller."""
    if task.cancelled():
        outcome.cancel()
        outcome.set_running_or_notify_cancel()  # wakes `concurrent.futures.wait` too
    elif (error := task.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


async def _wind_down() -> None:
    """Cancel whatever is still pending on the loop and wait for it (and for async
    generators) to finish, as ``asyncio.run`` does before it closes a loop."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
