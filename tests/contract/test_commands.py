"""The command line, in-process: against the package's emulator (``--emulator-url``, as a
script would keep one), or an embedded one (``--emulator``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from azhotpatch.models import Rule
from azhotpatch.testing import Emulator, VmSpec
from tests.contract.conftest import ARC, GROUP, GROUP_ID, SUB, VM, invoke, target


def test_help_does_not_load_the_azure_sdks() -> None:
    """What keeps ``azhotpatch --help`` instant: no azure-mgmt import until a command needs it."""
    code = (
        "import sys, azhotpatch.cli, azhotpatch\n"
        "azhotpatch.Hotpatch\n"
        "heavy = [m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity'))]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "azhotpatch", "--help"], capture_output=True, text=True, check=True
    )
    assert "calendar" in done.stdout


def test_calendar_and_cost_need_no_azure() -> None:
    ran = invoke(["calendar", "2026", "--unplanned", "2026-03"])
    assert ran.code == 0
    assert "2026  B H U B H H B H H B H H" in ran.stdout
    assert "5 reboot months" in ran.stdout
    ran = invoke(
        [
            "--output",
            "json",
            "cost",
            "--cores",
            "16",
            "--start",
            "2025-08-01",
            "--end",
            "2025-09-01",
        ]
    )
    assert ran.code == 0
    assert json.loads(ran.stdout)["total"] == "24.00"


def test_run_against_an_embedded_emulator_reports_and_says_its_world_is_fresh() -> None:
    ran = invoke(["--emulator", "sample:60@2", "--output", "json", "run"])
    report = json.loads(ran.stdout)
    assert len(report["machines"]) == 60
    assert report["counts"]["skipped"] > 0
    assert ran.code == report["exit_code"]
    assert ran.code in (1, 2)
    assert "fresh" in ran.stderr
    assert "python -m azhotpatch.testing" in ran.stderr
    assert "--emulator-url" in ran.stderr


def test_plan_as_csv_on_an_embedded_emulator() -> None:
    ran = invoke(["--emulator", "clean:10@1", "--output", "json", "plan"])
    plan = json.loads(ran.stdout)
    assert plan["machines"] == 10
    assert plan["to_run"] == 10
    ran = invoke(["--emulator", "clean:10@1", "plan", "--csv"])
    assert ran.code == 0
    assert ran.stdout.splitlines()[0].startswith("resource,kind")
    assert len(ran.stdout.splitlines()) == 11


# --- global options anywhere ---------------------------------------------------------------------


def test_global_options_go_before_or_after_the_command(world: Emulator) -> None:
    spellings = [
        [*target(world), "--output", "json", "plan"],
        ["plan", *target(world), "--output", "json"],
        ["plan", "-o", "json", *target(world)],
        [f"--emulator-url={world.endpoint}", "plan", "-ojson", f"--ca-bundle={world.ca_path}"],
    ]
    for arguments in spellings:
        ran = invoke(arguments, world)
        assert ran.code == 0, (arguments, ran)
        assert json.loads(ran.stdout)["machines"] == 2


def test_a_command_s_own_option_of_the_same_name_stays_with_it() -> None:
    """``emulator --time-scale`` is the emulator's own: were it taken as the global option,
    the error would be that no emulator is given; instead the port is refused next."""
    ran = invoke(["emulator", "--time-scale", "5", "--port", "70000"])
    assert ran.code == 64
    assert "'--port'" in ran.stderr


def test_every_command_has_help() -> None:
    from typer.main import get_command

    from azhotpatch.cli import app
    from azhotpatch.cli.group import commands

    names = [name for name, _ in commands(get_command(app))]
    assert len(names) == 19, names  # with devices (issue 18), remediate and report
    for name in names:
        ran = invoke([*name.split(), "--help"])
        assert ran.code == 0, (name, ran)
        assert f"azhotpatch {name} [OPTIONS]" in ran.stdout.replace("python -m ", "")


def test_help_after_global_options_is_the_command_s_help() -> None:
    ran = invoke(["install", "--output", "json", "--help"])
    assert ran.code == 0
    assert "--max-duration" in ran.stdout
    assert "before or after the command" in ran.stdout
    nested = invoke(["--emulator", "not-checked-for-help", "features", "register", "--help"])
    assert nested.code == 0
    assert "Usage: " in nested.stdout
    assert "features register [OPTIONS] {subscription}" in nested.stdout


# --- what results look like -----------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


WHERE = ["--config-group", GROUP_ID, "--config-location", "westeurope"]
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def test_json_times_are_iso_8601_everywhere(world: Emulator) -> None:
    outputs = [
        invoke([*target(world), "-o", "json", "assess", VM], world),
        invoke([*target(world), "-o", "json", "status", VM, ARC], world),
        invoke(
            [*target(world), "-o", "json", "schedule", "--subscription", SUB, "--dry-run", *WHERE],
            world,
        ),
    ]
    times = []
    for ran in outputs:
        assert ran.code in (0, 1), ran
        times += [s for s in _strings(json.loads(ran.stdout)) if TIMESTAMP.match(s)]
    assert len(times) >= 5, times
    assert all("T" in t[:11] for t in times), times
    schedule = json.loads(outputs[2].stdout)["configurations"][0]
    assert re.fullmatch(r"PT\d+H(\d+M)?", schedule["duration"]), schedule


def test_tables_not_python_reprs_and_ids_never_cut(world: Emulator) -> None:
    for command in ("assess", "status", "check"):
        ran = invoke([*target(world), command, VM], world)
        assert ran.code == 0, ran
        assert "Assessment(" not in ran.stdout
        assert "HotpatchStatus(" not in ran.stdout
        assert any(VM in line for line in ran.stdout.splitlines()), ran.stdout  # one line
    assessed = invoke([*target(world), "assess", VM], world)
    assert re.search(r"^kb\s+classification\s+reboot\s+update$", assessed.stdout, re.MULTILINE)


def test_schedule_shows_window_lengths_as_lengths(world: Emulator) -> None:
    ran = invoke(
        [
            *target(world),
            "schedule",
            "--subscription",
            SUB,
            "--dry-run",
            *WHERE,
            "--baseline-window",
            "210",
        ],
        world,
    )
    assert ran.code in (0, 1), ran
    assert "3 h 30 min" in ran.stdout
    assert "2 h " in ran.stdout
    assert "03:30" not in ran.stdout


def test_no_credentials_is_one_line_and_exit_69(world: Emulator) -> None:
    """Against Azure (no emulator credential), with sign-in impossible: azure-identity's own
    warnings stay out of the way unless --debug asks for them. In subprocesses, since pytest
    captures log records before they would reach stderr."""
    import os

    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AZURE_CLIENT", "AZURE_TENANT", "AZURE_USERNAME"))
    }
    environment["AZURE_TOKEN_CREDENTIALS"] = "EnvironmentCredential"  # fail fast
    arguments = ["--endpoint", world.endpoint, "--ca-bundle", world.ca_path, "status", VM]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "azhotpatch", *extra, *arguments]
        return subprocess.run(command, capture_output=True, text=True, env=environment)

    before = len(world.requests())
    quiet, loud = run(), run("--debug")
    assert len(world.requests()) == before
    assert (quiet.returncode, loud.returncode) == (69, 69)
    lines = quiet.stderr.strip().splitlines()
    assert len(lines) == 1, quiet.stderr
    assert lines[0].startswith("error:")
    assert "az login" in lines[0]
    warned = loud.stderr.find("Attempted credentials")  # azure-identity's own log lines
    assert 0 <= warned < loud.stderr.index("error:"), loud.stderr
    assert "Traceback" in loud.stderr


def test_a_reason_s_fix_names_a_method_in_python_and_a_command_on_the_command_line() -> None:
    """A VM with automatic updates off: `enable` turns them on. The API's verdict says
    ``enable()``; the command line's, as text and as JSON, ``azhotpatch enable``."""
    with Emulator(seed=9, time_scale=2400) as world:
        world.add_subscription(SUB, groups=[GROUP])
        vm = world.add_vm(
            VmSpec(SUB, GROUP, "updates-off", "westeurope", enable_automatic_updates=False)
        )
        with world.client() as client:
            verdict = client.check(vm)
        text = invoke([*target(world), "check", vm], world)
        as_json = invoke([*target(world), "--output", "json", "check", vm], world)
    (reason,) = (r for r in verdict.reasons if r.rule is Rule.AUTOMATIC_UPDATES_OFF)
    assert str(reason.fix).endswith("to true (enable() sets it)")
    assert verdict.as_dict()["reasons"][0]["fix"].endswith("(enable() sets it)")  # type: ignore[index]
    assert "enableAutomaticUpdates to true (azhotpatch enable sets it)" in text.stdout
    assert "enable()" not in text.stdout + as_json.stdout
    (shown,) = (
        r for r in json.loads(as_json.stdout)[0]["reasons"] if r["rule"] == "AutomaticUpdatesOff"
    )
    assert shown["fix"].endswith("(azhotpatch enable sets it)")
