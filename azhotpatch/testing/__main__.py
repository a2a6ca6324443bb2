"""Serve the emulator as a process:

    python -m azhotpatch.testing --port 8443 --fleet sample:200 --time-scale 600

Prints one JSON line (endpoint, CA bundle path, subscriptions) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from types import FrameType

from azhotpatch import _validation
from azhotpatch.testing._faults import Faults
from azhotpatch.testing.arm.throttling import Limits
from azhotpatch.testing.emulator import Emulator
from azhotpatch.testing.estate import FleetSpec
from azhotpatch.testing.world.state import Durations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m azhotpatch.testing",
        description="A local HTTPS emulator of Azure Resource Manager for Hotpatch automation.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--fleet", help="e.g. sample:200, clean:10000@20, sample:500@4/40%%arc")
    parser.add_argument(
        "--devices", type=int, default=0, help="generated Windows 11 devices in Intune (Graph)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=60.0,
        help="emulated seconds per wall second (default 60)",
    )
    parser.add_argument(
        "--faults", type=float, default=0.0, help="share of requests hit by injected faults (0..1)"
    )
    parser.add_argument("--no-throttling", action="store_true")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument(
        "--ca-path",
        type=Path,
        default=Path("azhotpatch-emulator-ca.pem"),
        help="where to write the CA bundle clients must trust",
    )
    parser.add_argument(
        "--no-request-log",
        action="store_true",
        help="keep counters only (long runs with millions of requests)",
    )
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="the emulated clock's start, ISO 8601 with a zone (default: now)",
    )
    parser.add_argument(
        "--durations",
        default="",
        help="operation lengths in Azure seconds, e.g. assess=20,install=40 "
        f"(fields: {', '.join(f.name for f in fields(Durations))})",
    )
    return parser.parse_args(argv)


def parse_durations(text: str) -> Durations:
    """``assess=20,install=40`` over the defaults."""
    values: dict[str, float] = {}
    names = {f.name for f in fields(Durations)}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in names:
            raise ValueError(f"unknown duration {name!r}; known: {', '.join(sorted(names))}")
        values[name] = float(value)
    return replace(Durations(), **values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        fleet = FleetSpec.parse(args.fleet, seed=args.seed) if args.fleet else None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        durations = parse_durations(args.durations)
        _validation.output_file(args.ca_path, "--ca-path", "emulator-ca.pem")
    except ValueError as error:  # InvalidArgumentError included
        print(f"error: {error}", file=sys.stderr)
        return 2
    emulator = Emulator(
        fleet=fleet,
        durations=durations,
        seed=args.seed,
        time_scale=args.time_scale,
        faults=Faults.chaos(args.faults, seed=args.seed) if args.faults else None,
        limits=Limits.unlimited() if args.no_throttling else None,
        page_size=args.page_size,
        host=args.host,
        port=args.port,
        ca_path=args.ca_path.resolve(),
        record_requests=not args.no_request_log,
        devices=args.devices or None,
        start=args.start,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with emulator:
        info = {
            "endpoint": emulator.endpoint,
            "graph_endpoint": emulator.graph_endpoint,
            "ca_path": emulator.ca_path,
            "time_scale": args.time_scale,
            "subscriptions": sorted(emulator.world.subscriptions),
            "machines": len(emulator.world.vms) + len(emulator.world.arcs),
            "operation_seconds": emulator.operation_seconds,
        }
        print(json.dumps(info), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
