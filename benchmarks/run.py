"""Fleet-engine benchmarks against the emulator: ``nox -s bench`` (``-- --quick`` for a short
run). Prints one table per concern and writes every figure, with the machine it ran on, to
``benchmarks/results/<UTC time>-<full|quick>.json``.

Each measurement runs the emulator and the client in separate processes on this machine,
with Azure's documented throttling limits and operation lengths shortened to the
``DURATIONS`` below so that a run fits in minutes. Times are reported in Azure seconds
(wall seconds x the emulator's time scale), the unit the limits are stated in.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling import FORMULA, Step, ceiling, final_step_seconds, reachable
from summary import durations_text, tables

from azhotpatch import __version__
from azhotpatch.limits import ThrottleLimits
from azhotpatch.testing import emulator_process

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DURATIONS = {
    "vm_update": 5.0,
    "assess": 20.0,
    "install": 40.0,
    "license_profile": 5.0,
    "arc_enablement": 30.0,
}
FULL = ("enable", "assess", "install")
console = Console(width=170)


@dataclass(frozen=True)
class Scenario:
    name: str
    fleet: str  # the emulator's --fleet: <clean|sample>:<machines>@<subscriptions>[/<n>%arc]
    actions: tuple[str, ...]
    time_scale: float

    @property
    def machines(self) -> int:
        return int(self.fleet.split(":")[1].split("@")[0])


FULL_SCENARIOS = (
    Scenario("full flow, 10k mixed, 20 subscriptions", "clean:10000@20", FULL, 1.0),
    Scenario("full flow, 10k sample estate, 20 subscriptions", "sample:10000@20", FULL, 1.0),
    Scenario("full flow, 1k mixed, 2 subscriptions", "clean:1000@2", FULL, 5.0),
    Scenario("full flow, 500 VMs only, 1 subscription", "clean:500@1/0%arc", FULL, 8.0),
    Scenario("enable only, 500 mixed, 1 subscription", "clean:500@1", ("enable",), 8.0),
    Scenario("assess only, 500 mixed, 1 subscription", "clean:500@1", ("assess",), 8.0),
    Scenario("install only, 500 mixed, 1 subscription", "clean:500@1", ("install",), 8.0),
)
QUICK_SCENARIOS = (
    Scenario("full flow, 1k mixed, 2 subscriptions", "clean:1000@2", FULL, 5.0),
    Scenario("assess only, 500 VMs only, 1 subscription", "clean:500@1/0%arc", ("assess",), 5.0),
)
FULL_SCALES = (1_000, 10_000, 100_000)
QUICK_SCALES = (1_000, 10_000)
BASELINE_SCALE = 60.0  # the baselines' emulator runs fast: they are slow by design


# --- processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def emulator(fleet: str, time_scale: float, workdir: Path) -> Iterator[dict[str, Any]]:
    """An emulator process with a fresh world; yields what it printed, plus the path of a
    file holding it, for the client processes."""
    with emulator_process(
        fleet,
        ca_path=workdir / "ca.pem",
        seed=1,
        time_scale=time_scale,
        durations=DURATIONS,
        request_log=False,
    ) as info:
        path = workdir / "emulator.json"
        path.write_text(json.dumps(info), encoding="utf-8")
        yield {**info, "info_path": str(path)}


def emulator_get(info: dict[str, Any], what: str) -> dict[str, Any]:
    """One of the emulator's observability documents (``stats``, ``truth``)."""
    context = ssl.create_default_context(cafile=info["ca_path"])
    url = info["endpoint"].rstrip("/") + "/_emulator/" + what
    with urllib.request.urlopen(url, context=context, timeout=60) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def truth_mismatches(outcomes: dict[str, list[str | None]], truth: dict[str, Any]) -> int:
    """Machines whose outcome differs from what the emulator's ground truth says a full
    enable, assess and install run must conclude, or whose reason names a rule the truth does
    not expect: a skip must name a blocker the inventory shows, a failure one of the
    machine's blockers where it has any. Machines missing from the run count too."""

    def wrong(key: str, machine: dict[str, Any]) -> bool:
        outcome, code = outcomes.get(key, (None, None))
        if outcome != machine["full_run_outcome"]:
            return True
        if outcome == "skipped":
            return code not in machine["inventory_blockers"]
        return outcome == "failed" and bool(machine["blockers"]) and code not in machine["blockers"]

    return sum(wrong(key, machine) for key, machine in truth.items())


def client(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- measurements --------------------------------------------------------------------------


def engine(scenario: Scenario, workdir: Path) -> dict[str, Any]:
    with emulator(scenario.fleet, scenario.time_scale, workdir) as info:
        measured = client("engine_client.py", info["info_path"], ",".join(scenario.actions))
        server = emulator_get(info, "stats")
        outcomes = measured.pop("outcomes")
        truth = emulator_get(info, "truth") if scenario.actions == FULL else None
        mismatches = None if truth is None else truth_mismatches(outcomes, truth)
    steps = reachable([(row[0], Step(*row[1:])) for row in measured.pop("steps")], truth)
    tail = final_step_seconds(DURATIONS, {s.kind for s in steps}, scenario.actions[-1])
    bound = ceiling(steps, ThrottleLimits(), tail)
    azure_seconds = measured["run_seconds"] * scenario.time_scale
    machines = measured["machines"]
    return {
        "scenario": scenario.name,
        "fleet": scenario.fleet,
        "actions": list(scenario.actions),
        "time_scale": scenario.time_scale,
        "machines": machines,
        "run_azure_seconds": azure_seconds,
        "plan_azure_seconds": measured["plan_seconds"] * scenario.time_scale,
        "ideal_azure_seconds": bound.seconds,
        "binding_bucket": bound.binding,
        "tail_seconds": bound.tail,
        "ceiling_ratio": bound.ratio(azure_seconds),
        "machines_per_azure_second": machines / azure_seconds,
        "ideal_machines_per_azure_second": machines / bound.seconds,
        "counts": measured["counts"],
        "truth_mismatches": mismatches,
        "client_cpu_seconds": measured["cpu_seconds"],
        "client_cpu_seconds_per_1k_machines": measured["cpu_seconds"] * 1000 / machines,
        "client_peak_rss_mb": measured["peak_rss_mb"],
        "requests": measured["requests"],
        "requests_per_machine": measured["requests"] / machines,
        "throttled_seen_by_client": measured["throttled"],
        "throttled_by_emulator": server.get("throttled", {}),
        "repeat_installs": server.get("machines_with_repeat_installs"),
        "wall_seconds": measured["run_seconds"],
        "timeline": measured.get("timeline"),
    }


def scale(machines: int, workdir: Path) -> dict[str, Any]:
    subscriptions = max(1, machines // 5000)
    fleet = f"clean:{machines}@{subscriptions}"
    time_scale = 10.0
    with emulator(fleet, time_scale, workdir) as info:
        measured = client("engine_client.py", info["info_path"], ",".join(FULL), "--plan-only")
    return {
        "machines": machines,
        "fleet": fleet,
        "time_scale": time_scale,
        "inventory_and_plan_wall_seconds": measured["plan_seconds"],
        "inventory_and_plan_azure_seconds": measured["plan_seconds"] * time_scale,
        "client_cpu_seconds": measured["cpu_seconds"],
        "client_peak_rss_mb": measured["peak_rss_mb"],
    }


def baselines(sample: int, workdir: Path) -> dict[str, Any]:
    """The naive loops on a sample, per machine (sequential) and per wave of 32 (threads)."""
    fleet = f"clean:{max(sample, 64)}@1"
    out: dict[str, Any] = {"fleet": fleet, "time_scale": BASELINE_SCALE}
    with emulator(fleet, BASELINE_SCALE, workdir) as info:
        first = client("naive_client.py", info["info_path"], ",".join(FULL), "sequential", "4")
    with emulator(fleet, BASELINE_SCALE, workdir) as info:
        pooled = client(
            "naive_client.py", info["info_path"], ",".join(FULL), "threads32", str(sample)
        )
    out["sequential"] = {
        **first,
        "azure_seconds_per_machine": first["azure_seconds"] / first["machines"],
    }
    waves = math.ceil(pooled["machines"] / 32)
    out["threads32"] = {**pooled, "azure_seconds_per_wave_of_32": pooled["azure_seconds"] / waves}
    return out


# --- the machine and the output ------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=HERE,
        check=False,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "azhotpatch": __version__,
        "commit": commit or None,
    }


def show(results: dict[str, Any]) -> None:
    made = tables(results)
    titles = {
        "ceiling": "Ceiling ratio: achieved rate / the rate Azure's buckets allow",
        "cost": "Client cost",
        "naive": "Against what users write today (raw azure-mgmt SDK loops)",
        "scale": "Scale: inventory + plan (no actions)",
    }
    for name, title in titles.items():
        header, rows = made[name]
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    durations = durations_text(DURATIONS)
    console.print(f"{FORMULA}; d_tail = the shortest final operation ({durations})")
    base = results["baselines"]
    console.print(
        f"baselines measured on {base['sequential']['machines']} machines (sequential) and "
        f"{base['threads32']['machines']} (32 threads) at time scale {base['time_scale']:g}, "
        "scaled linearly to each fleet"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller fleets, under 2 minutes")
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    args = parser.parse_args(argv)
    began = time.monotonic()
    scenarios = QUICK_SCENARIOS if args.quick else FULL_SCENARIOS
    if args.only:
        scenarios = tuple(s for s in scenarios if args.only in s.name)
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "durations_azure_seconds": DURATIONS,
        "limits": "documented (azhotpatch.limits.ThrottleLimits), on both sides",
        "formula": FORMULA,
        "scenarios": [],
        "scale": [],
    }
    with tempfile.TemporaryDirectory(prefix="azhotpatch-bench-") as temporary:
        workdir = Path(temporary)
        for scenario in scenarios:
            console.print(
                f"[bold]{scenario.name}[/] ({scenario.fleet}, time scale {scenario.time_scale:g})"
            )
            results["scenarios"].append(engine(scenario, workdir))
        console.print("[bold]baselines[/] (raw SDK loops on a sample)")
        results["baselines"] = baselines(32 if args.quick else 64, workdir)
        for machines in QUICK_SCALES if args.quick else FULL_SCALES:
            console.print(f"[bold]scale[/] inventory + plan of {machines:,} machines")
            results["scale"].append(scale(machines, workdir))
    results["total_wall_seconds"] = time.monotonic() - began
    show(results)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-{results['mode']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"results: {path.relative_to(HERE.parent)} ({results['total_wall_seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
