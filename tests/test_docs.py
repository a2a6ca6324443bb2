"""The documentation cannot rot: every Python example on its pages runs, the notebook
executes and renders its tables, and every error class has its troubleshooting entry."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner

from azhotpatch import errors
from azhotpatch.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
EXAMPLE = re.compile(r"```python\n(.*?)```", re.DOTALL)
SHELL = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def _command_lines() -> list[tuple[str, str]]:
    """(where, command) for every ``azhotpatch`` line in the shell examples of the docs and
    the README, without its comment and output redirection."""
    found: list[tuple[str, str]] = []
    for page in [*PAGES, ROOT / "README.md"]:
        for block in SHELL.findall(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                command = line.split("#", 1)[0].split(">", 1)[0].strip()
                if command.startswith("azhotpatch "):
                    found.append((page.name, command))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_python_example_runs(page: Path) -> None:
    """The examples of a page run in order in one namespace, as a reader would paste them."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(EXAMPLE.findall(page.read_text(encoding="utf-8")), 1):
        code = compile(block, f"{page.name} example {number}", "exec")
        exec(code, namespace)  # noqa: S102 (our own documentation)


def test_pages_with_examples_exist() -> None:
    with_examples = [p for p in PAGES if EXAMPLE.search(p.read_text(encoding="utf-8"))]
    assert len(with_examples) >= 8, with_examples


def test_the_notebook_executes_and_renders_its_tables() -> None:
    notebook = nbformat.read(DOCS / "notebooks" / "enroll.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(DOCS / "notebooks")}},
    ).execute()
    html = {
        cell.source.splitlines()[0]: output["data"]["text/html"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    }
    rendered = " ".join(html)
    assert "calendar.year_plan" in rendered
    assert "plan = hotpatch.plan" in rendered
    assert "report = hotpatch.run" in rendered
    assert "emulator.load_devices" in rendered  # the Windows 11 device readiness table
    for source, table in html.items():
        assert "<table" in table, source
    errors_seen = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors_seen == []


def _error_classes() -> list[type[errors.HotpatchError]]:
    found: list[type[errors.HotpatchError]] = []
    pending: list[type[errors.HotpatchError]] = [errors.HotpatchError]
    while pending:
        cls = pending.pop()
        if not cls.__name__.startswith("_"):  # private ones never reach a caller
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_troubleshooting_explains_every_error_class() -> None:
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    missing = [
        cls.__name__
        for cls in _error_classes()
        if cls is not errors.HotpatchError
        and not re.search(rf"\| `{cls.__name__}` \| `{cls.code}` \|", page)
    ]
    assert missing == []


def test_troubleshooting_explains_every_outcome_code() -> None:
    """Every code a fleet report can carry: our errors' (above), the runner's own, and each
    prerequisite's rule."""
    from azhotpatch.fleet._runner import (
        MACHINE_GONE,
        PATCHES_FAILED,
        REBOOT_DEFERRED,
        REBOOT_REQUIRED,
    )
    from azhotpatch.models import Rule

    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    runner_codes = [MACHINE_GONE, PATCHES_FAILED, REBOOT_REQUIRED, REBOOT_DEFERRED]
    codes = [*runner_codes, *(rule.value for rule in Rule)]
    assert [code for code in codes if f"`{code}`" not in page] == []


@pytest.mark.parametrize(("page", "command"), _command_lines(), ids=lambda v: str(v)[:60])
def test_every_command_line_example_parses_or_runs(page: str, command: str) -> None:
    """Lines with placeholders (``<sub>``) are templates: every option they use must exist
    (``--help`` after them exits 0 only if everything before it parsed). Lines without
    placeholders run for real, against the embedded emulator they name, and must end with a
    run's own exit code (0 all succeeded, 1 some skipped, 2 some failed), not a crash or a
    usage error."""
    arguments = shlex.split(command)[1:]
    template = any("<" in argument for argument in arguments)
    if template:
        arguments = [a if "<" not in a else "x" for a in arguments] + ["--help"]
    else:
        offline = arguments[0] in ("calendar", "cost") or "--scripts" in arguments
        assert "--emulator" in arguments or offline, command
    result = CliRunner().invoke(app, arguments)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, (command, result.exception)
    assert result.exit_code in ((0,) if template else (0, 1, 2)), (command, result.output)
