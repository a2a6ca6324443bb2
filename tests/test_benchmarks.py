"""The benchmark ceiling formula, and docs/performance.md being exactly what its committed
results file renders to (so no figure on that page can be typed in by hand)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

from azhotpatch.limits import Bucket, ThrottleLimits

ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> ModuleType:
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_ceiling_is_the_slowest_bucket_plus_the_last_operation() -> None:
    ceiling = load("ceiling")
    limits = ThrottleLimits(arm_writes=Bucket(10, 60))  # burst 10, 1 per second
    steps = [ceiling.Step("s1", "westeurope", "vm", a) for a in ("enable", "assess")] * 15
    steps += [ceiling.Step("s1", "westeurope", "arc", "enable")] * 5  # 2 writes each
    steps += [ceiling.Step("s2", "westeurope", "vm", "assess")] * 12
    # s1: 30 + 10 = 40 writes -> (40 - 10) / 1 = 30 s; s2: 12 -> 2 s; Compute far below.
    bound = ceiling.ceiling(steps, limits, tail=20.0)
    assert bound.seconds == 50.0
    assert "s1" in bound.binding
    assert "40 writes" in bound.binding
    assert bound.ratio(100.0) == 0.5


def test_a_compute_bucket_can_bind() -> None:
    ceiling = load("ceiling")
    steps = [
        ceiling.Step("s", "eastus", "vm", "install")
    ] * 700  # VMGuestPatchOperation 600+200/min
    bound = ceiling.ceiling(steps, ThrottleLimits(), tail=0.0)
    writes = (700 - 200) / 10  # 50 s
    compute = (700 - 600) / (200 / 60)  # 30 s
    assert bound.seconds == max(writes, compute)
    assert "ARM writes" in bound.binding


def test_enrollments_are_charged_for_what_will_change() -> None:
    ceiling = load("ceiling")
    assert ceiling.enrollment_writes("vm", 3) == 1  # one PATCH for all the settings
    assert ceiling.enrollment_writes("vm", 0) == 0  # already enrolled
    assert ceiling.enrollment_writes("arc", 2) == 2  # license profile, then enableHotpatching
    enrolled = [ceiling.Step("s", "westeurope", "vm", "enable", 0)] * 300
    bound = ceiling.ceiling(enrolled, ThrottleLimits(), tail=5.0)
    assert bound.seconds == 5.0  # no writes, and no Compute UpdateVM calls either


def test_machines_that_fail_are_charged_for_their_enrollment_only() -> None:
    ceiling = load("ceiling")
    rows = [
        (machine, ceiling.Step("s", "westeurope", "vm", action))
        for machine in ("ok", "agent-down", "unknown")
        for action in ("enable", "assess", "install")
    ]
    truth = {
        "ok": {"enable": "succeeded", "patch": "succeeded"},
        "agent-down": {"enable": "succeeded", "patch": "failed"},
    }
    kept = ceiling.reachable(rows, truth)
    assert [step.action for step in kept].count("enable") == 3
    assert [step.action for step in kept].count("install") == 2  # ok, and unknown to the truth
    assert len(ceiling.reachable(rows, None)) == 9


def test_truth_mismatches_check_outcomes_and_reasons() -> None:
    run = load("run")
    truth = {
        "a": {"full_run_outcome": "succeeded", "blockers": [], "inventory_blockers": []},
        "b": {
            "full_run_outcome": "skipped",
            "blockers": ["Linux"],
            "inventory_blockers": ["Linux"],
        },
        "c": {
            "full_run_outcome": "failed",
            "blockers": ["VmAgentNotReady"],
            "inventory_blockers": [],
        },
        "d": {"full_run_outcome": "failed", "blockers": [], "inventory_blockers": []},
    }
    right = {
        "a": ["succeeded", None],
        "b": ["skipped", "Linux"],
        "c": ["failed", "VmAgentNotReady"],
        "d": ["failed", "ArcVbsOff"],
    }
    assert run.truth_mismatches(right, truth) == 0
    wrong_reason = {**right, "b": ["skipped", "ImageNotSupported"], "c": ["failed", "Conflict"]}
    assert run.truth_mismatches(wrong_reason, truth) == 2
    missing = {k: v for k, v in right.items() if k != "a"}
    assert run.truth_mismatches(missing, truth) == 1


def test_shortest_final_step() -> None:
    ceiling = load("ceiling")
    durations = {"vm_update": 5, "assess": 20, "install": 40, "license_profile": 7}
    assert ceiling.final_step_seconds(durations, {"vm", "arc"}, "install") == 40
    assert ceiling.final_step_seconds(durations, {"arc"}, "enable") == 7
    assert ceiling.final_step_seconds(durations, {"vm", "arc"}, "enable") == 5


def test_performance_page_is_rendered_from_its_committed_results() -> None:
    """The page and its charts (docs/img/perf-*.svg) are exactly what summary.py renders
    from the results file the page names: re-run it after a benchmark, never edit them."""
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    named = re.search(r"`(benchmarks/results/[^`]+\.json)`", page)
    assert named, "docs/performance.md must name the results file it was rendered from"
    results = json.loads((ROOT / named[1]).read_text(encoding="utf-8"))
    summary = load("summary")
    assert page == summary.render(results, named[1])
    charts = summary.charts(results)
    drawn = ["perf-ceiling.svg", "perf-naive.svg"]
    if summary.timeline_scenario(results) is not None:
        drawn.append("perf-timeline.svg")
    assert sorted(charts) == sorted(drawn)
    for name, svg in charts.items():
        assert f"](img/{name})" in page, f"docs/performance.md does not show {name}"
        committed = (ROOT / "docs" / "img" / name).read_text(encoding="utf-8")
        assert committed == svg, f"docs/img/{name} is not what summary.py renders from {named[1]}"
        ElementTree.fromstring(svg)  # noqa: S314 (our own SVG): well-formed


def test_charts_draw_every_scenario_against_its_ceiling_and_the_loops() -> None:
    """What each chart holds: a run and an ideal bar per scenario; the engine, the 32-thread
    pool and the sequential loop per fully compared scenario, in that (fastest first) order."""
    results = json.loads(
        (ROOT / "benchmarks" / "results" / "20261201T112835Z-full.json").read_text("utf-8")
    )
    charts = load("summary").charts(results)
    ceiling = charts["perf-ceiling.svg"]
    for scenario in results["scenarios"]:
        assert f">{scenario['scenario']}</text>" in ceiling
        assert f"{scenario['ideal_azure_seconds']:.0f} s</text>" in ceiling
        assert f"ratio {scenario['ceiling_ratio']:.2f}</text>" in ceiling
    naive = charts["perf-naive.svg"]
    assert naive.count(">azhotpatch</text>") == 3  # the three clean full-flow scenarios
    assert naive.index(">32 threads</text>") < naive.index(">sequential loop</text>")
    assert ">15.0 days</text>" in naive  # 10k machines one after another


def test_the_timeline_chart_draws_a_run_against_its_busiest_bucket() -> None:
    """The committed results keep one run's course, and the chart draws it against the
    bucket's refill rate; the run itself stayed under what the bucket allows (its burst,
    then its refill rate), as the page says."""
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    named = re.search(r"`(benchmarks/results/[^`]+\.json)`", page)
    assert named
    results = json.loads((ROOT / named[1]).read_text(encoding="utf-8"))
    summary = load("summary")
    scenario = summary.timeline_scenario(results)
    assert scenario is not None, "the committed results keep no run's course"
    course = scenario["timeline"]
    svg = summary.charts(results)["perf-timeline.svg"]
    assert summary.bucket_label(course["bucket"]) in svg
    assert ">requests / s sent</text>" in svg
    sent = sum(requests for _, _, requests, _ in course["bins"])
    first = min(at for at, _, _, _ in course["bins"])
    end = max(at + width for at, width, _, _ in course["bins"])
    allowed = course["burst"] + course["refill_per_azure_second"] * (end - first)
    assert sent <= allowed * 1.02, (sent, allowed)
    assert sum(throttled for *_, throttled in course["bins"]) == 0
