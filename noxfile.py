"""Developer sessions. `nox` with no arguments runs what CI runs: tests, lint, typecheck."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# Pinned so that a new release cannot fail CI on code that did not change.
LINT_TOOLS = ["ruff==0.17.6"]
TYPECHECK_TOOLS = ["mypy==2.4.1"]


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, emulator and cassette-replay tests."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def loaded(session: nox.Session) -> None:
    """The tests with every core kept busy, as on a shared CI runner or a laptop doing other
    work: a verdict that depends on how fast the machine runs fails here and not only there.
    One spinning process per core (``AZHOTPATCH_BUSY_CORES`` sets another count) starts
    before pytest and is stopped after it, pass or fail; arguments go to pytest
    (``nox -s loaded -- tests/emulator -x``). ``--no-venv`` runs it in the environment nox
    runs in, with what is installed there."""
    if session.venv_backend != "none":
        session.install("-e", ".[test]")
    count = int(os.environ.get("AZHOTPATCH_BUSY_CORES") or os.cpu_count() or 1)
    session.log(f"keeping {count} core(s) busy for the length of the run")
    with busy_cores(count):
        session.run("pytest", *session.posargs)


# Spins until its parent goes: a nox killed outright (kill -9, a CI timeout) leaves no
# spinner behind to load the machine for hours.
_SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """``count`` processes (not threads: one interpreter lock would leave cores idle) that
    spin until the block ends; the operating system shares the cores between them and the
    tests as it would with any other load."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install(*LINT_TOOLS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", *TYPECHECK_TOOLS)
    session.run("mypy", "--strict", "azhotpatch")


@nox.session
def record(session: nox.Session) -> None:
    """Re-record the cassettes from the emulator (AZHOTPATCH_RECORD_LIVE=1: from live Azure)."""
    session.install("-e", ".[test]")
    session.run("python", "tests/replay/record.py")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (strict: broken links and references fail)."""
    session.install("-e", ".[docs]")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Fleet-engine benchmarks against the emulator (``nox -s bench -- --quick`` for < 2 min)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def startup(session: nox.Session) -> None:
    """How long --help and the first import take (medians of fresh processes)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/startup.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: a fleet enrollment, assess and install against the embedded emulator."""
    session.install("-e", ".")
    session.run("azhotpatch", "demo", *session.posargs, success_codes=[0, 1, 2])
