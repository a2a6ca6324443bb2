"""The emulator's layout, checked: services sit beside one another on the shared packages,
never on top of one another, so adding or changing one means reading only it (and
`services.py`, where they are wired together)."""

from __future__ import annotations

import ast
from pathlib import Path

import azhotpatch.testing

TESTING = Path(azhotpatch.testing.__file__).resolve().parent
SERVICES = ("compute", "hybrid", "maintenance", "graph", "features", "msgraph")
SHARED = ("arm", "world", "patching", "kql")


def _imported(package: str) -> set[str]:
    """The ``azhotpatch.testing`` packages the modules of ``package`` import from."""
    found = set()
    for path in (TESTING / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["azhotpatch", "testing"] and len(parts) > 2:
                    found.add(parts[2])
                if parts == ["azhotpatch", "testing"]:
                    found.update(alias.name for alias in node.names)
    return found


def test_no_service_imports_another() -> None:
    crossings = {
        (service, other)
        for service in SERVICES
        for other in _imported(service) & set(SERVICES)
        if other != service
    }
    assert crossings == set()


def test_the_shared_packages_import_no_service() -> None:
    assert {(shared, s) for shared in SHARED for s in _imported(shared) & set(SERVICES)} == set()


def test_the_check_sees_imports() -> None:
    assert {"arm", "world"} <= _imported("compute")
    assert "kql" in _imported("graph")
