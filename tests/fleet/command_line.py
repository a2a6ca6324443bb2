"""A fleet run through the command line, in its own process, against an emulator this test
process serves: what scripts see (exit code, JSON report)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

from azhotpatch.testing import Emulator


def run_fleet(
    emu: Emulator, subscriptions: Iterable[str], *extra: str, timeout: float = 300
) -> tuple[int, dict[str, Any], str]:
    """``azhotpatch run`` over the subscriptions, with ``extra`` options: (exit code, the
    JSON report, stderr)."""
    command = [
        sys.executable,
        "-m",
        "azhotpatch",
        "--emulator-url",
        emu.endpoint,
        "--ca-bundle",
        emu.ca_path,
        "--output",
        "json",
        "run",
        *extra,
    ]
    for sub in subscriptions:
        command += ["--subscription", sub]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    report: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr
