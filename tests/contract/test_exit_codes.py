"""One command per exit code, and the same code for the same outcome whether a command acts on
one machine or runs a fleet; the tables in the docs and the README list exactly these codes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from azhotpatch.cli.app import build
from azhotpatch.cli.errors import REPORT_BUGS_AT
from azhotpatch.errors import EndpointUnreachableError
from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.fleet.journal import Journal, RunIdentity
from azhotpatch.fleet.plan import parse_actions
from azhotpatch.fleet.report import ExitCode
from azhotpatch.models import InstallOptions
from azhotpatch.testing import Emulator, Faults, VmSpec
from tests.contract.conftest import ROOT, SUB, VM, invoke, target

GROUP = "rg-exit"


@pytest.fixture(scope="module")
def troubled() -> Iterator[tuple[Emulator, str, str]]:
    """An emulator where every patch fails to install (installs end CompletedWithWarnings),
    with an enrolled VM and a VM no Hotpatch can reach (Windows Server 2019)."""
    with Emulator(seed=9, time_scale=2400, faults=Faults(seed=9, patch_failure=1.0)) as emu:
        emu.add_subscription(SUB, groups=[GROUP])
        enrolled = emu.add_vm(
            VmSpec(
                subscription=SUB,
                group=GROUP,
                name="hot-01",
                location="westeurope",
                patch_mode="AutomaticByPlatform",
                enable_hotpatching=True,
            )
        )
        old = emu.add_vm(
            VmSpec(
                subscription=SUB,
                group=GROUP,
                name="old-01",
                location="westeurope",
                sku="2019-datacenter",
            )
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


EMPTY = "11111111-2222-4333-8444-555555555555"


@pytest.fixture(scope="module")
def with_an_empty_subscription() -> Iterator[Emulator]:
    with Emulator(seed=9, time_scale=2400) as emu:
        emu.add_subscription(SUB, groups=[GROUP])
        emu.add_vm(VmSpec(subscription=SUB, group=GROUP, name="web-01", location="westeurope"))
        emu.add_subscription(EMPTY, groups=["rg-empty"])
        yield emu


@pytest.mark.parametrize("command", ["plan", "run", "schedule"])
def test_64_a_scope_with_no_machine_says_what_was_read_and_that_nothing_changed(
    with_an_empty_subscription: Emulator, command: str
) -> None:
    """An empty subscription and one the identity cannot see (or a typo) read alike: only
    reading the inventory finds them, so the message says so rather than "nothing sent"."""
    world = with_an_empty_subscription
    empty = EMPTY
    unknown = "99999999-2222-4333-8444-555555555555"
    where = ["--config-group", f"/subscriptions/{empty}/resourceGroups/rg-empty"]
    extra = [*where, "--config-location", "westeurope"] if command == "schedule" else []
    for subscription in (empty, unknown):
        before = len(world.requests())
        ran = invoke([*target(world), command, "--subscription", subscription, *extra], world)
        sent = world.requests()[before:]
        assert (ran.code, ran.traceback) == (ExitCode.USAGE, False), ran
        assert f"Resource Graph lists no machine in subscription {subscription}" in ran.stderr
        assert "the inventory was read and nothing was changed" in ran.stderr
        assert sent, "the inventory was read"
        assert {(r.method, r.route) for r in sent} == {("POST", "graph.resources")}


def test_69_unreachable_or_untrusted(world: Emulator, tmp_path: Path) -> None:
    closed_port = ["--emulator-url", "https://127.0.0.1:9", "--ca-bundle", world.ca_path]
    nobody = invoke([*closed_port, "status", VM])
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    untrusted = invoke(["--endpoint", world.endpoint, "--ca-bundle", str(stranger), "status", VM])
    assert (nobody.code, untrusted.code) == (ExitCode.UNAVAILABLE, ExitCode.UNAVAILABLE)
    assert not nobody.traceback, nobody
    assert not untrusted.traceback, untrusted


def _dead_port() -> int:
    """A port on this machine nothing listens at (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_69_a_dead_proxy_is_named_not_the_endpoint(
    world: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTPS_PROXY set, a proxy that cannot be reached is the proxy's fault: the message
    names it (without the credentials its URL may carry) and says how to go around it."""
    proxy = f"http://someone:s3cret@127.0.0.1:{_dead_port()}"
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    shown = proxy.replace("someone:s3cret@", "")
    through_cli = invoke([*target(world), "--connect-timeout", "1", "status", VM], world)
    with world.client(connect_timeout=1) as client, pytest.raises(EndpointUnreachableError) as api:
        client.status(VM)
    assert (through_cli.code, through_cli.traceback) == (ExitCode.UNAVAILABLE, False)
    for message in (through_cli.stderr, str(api.value)):
        assert f"proxy {shown} (HTTPS_PROXY)" in message, message
        assert "NO_PROXY" in message
        assert "s3cret" not in message
    assert str(api.value).count("could not connect to the proxy") == 1


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


def _file_size_limit(limit: int) -> Callable[[], None]:
    """In the child: files it writes may grow to ``limit`` bytes, which stands for a full
    disk (Python ignores SIGXFSZ, so a write past it fails with EFBIG)."""

    def limited() -> None:
        import resource  # POSIX only

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("written", ["report page", "new journal"])
def test_74_a_file_that_cannot_be_written_leaves_what_was_there(
    world: Emulator, tmp_path: Path, written: str
) -> None:
    """A report page that does not fit (the run's requests were sent), and a journal that
    cannot be created (nothing was sent). A journal's faults mid-run (vanished, full) are in
    tests/fleet/test_journal_safety.py."""
    path = tmp_path / "report.html"
    path.write_text("the page before\n")
    journal = tmp_path / "run.sqlite"
    option = ["--html", str(path)] if written == "report page" else ["--journal", str(journal)]
    before = len(world.requests())
    done = subprocess.run(
        [sys.executable, "-m", "azhotpatch", *target(world), "run", "--subscription", SUB,
         "--actions", "assess", *option],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=_file_size_limit(4096),
    )  # fmt: skip
    sent = len(world.requests()) - before
    assert done.returncode == ExitCode.STORAGE, done.stderr
    assert "Traceback" not in done.stderr
    if written == "report page":
        assert f"{path}: could not be written" in done.stderr
        assert path.read_text() == "the page before\n"
    else:
        assert f"{journal}: could not be created" in done.stderr
        assert "nothing was sent" in done.stderr
        assert sent == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_75_a_journal_another_run_holds_is_refused_before_any_request(
    world: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    identity = RunIdentity.of(
        InventoryFilter(subscriptions=(SUB,)), parse_actions(["assess"]), InstallOptions()
    )
    holder = Journal(path, identity)  # this process holds it, as another run would
    try:
        ran = invoke([*target(world), "run", "-s", SUB, "--actions", "assess", "--journal",
                      str(path)], world)  # fmt: skip
    finally:
        holder.close()
    assert (ran.code, ran.sent, ran.traceback) == (ExitCode.BUSY, 0, False), ran
    assert f"pid {os.getpid()} on host" in ran.stderr


@pytest.mark.parametrize(
    ("stop", "code"),
    [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.TERMINATED)],
    ids=["130-SIGINT", "143-SIGTERM"],
)
def test_130_and_143_a_signal_stops_a_command_with_one_line_and_its_code(
    world: Emulator, stop: signal.Signals, code: ExitCode
) -> None:
    """A command waiting on an endpoint that accepts and never answers: the signal comes once
    it waits there (the listener has its connection), whatever the machine's load. A fleet
    run's stop is in tests/fleet/test_journal_safety.py."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        command = subprocess.Popen(
            [sys.executable, "-m", "azhotpatch", "--emulator-url", url, "--ca-bundle",
             world.ca_path, "--connect-timeout", "600", "status", VM],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        connection, _ = silent.accept()
        with connection:
            command.send_signal(stop)
            _, stderr = command.communicate(timeout=60)
    assert command.returncode == code, stderr
    assert stderr.startswith(f"stopped by {stop.name} before the command finished"), stderr
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr


def _codes_in_table(text: str) -> set[int]:
    start = text.index("| code | meaning |")
    rows = text[start:].split("\n\n", 1)[0]
    return {int(code) for code in re.findall(r"^\| `(\d+)` \|", rows, re.MULTILINE)}


def test_the_docs_and_the_readme_list_every_exit_code() -> None:
    codes = {int(code) for code in ExitCode}
    for page in (ROOT / "README.md", ROOT / "docs" / "troubleshooting.md"):
        assert _codes_in_table(page.read_text(encoding="utf-8")) == codes, page.name
