"""ARCHITECTURE.md stays true where it names things: every file and folder it names exists,
every name it gives in code is defined, and its table of layers places every module and
package at the package's root."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "azhotpatch"
DOC = ROOT / "ARCHITECTURE.md"
# Where a path the page names may be relative to (it names files as a reader meets them)
BASES = (
    ROOT,
    PACKAGE,
    PACKAGE / "fleet",
    PACKAGE / "fleet" / "report_assets",
    PACKAGE / "_operations",
    PACKAGE / "_azure",
    PACKAGE / "testing",
)
SERVICES = ("compute", "hybrid", "maintenance", "graph", "features", "msgraph", "stackhci")
_FILE = re.compile(r"^[\w./<>-]+(\.(py|md|html|css|js)|/)$")
_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _sources() -> str:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def _exists(path: str) -> bool:
    """A path from the root or one of `BASES`; a bare file name (a service's ``routes.py``)
    anywhere in the package."""
    paths = [path.replace("<service>", s) for s in SERVICES] if "<service>" in path else [path]
    if "/" not in path:
        return any(PACKAGE.rglob(path))
    return all(any((base / p).exists() for base in BASES) for p in paths)


def _modules() -> set[str]:
    return {p.stem for p in PACKAGE.rglob("*.py")} | {p.parent.name for p in PACKAGE.rglob("*.py")}


def _defined(name: str, sources: str, modules: frozenset[str] = frozenset()) -> bool:
    """Each part of ``name`` (``Class.attribute``, ``module.name``) is a module, or a class, a
    function, an assignment, a parameter or a field somewhere in the package or its tests."""
    return all(part in modules or _defines(part, sources) for part in name.split("."))


def _defines(part: str, sources: str) -> bool:
    name = re.escape(part)
    pattern = rf"(class|def)\s+{name}\b|^\s*{name}\s*(:|=)|[(,]\s*{name}\s*[:=]"
    return re.search(pattern, sources, re.M) is not None


def _named_in_code(text: str) -> tuple[list[str], list[str]]:
    """The page's code spans that name a file or folder, and those that name code."""
    files, names = [], []
    for span in _spans(text):
        if _FILE.match(span):
            files.append(span)
        elif _NAME.match(span) and span not in ("_",):
            names.append(span)
    return files, names


def test_every_file_and_folder_the_page_names_exists() -> None:
    files, _ = _named_in_code(DOC.read_text(encoding="utf-8"))
    assert len(files) > 40
    assert [f for f in files if not _exists(f)] == []


def test_every_name_the_page_gives_is_defined() -> None:
    _, names = _named_in_code(DOC.read_text(encoding="utf-8"))
    sources, modules = _sources(), frozenset(_modules())
    assert len(names) > 30
    assert [n for n in names if not _defined(n, sources, modules)] == []


def test_the_layers_place_every_module_at_the_package_s_root() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Layers") : text.index("## The flow of a fleet run")]
    placed = set(_spans(table))
    at_root = [
        p.name
        for p in sorted(PACKAGE.iterdir())
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    ]
    missing = [
        name
        for name in at_root
        if not any(s == name or s.endswith((f"/{name}", f"/{name}/")) for s in placed)
    ]
    assert missing == []


def test_the_checks_above_find_a_missing_file_and_an_undefined_name() -> None:
    files, names = _named_in_code("see `fleet/_no_such_step.py` and `NoSuchRunner.go`")
    assert files == ["fleet/_no_such_step.py"]
    assert not _exists(files[0])
    assert not _defined(names[0], "class Runner:\n    def go(self): ...\n")
    assert _defined("Runner.go", "class Runner:\n    def go(self): ...\n")
    assert _defined("runner.Runner", "class Runner: ...\n", frozenset({"runner"}))
