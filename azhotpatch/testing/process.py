"""The emulator in a process of its own, from Python: for tests and benchmarks whose client
must be killed, or measured, apart from the server (``python -m azhotpatch.testing``)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def emulator_process(
    fleet: str,
    *,
    ca_path: str | Path,
    seed: int = 0,
    time_scale: float = 60.0,
    durations: Mapping[str, float] | None = None,
    request_log: bool = True,
    start: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Serve an emulator with a fresh generated ``fleet`` on an ephemeral port; yields the
    JSON it prints (endpoint, CA bundle path, subscriptions, time scale, operation lengths)
    and stops it on exit. Options are those of ``python -m azhotpatch.testing``."""
    command = [
        sys.executable, "-m", "azhotpatch.testing", "--port", "0", "--fleet", fleet,
        "--seed", str(seed), "--time-scale", str(time_scale), "--ca-path", str(ca_path),
    ]  # fmt: skip
    if durations:
        command += ["--durations", ",".join(f"{k}={v:g}" for k, v in durations.items())]
    if not request_log:
        command.append("--no-request-log")
    if start is not None:
        command += ["--start", start.isoformat()]
    # our own interpreter running our own module, with arguments we built
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        line = process.stdout.readline() if process.stdout is not None else ""
        if not line:
            raise RuntimeError(f"the emulator did not start: {' '.join(command)}")
        yield dict(json.loads(line))
    finally:
        process.terminate()
        process.wait(timeout=30)
