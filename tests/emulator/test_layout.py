"""The emulator's layout, checked: services sit beside one another on the shared packages,
never on top of one another, so adding or changing one means reading only it (and
`services.py`, where they are wired together). Each service builds its own resources, the
admin endpoints are one table, and the `Emulator` stays a small facade over them."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import azhotpatch.testing
from azhotpatch.testing.admin import ROUTES as ADMIN_ROUTES

TESTING = Path(azhotpatch.testing.__file__).resolve().parent
HOW_TO = TESTING.parent.parent / "docs" / "how-to" / "emulator.md"
# The records each service alone creates (Compute's VMs and scale sets, Hybrid Compute's Arc
# machines and their hardware): a field a service reads is written where that service is.
BUILT_BY = {
    "VirtualMachine": "compute",
    "ScaleSet": "compute",
    "ArcMachine": "hybrid",
    "Hardware": "hybrid",
}
RECORDS = Path("world", "machines.py")  # where they are defined (with their defaults)
MOST_LINES_IN_A_CLASS = 350
SERVICES = ("compute", "hybrid", "maintenance", "graph", "features", "msgraph", "stackhci")
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


@cache
def _modules() -> dict[Path, ast.Module]:
    """Every module of the emulator, parsed once for all the checks below."""
    return {
        path.relative_to(TESTING): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(TESTING.rglob("*.py"))
    }


def _built(tree: ast.Module) -> set[str]:
    """The world's records a module creates: ``ArcMachine(...)``,
    ``VirtualMachine.create(...)``."""
    called = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "create":
            func = func.value
        if isinstance(func, ast.Name) and func.id in BUILT_BY:
            called.add(func.id)
    return called


def test_each_machine_record_is_built_only_by_its_service() -> None:
    strays = {
        f"{path}: {record}"
        for path, tree in _modules().items()
        for record in _built(tree)
        if path.parts[0] != BUILT_BY[record] and path != RECORDS
    }
    assert strays == set()


def test_the_check_sees_a_record_built() -> None:
    tree = ast.parse("vm = VirtualMachine.create(a, b)\nArcMachine(key=k, hardware=Hardware())\n")
    assert _built(tree) == {"VirtualMachine", "ArcMachine", "Hardware"}


def _admin_names_used(tree: ast.Module) -> set[str]:
    """Admin endpoint names a module compares with or keys a table by."""
    names = {name for _, name in ADMIN_ROUTES}
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts: list[ast.AST] = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            parts = [key for key in node.keys if key is not None]
        else:
            continue
        used |= {
            c.value
            for part in parts
            for c in ast.walk(part)
            if isinstance(c, ast.Constant) and c.value in names
        }
    return used


def test_admin_endpoints_are_routed_by_one_table() -> None:
    """Only `admin.ROUTES` tells the admin endpoints apart: no if-chain or second table
    grows beside it."""
    elsewhere = {
        f"{path}: {sorted(used)}"
        for path, tree in _modules().items()
        if path != Path("admin.py") and (used := _admin_names_used(tree))
    }
    assert elsewhere == set()


def test_the_check_sees_an_admin_route_outside_the_table() -> None:
    chain = ast.parse('if (method, path) == ("GET", "stats"):\n    pass\nTABLE = {"lock": f}\n')
    assert _admin_names_used(chain) == {"stats", "lock"}


def test_the_how_to_names_every_admin_endpoint() -> None:
    text = HOW_TO.read_text(encoding="utf-8")
    assert {name for _, name in ADMIN_ROUTES if f"`/_emulator/{name}`" not in text} == set()


def _class_lengths(tree: ast.Module) -> dict[str, int]:
    return {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }


def test_the_emulator_s_facade_classes_stay_small() -> None:
    """The `Emulator` and the classes beside it at the top of the package (its records,
    conditions, credentials, server) are facades over the services; what grows belongs in a
    service or a shared package."""
    long = {
        f"{path}: {name} ({lines} lines)"
        for path, tree in _modules().items()
        if len(path.parts) == 1
        for name, lines in _class_lengths(tree).items()
        if lines > MOST_LINES_IN_A_CLASS
    }
    assert long == set()


def test_the_check_counts_a_class_s_lines() -> None:
    tree = ast.parse("class A:\n    x = 1\n\n    def f(self) -> None:\n        pass\n")
    assert _class_lengths(tree) == {"A": 5}
