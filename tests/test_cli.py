"""The command line, in-process against the embedded emulator."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from azhotpatch.cli import app
from azhotpatch.fleet.report import ExitCode

EXIT_USAGE = ExitCode.USAGE

runner = CliRunner()


def invoke(*arguments: str) -> tuple[int, str]:
    result = runner.invoke(app, list(arguments))
    return result.exit_code, result.stdout


def test_help_does_not_load_the_azure_sdks() -> None:
    """What keeps ``azhotpatch --help`` instant: no azure-mgmt import until a command needs it."""
    code = (
        "import sys, azhotpatch.cli\n"
        "heavy = [m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity'))]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "azhotpatch", "--help"], capture_output=True, text=True, check=True
    )
    assert "calendar" in done.stdout


def test_calendar_and_cost_need_no_azure() -> None:
    code, out = invoke("calendar", "2026", "--unplanned", "2026-03")
    assert code == 0
    assert "2026  B H U B H H B H H B H H" in out
    assert "5 reboot months" in out
    code, out = invoke(
        "--output", "json", "cost", "--cores", "16", "--start", "2025-08-01", "--end", "2025-09-01"
    )
    assert code == 0
    assert json.loads(out)["total"] == "24.00"
    code, _ = invoke("cost", "--cores", "0", "--start", "2025-08-01", "--end", "2025-09-01")
    assert code == EXIT_USAGE


def test_run_against_the_emulator_reports_and_exits_with_meaning() -> None:
    code, out = invoke("--emulator", "sample:60@2", "--output", "json", "run")
    report = json.loads(out)
    assert len(report["machines"]) == 60
    assert report["counts"]["skipped"] > 0
    assert code == report["exit_code"]
    assert code in (1, 2)


def test_check_single_machines_and_plan_as_csv() -> None:
    code, out = invoke("--emulator", "clean:10@1", "--output", "json", "plan")
    plan = json.loads(out)
    assert plan["machines"] == 10
    assert plan["to_run"] == 10
    code, out = invoke("--emulator", "clean:10@1", "plan", "--csv")
    assert code == 0
    assert out.splitlines()[0].startswith("resource,kind")
    assert len(out.splitlines()) == 11


def test_bad_resource_id_is_a_usage_error() -> None:
    code, _ = invoke("--emulator", "clean:2@1", "check", "not-an-id")
    assert code == EXIT_USAGE
