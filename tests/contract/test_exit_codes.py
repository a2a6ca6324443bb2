"""One command per exit code, and the same code for the same outcome whether a command acts on
one machine or runs a fleet; the tables in the docs and the README list exactly these codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from azhotpatch.cli.app import build
from azhotpatch.cli.errors import REPORT_BUGS_AT
from azhotpatch.fleet.report import ExitCode
from azhotpatch.testing import Emulator, Faults
from tests.contract.conftest import ROOT, SUB, VM, invoke, target

GROUP = "rg-exit"


@pytest.fixture(scope="module")
def troubled() -> Iterator[tuple[Emulator, str, str]]:
    """An emulator where every patch fails to install (installs end CompletedWithWarnings),
    with an enrolled VM and a VM no Hotpatch can reach (Windows Server 2019)."""
    with Emulator(seed=9, time_scale=2400, faults=Faults(seed=9, patch_failure=1.0)) as emu:
        emu.add_subscription(SUB, groups=[GROUP])
        enrolled = emu.add_vm(
            subscription=SUB,
            group=GROUP,
            name="hot-01",
            location="westeurope",
            patch_mode="AutomaticByPlatform",
            enable_hotpatching=True,
        )
        old = emu.add_vm(
            subscription=SUB,
            group=GROUP,
            name="old-01",
            location="westeurope",
            sku="2019-datacenter",
        )
        yield emu, enrolled, old


def test_0_every_machine_succeeded(world: Emulator) -> None:
    assert invoke([*target(world), "check", VM], world).code == ExitCode.SUCCEEDED


def test_1_skipped_alike_for_one_machine_and_a_fleet(
    troubled: tuple[Emulator, str, str], tmp_path: Path
) -> None:
    emu, _, old = troubled
    alone = invoke([*target(emu), "enable", old], emu)
    fleet = invoke([*target(emu), "enable", old, "--journal", str(tmp_path / "run.sqlite")], emu)
    checked = invoke([*target(emu), "check", old], emu)
    assert (alone.code, fleet.code, checked.code) == (ExitCode.SKIPPED,) * 3, (alone, fleet)


def test_2_an_install_with_failed_patches_fails_alike_for_one_machine_and_a_fleet(
    troubled: tuple[Emulator, str, str], tmp_path: Path
) -> None:
    emu, enrolled, _ = troubled
    alone = invoke([*target(emu), "install", enrolled], emu)
    assert "CompletedWithWarnings" in alone.stdout
    fleet = invoke(
        [*target(emu), "install", enrolled, "--journal", str(tmp_path / "i.sqlite")], emu
    )
    assert (alone.code, fleet.code) == (ExitCode.FAILED, ExitCode.FAILED), (alone, fleet)


def test_64_bad_input_nothing_sent(world: Emulator) -> None:
    ran = invoke([*target(world), "check", VM, "not-an-id"], world)
    assert (ran.code, ran.sent) == (ExitCode.USAGE, 0)
    assert invoke(["plan", "--no-such-option"]).code == ExitCode.USAGE  # the parser's too


def test_69_unreachable_or_untrusted(world: Emulator, tmp_path: Path) -> None:
    closed_port = ["--emulator-url", "https://127.0.0.1:9", "--ca-bundle", world.ca_path]
    nobody = invoke([*closed_port, "status", VM])
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    untrusted = invoke(["--endpoint", world.endpoint, "--ca-bundle", str(stranger), "status", VM])
    assert (nobody.code, untrusted.code) == (ExitCode.UNAVAILABLE, ExitCode.UNAVAILABLE)
    assert not nobody.traceback, nobody
    assert not untrusted.traceback, untrusted


def test_70_a_bug_says_where_to_report_it_and_shows_its_traceback_only_on_request() -> None:
    app = build()

    @app.command()
    def divide() -> None:
        """A command with a bug, as any command could have."""
        print(1 / 0)

    quiet = CliRunner().invoke(app, ["divide"])
    loud = CliRunner().invoke(app, ["--debug", "divide"])
    assert (quiet.exit_code, loud.exit_code) == (ExitCode.INTERNAL, ExitCode.INTERNAL)
    assert REPORT_BUGS_AT in quiet.stderr
    assert "ZeroDivisionError" in quiet.stderr
    assert "Traceback" not in quiet.output
    assert "Traceback (most recent call last)" in loud.stderr


def _codes_in_table(text: str) -> set[int]:
    start = text.index("| code | meaning |")
    rows = text[start:].split("\n\n", 1)[0]
    return {int(code) for code in re.findall(r"^\| `(\d+)` \|", rows, re.MULTILINE)}


def test_the_docs_and_the_readme_list_every_exit_code() -> None:
    codes = {int(code) for code in ExitCode}
    for page in (ROOT / "README.md", ROOT / "docs" / "troubleshooting.md"):
        assert _codes_in_table(page.read_text(encoding="utf-8")) == codes, page.name
