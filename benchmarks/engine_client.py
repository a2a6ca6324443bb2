"""One measured run of the fleet engine, in its own process so that its CPU time and peak
memory are the client's alone: ``python benchmarks/engine_client.py INFO ACTIONS [--plan-only]``.

INFO is the JSON line the emulator process printed. Prints one JSON object: plan and run
wall seconds, CPU seconds, peak RSS, requests and 429s as the client saw them, outcome
counts, each machine's outcome and its reason's code (for the emulator's ground truth),
and the plan's steps with their machines (for the ceiling).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from ceiling import enrollment_writes

from azhotpatch.aio import Hotpatch
from azhotpatch.fleet._timeline import Timeline
from azhotpatch.models import Action
from azhotpatch.testing import AsyncEmulatorCredential


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def busiest_bucket(timeline: Timeline | None, scale: float) -> dict[str, Any] | None:
    """The run's course in the bucket it used most against what the bucket refills (in
    Azure seconds): requests per second in each bin, the refill rate and the burst, the
    429s, and when each machine concluded. The page's timeline chart draws it."""
    if timeline is None or not timeline.traffic:
        return None
    totals: dict[str, int] = {}
    for row in timeline.traffic:
        totals[row.bucket] = totals.get(row.bucket, 0) + row.requests
    name = max(totals, key=lambda b: totals[b] / timeline.ceilings[b].per_minute)
    ceiling = timeline.ceilings[name]
    start = timeline.started
    rows = [r for r in timeline.traffic if r.bucket == name]
    return {
        "bucket": name,
        "refill_per_azure_second": ceiling.per_second / scale,
        "burst": ceiling.capacity,
        "bins": [[(r.at - start) * scale, r.width * scale, r.requests, r.throttled] for r in rows],
        "finished_azure_seconds": sorted((t - start) * scale for t in timeline.finished.values()),
    }


async def measure(info: dict[str, Any], actions: list[str], plan_only: bool) -> dict[str, Any]:
    scale = float(info["time_scale"])
    async with Hotpatch(
        AsyncEmulatorCredential(),
        endpoint=info["endpoint"],
        connection_verify=info["ca_path"],
        polling_interval=30.0 / scale,
        time_scale=scale,
        operation_seconds=info["operation_seconds"],
    ) as client:
        began, cpu = time.monotonic(), time.process_time()
        plan = await client.plan(subscriptions=info["subscriptions"], actions=actions)
        plan_seconds = time.monotonic() - began
        out: dict[str, Any] = {
            "machines": len(plan.items),
            "plan_seconds": plan_seconds,
        }
        if not plan_only:  # the plan's steps, for the ceiling (kept out of plan-only memory)
            out["steps"] = [
                [
                    item.resource.lower(),
                    item.machine.subscription_id.lower(),
                    item.machine.location.lower(),
                    item.machine.kind.value.lower(),
                    step.value,
                    enrollment_writes(item.machine.kind.value.lower(), len(item.changes))
                    if step is Action.ENABLE
                    else None,
                ]
                for item in plan.items
                if not item.skipped
                for step in item.steps
            ]
            began = time.monotonic()
            report = await client.run(plan)
            out["run_seconds"] = time.monotonic() - began
            out["counts"] = dict(report.counts)
            out["outcomes"] = {
                m.resource.lower(): [m.outcome.value, m.code] for m in report.machines
            }
            out["requests"] = report.requests
            out["throttled"] = report.throttled
            out["timeline"] = busiest_bucket(report.timeline, scale)
        out["cpu_seconds"] = time.process_time() - cpu
        out["peak_rss_mb"] = peak_rss_mb()
        return out


def main() -> None:
    info = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    actions = sys.argv[2].split(",")
    result = asyncio.run(measure(info, actions, "--plan-only" in sys.argv[3:]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
