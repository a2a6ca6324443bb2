"""Developer sessions. `nox` with no arguments runs what CI runs: tests, lint, typecheck."""

from __future__ import annotations

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
