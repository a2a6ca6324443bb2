"""One emulated Azure for the contract tests: a subscription with a VM and an Arc machine,
and the command line pointed at it the way a script would (``--emulator-url``), so that the
emulator's request log shows whatever a command sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azhotpatch.cli import app
from azhotpatch.testing import ArcSpec, Emulator, VmSpec

SUB = "3f2c1a9e-6b7d-4c1e-9a8f-0d2b4e6f8a10"
GROUP = "rg-contract"
VM = VmSpec(subscription=SUB, group=GROUP, name="web-01", location="westeurope").id
ARC = ArcSpec(subscription=SUB, group=GROUP, name="srv-01", location="westeurope").id
GROUP_ID = f"/subscriptions/{SUB}/resourceGroups/{GROUP}"


@pytest.fixture(scope="package")
def world() -> Iterator[Emulator]:
    with Emulator(seed=5, time_scale=2400) as emulator:
        emulator.add_subscription(SUB, groups=[GROUP])
        emulator.add_vm(VmSpec(subscription=SUB, group=GROUP, name="web-01", location="westeurope"))
        emulator.add_arc(
            ArcSpec(subscription=SUB, group=GROUP, name="srv-01", location="westeurope")
        )
        yield emulator


@pytest.fixture(scope="package")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths that are wrong in each of the ways a journal or CA bundle path can be."""
    root = tmp_path_factory.mktemp("inputs")
    not_sqlite = root / "notes.txt"
    not_sqlite.write_text("not a journal\n")
    (root / "folder").mkdir()
    return {
        "DIR": str(root / "folder"),
        "MISSING": str(root / "no-such-folder" / "run.sqlite"),
        "NOTSQLITE": str(not_sqlite),
        "NOTPEM": str(not_sqlite),
    }


def target(world: Emulator) -> list[str]:
    """The global options that point the command line at the test's emulator."""
    return ["--emulator-url", world.endpoint, "--ca-bundle", world.ca_path]


@dataclass(frozen=True)
class Ran:
    """One command-line invocation, in-process."""

    code: int
    stdout: str
    stderr: str
    sent: int  # requests the emulator served during it
    crashed: BaseException | None  # an exception that escaped the command line

    @property
    def traceback(self) -> bool:
        return self.crashed is not None or "Traceback (most recent call last)" in (
            self.stdout + self.stderr
        )


def invoke(arguments: Sequence[str], world: Emulator | None = None) -> Ran:
    before = len(world.requests()) if world is not None else 0
    result = CliRunner().invoke(app, list(arguments))
    escaped = result.exception
    crashed = None if escaped is None or isinstance(escaped, SystemExit) else escaped
    sent = len(world.requests()) - before if world is not None else 0
    return Ran(result.exit_code, result.stdout, result.stderr, sent, crashed)


ROOT = Path(__file__).resolve().parents[2]
