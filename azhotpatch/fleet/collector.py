"""Python's cyclic garbage collector during a fleet run.

A large run keeps thousands of machines in flight, each a chain of coroutines, SDK requests
and pollers that lives for as long as its operations take: more than a million tracked
objects at once for 10,000 machines. With the collector's default thresholds (a young
collection every 700 allocations) nearly all of them live long enough to reach the oldest
generation, and each full collection walks the whole heap: measured on 10,000 machines,
full collections of over a second every few seconds, a third of the client's CPU. A busy
event loop sends late and answers late, and the run falls behind what Azure allows.

So for the length of a run the first threshold is raised (objects that die within a few
thousand requests' worth of allocations are never promoted) and the objects that exist when
it starts (the plan, the imported SDKs) are frozen out of collections. Both are restored
when the last concurrent run ends. A process that turned the collector off, or set its
first threshold to 0, is left as it is; `RunOptions.tune_collector` turns this off.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

FIRST_THRESHOLD = 20_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def tuned_for_a_run(enabled: bool = True) -> Iterator[None]:
    """Collector settings for a fleet run inside the block (see the module docstring)."""
    if not enabled:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _active, _saved
    with _lock:
        _active += 1
        if _active > 1:
            return
        first, second, third = gc.get_threshold()
        if not gc.isenabled() or first == 0:
            _saved = None
            return
        _saved = (first, second, third)
        gc.freeze()
        gc.set_threshold(max(first, FIRST_THRESHOLD), second, third)


def _leave() -> None:
    global _active, _saved
    with _lock:
        _active -= 1
        if _active > 0 or _saved is None:
            return
        gc.set_threshold(*_saved)
        gc.unfreeze()
        _saved = None
