"""Render ``docs/performance.md`` and its charts (``docs/img/perf-*.svg``) from a committed
results file, so the page's figures and pictures are that file's and nothing else:
``python benchmarks/summary.py benchmarks/results/X.json``. A test re-renders the page and
the charts from the file the page names and compares.

The charts are hand-written SVG (``azhotpatch._svg``, shared with the HTML run report): a
plotting library would add tens of megabytes and seconds of import for two bar charts.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from azhotpatch._svg import Bar, Line, bar_chart, line_chart

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "performance.md"
IMAGES = PAGE.parent / "img"
CEILING = ["scenario", "machines", "run (Azure s)", "ideal (Azure s)", "ratio", "binding bucket"]
COST = [
    "scenario", "CPU s / 1k machines", "CPU ms / request", "cores to run at the ideal",
    "peak RSS MB", "requests / machine", "429s (client / emulator)", "outcomes",
]  # fmt: skip
NAIVE = ["scenario", "azhotpatch", "sequential loop", "speedup", "32 threads", "speedup"]
SCALE = ["machines", "wall s", "CPU s", "peak RSS MB"]


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cores_at_ideal(scenario: dict[str, Any]) -> float:
    """The client's CPU seconds over the ideal run's wall seconds: above 1, one Python
    process cannot keep up with what Azure's buckets allow."""
    ideal_wall = scenario["ideal_azure_seconds"] / scenario["time_scale"]
    return float(scenario["client_cpu_seconds"]) / ideal_wall


def _outcomes(scenario: dict[str, Any]) -> str:
    """The outcome counts, and for full flows how many machines' outcomes or reasons differ
    from the emulator's ground truth."""
    counts = ", ".join(f"{v} {k}" for k, v in sorted(scenario["counts"].items()))
    mismatches = scenario.get("truth_mismatches")
    return counts if mismatches is None else f"{counts}; {mismatches} off the ground truth"


def durations_text(durations: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g} s" for k, v in durations.items())


def _naive_seconds(results: dict[str, Any], scenario: dict[str, Any]) -> tuple[float, float]:
    """The raw-SDK loops' Azure seconds scaled to a scenario's fleet: sequential (per
    machine) and a 32-thread pool (per wave of 32)."""
    base = results["baselines"]
    machines = scenario["machines"]
    sequential = base["sequential"]["azure_seconds_per_machine"] * machines
    pooled = base["threads32"]["azure_seconds_per_wave_of_32"] * math.ceil(machines / 32)
    return sequential, pooled


def _compared(scenario: dict[str, Any]) -> bool:
    """The loops were measured on eligible machines taken through the whole flow."""
    full_flow = scenario["actions"] == ["enable", "assess", "install"]
    return full_flow and str(scenario["fleet"]).startswith("clean:")


def tables(results: dict[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The page's tables (header, rows), shared with the terminal output of a run."""
    scenarios = results["scenarios"]
    ceiling_rows = [
        [
            r["scenario"],
            f"{r['machines']:,}",
            f"{r['run_azure_seconds']:.0f}",
            f"{r['ideal_azure_seconds']:.0f}",
            f"{r['ceiling_ratio']:.2f}",
            r["binding_bucket"],
        ]
        for r in scenarios
    ]
    cost_rows = [
        [
            r["scenario"],
            f"{r['client_cpu_seconds_per_1k_machines']:.1f}",
            f"{1000 * r['client_cpu_seconds'] / r['requests']:.2f}",
            f"{_cores_at_ideal(r):.2f}",
            f"{r['client_peak_rss_mb']:.0f}",
            f"{r['requests_per_machine']:.1f}",
            f"{r['throttled_seen_by_client']} / {sum(r['throttled_by_emulator'].values())}",
            _outcomes(r),
        ]
        for r in scenarios
    ]
    naive_rows = []
    for r in filter(_compared, scenarios):
        sequential, pooled = _naive_seconds(results, r)
        ours = r["run_azure_seconds"]
        naive_rows.append(
            [
                r["scenario"],
                _span(ours),
                _span(sequential),
                f"{sequential / ours:,.0f}x",
                _span(pooled),
                f"{pooled / ours:.1f}x",
            ]
        )
    scale_rows = [
        [
            f"{r['machines']:,}",
            f"{r['inventory_and_plan_wall_seconds']:.1f}",
            f"{r['client_cpu_seconds']:.1f}",
            f"{r['client_peak_rss_mb']:.0f}",
        ]
        for r in results["scale"]
    ]
    return {
        "ceiling": (CEILING, ceiling_rows),
        "cost": (COST, cost_rows),
        "naive": (NAIVE, naive_rows),
        "scale": (SCALE, scale_rows),
    }


# --- charts -------------------------------------------------------------------------------

RUN_COLOR = "#1565c0"
IDEAL_COLOR = "#9e9e9e"
THREADS_COLOR = "#ef6c00"
SEQUENTIAL_COLOR = "#c62828"


def _ceiling_groups(results: dict[str, Any]) -> list[tuple[str, list[Bar]]]:
    """Per scenario, the run's length and the ideal's: how close it came to the ceiling."""
    return [
        (
            r["scenario"],
            [
                Bar("azhotpatch", r["run_azure_seconds"], RUN_COLOR,
                    f"{r['run_azure_seconds']:.0f} s, ratio {r['ceiling_ratio']:.2f}"),
                Bar("ceiling (ideal)", r["ideal_azure_seconds"], IDEAL_COLOR,
                    f"{r['ideal_azure_seconds']:.0f} s"),
            ],
        )
        for r in results["scenarios"]
    ]  # fmt: skip


def _naive_groups(results: dict[str, Any]) -> list[tuple[str, list[Bar]]]:
    """Per compared scenario, the engine, the 32-thread pool and the sequential loop, fastest
    first (the loops scaled to the fleet as in the page's table)."""
    groups = []
    for r in filter(_compared, results["scenarios"]):
        sequential, pooled = _naive_seconds(results, r)
        ours = r["run_azure_seconds"]
        bars = [
            Bar("azhotpatch", ours, RUN_COLOR, _span(ours)),
            Bar("32 threads", pooled, THREADS_COLOR, _span(pooled)),
            Bar("sequential loop", sequential, SEQUENTIAL_COLOR, _span(sequential)),
        ]
        groups.append((r["scenario"], bars))
    return groups


def timeline_scenario(results: dict[str, Any]) -> dict[str, Any] | None:
    """The scenario whose course the page draws: the first full flow that recorded one."""
    return next(
        (r for r in results["scenarios"] if r.get("timeline") and "full flow" in r["scenario"]),
        None,
    )


def bucket_label(name: str) -> str:
    """A traffic bucket's name as a reader says it: ``arm/<sub>/writes`` is ARM writes of
    that subscription; Compute's buckets name their policy and region."""
    parts = name.split("/")
    if parts[0] == "arm" and len(parts) == 3:
        return f"ARM {parts[2]}, subscription {parts[1][:8]}"
    if parts[0] == "compute" and len(parts) == 4:
        return f"Compute {parts[1]}, subscription {parts[2][:8]}, {parts[3]}"
    return name


def _timeline_chart(scenario: dict[str, Any]) -> str:
    """Requests per Azure second in the bucket the run used most, bin by bin, against the
    rate the bucket refills at: a run at the ceiling sits on the dashed line after the
    burst, and never above it for long (the burst is spent first)."""
    course = scenario["timeline"]
    rate = course["refill_per_azure_second"]
    sent = [(at, requests / width) for at, width, requests, _ in course["bins"]]
    end = max(at + width for at, width, _, _ in course["bins"])
    marks = [at for at, _, _, throttled in course["bins"] if throttled]
    return line_chart(
        [
            Line("requests / s sent", [*sent, (end, 0.0)], RUN_COLOR),
            Line("ceiling: the bucket's refill rate", [(0.0, rate), (end, rate)], IDEAL_COLOR,
                 dashed=True, steps=False),
        ],
        title=f"{scenario['scenario']}: {bucket_label(course['bucket'])}",
        x_label="Azure seconds into the run",
        y_label="requests / s",
        x_max=end,
        y_max=rate * 1.2,
        marks=marks,
        mark_label="429",
    )  # fmt: skip


def charts(results: dict[str, Any]) -> dict[str, str]:
    """The page's pictures as SVG text, by file name under ``docs/img/``: each run against
    its ceiling, the engine against the raw-SDK loops, and (in results that keep it) one
    run's course against its busiest bucket's refill rate."""
    ceiling = bar_chart(
        _ceiling_groups(results),
        title="Each run against the fastest Azure's throttling limits allow",
        x_label="Azure seconds (shorter is faster; the grey bar is the ceiling)",
        note_width=130,
    )
    naive = bar_chart(
        _naive_groups(results),
        title="azhotpatch against raw-SDK loops, full flow",
        x_label="Azure seconds, logarithmic scale (shorter is faster)",
        log=True,
    )
    drawn = {"perf-ceiling.svg": ceiling + "\n", "perf-naive.svg": naive + "\n"}
    course = timeline_scenario(results)
    if course is not None:
        drawn["perf-timeline.svg"] = _timeline_chart(course) + "\n"
    return drawn


def _timeline_section(results: dict[str, Any]) -> str:
    scenario = timeline_scenario(results)
    if scenario is None:  # results recorded before runs kept their course
        return (
            "\nThese results keep each run's totals, not its course over time. A run's own "
            "course is in its HTML report: `azhotpatch run --html`.\n"
        )
    course = scenario["timeline"]
    alt = f"{scenario['scenario']}: requests per second in its busiest bucket against its refill"
    return f"""
One run second by second: {scenario["scenario"]}, in the bucket it used most against what
that bucket refills ({bucket_label(course["bucket"])}: a burst of {course["burst"]:.0f}, then
{course["refill_per_azure_second"]:.3g} requests a second). After the burst the run sends at
the refill rate and no faster; red ticks on the axis would mark 429s. Any run's own course
(machines concluded, requests per bucket) is in its HTML report: `azhotpatch run --html`.

![{alt}](img/perf-timeline.svg)
"""


def render(results: dict[str, Any], source: str) -> str:
    machine = results["machine"]
    durations = durations_text(results["durations_azure_seconds"])
    base = results["baselines"]
    made = tables(results)
    return f"""# Performance

How fast the fleet engine takes machines through enable, assess and install, measured
against the emulator with Azure's documented throttling limits on both sides. Every figure
and chart on this page is rendered from the committed results file `{source}` by
`benchmarks/summary.py`; a test fails if they disagree.

Ran on {machine["cpus"]} CPUs ({machine["cpu"]}), {machine["memory_gib"]} GiB, Python
{machine["python"]}, azhotpatch {machine["azhotpatch"]} at commit `{machine["commit"]}`, in
{results["total_wall_seconds"]:.0f} s of wall time ({results["mode"]} mode). The emulator and
the client run as separate processes on that machine. Operation lengths are shortened so a
run fits in minutes ({durations}); times are in Azure seconds (wall seconds x the emulator's
time scale).

## Reproduce

```
nox -s bench              # everything below, under 10 minutes on 2 cores
nox -s bench -- --quick   # smaller fleets, under 2 minutes
python benchmarks/summary.py benchmarks/results/<file>.json   # re-render this page and its charts
```

## Ceiling ratio

The ceiling is the fastest any client could go: `{results["formula"]}`, where `n` counts only
the writes and Compute policy calls the plan requires and `d_tail` is the shortest final
operation. Reads are not counted, which can only lower the bound: the ratio is strict, and
where reads bind (assess-only runs) no engine reaches 1.0. Nor where Arc machines are enrolled
last: the ideal ends on the shortest final operation (a license write), but an Arc
enrollment ends on the machine's own verdict (arc_enablement), which a client learns of
from Resource Graph sweeps every 10 s.

"Mixed" fleets hold VMs and Arc machines, all eligible. The sample estate is the emulator's
realistic mix: ineligible machines (Linux, unsupported images, regions without the image,
deallocated VMs, disconnected Arc servers) are skipped, and some fail (VM agents not ready,
Arc servers that report VBS off once enrolled). In `n`, an enrollment counts only the
writes for what the plan says will change (none for a machine already enrolled), and a
machine the ground truth says fails only its enrollment: the writes any client makes before
it can know. "Off the ground truth" counts machines whose outcome, or the rule their reason names,
differs from what the emulator's ground truth says.

{_table(*made["ceiling"])}

![Each scenario's run next to its ceiling, in Azure seconds](img/perf-ceiling.svg)
{_timeline_section(results)}
## Client cost

{_table(*made["cost"])}

"Cores to run at the ideal" is the client's CPU time over the ideal run's wall time. The
engine is one Python process, so it can use one core: where that figure nears 1, the
client's own CPU (the azure-mgmt SDK's pipeline, TLS and parsing, a millisecond or two per
request) would bound the run before Azure's buckets do. Two things keep a busy client from
losing more than its CPU. The pacer refills a bucket only into room that requests still in
flight cannot take, so requests that leave late and reach Azure bunched together are not
throttled. And for the length of a run Python's garbage collector runs rarely
(`azhotpatch.fleet.collector`): with its default settings, full collections of a
10k-machine run's heap took a third of the client's CPU, in pauses of over a second.

## Against what users write today

The raw azure-mgmt SDK, `begin_*().result()` per machine with the SDK's default retries and
30 s polling: a sequential loop and a pool of 32 threads. Measured on
{base["sequential"]["machines"]} and {base["threads32"]["machines"]} machines at time scale
{base["time_scale"]:g} and scaled linearly to each fleet (per machine; per wave of 32 — the
pool stays far below Azure's limits, so nothing else bounds it).

{_table(*made["naive"])}

![azhotpatch, a 32-thread pool and a sequential loop; Azure seconds, log scale](img/perf-naive.svg)

## Scale: inventory and plan

Resource Graph inventory plus the plan (eligibility, steps, cost, calendar), no actions.

{_table(*made["scale"])}
"""


def main() -> None:
    source = Path(sys.argv[1]).resolve()
    results = json.loads(source.read_text(encoding="utf-8"))
    IMAGES.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(results, source.relative_to(ROOT).as_posix()), encoding="utf-8")
    for name, svg in charts(results).items():
        (IMAGES / name).write_text(svg, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)} and its charts from {source.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
