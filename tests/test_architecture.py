"""The layout the code promises, checked: kinds of machine are told apart only inside their
own objects, and the fleet engine reaches Azure only through the session and those objects."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "azhotpatch"
# The kind objects (and the table that holds them) are where each kind's difference lives;
# the emulator models each kind of machine as Azure does.
KIND_MODULES = {"vm.py", "arc.py", "kinds.py"}
FACTS = {"VmFacts", "ArcFacts", "VmRuntime"}


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "testing" not in path.relative_to(PACKAGE).parts
    ]


def _branches_on_kind(tree: ast.Module) -> list[int]:
    """Lines that compare with a particular kind (``x is MachineKind.VM``) or test which
    facts a machine has (``isinstance(facts, VmFacts)``)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(
                isinstance(o, ast.Attribute)
                and isinstance(o.value, ast.Name)
                and o.value.id == "MachineKind"
                for o in operands
            ):
                lines.append(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
            and any(isinstance(n, ast.Name) and n.id in FACTS for n in ast.walk(node.args[1]))
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_branches_on_machine_kind_outside_the_kind_objects() -> None:
    found = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for path, tree in _modules()
        if path.name not in KIND_MODULES or path.parent != PACKAGE
        for line in _branches_on_kind(tree)
    }
    assert found == set()


def test_the_check_above_finds_a_branch_on_kind() -> None:
    tree = ast.parse(
        "if rid.kind is MachineKind.VM:\n    pass\nok = isinstance(facts, (VmFacts, int))\n"
    )
    assert _branches_on_kind(tree) == [1, 3]


def test_the_fleet_engine_reaches_azure_only_through_the_session_and_the_kinds() -> None:
    reached = {
        f"{path.relative_to(PACKAGE)}: {node.module}"
        for path, tree in _modules()
        if path.parent.name == "fleet"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("azhotpatch._azure")
        and node.module != "azhotpatch._azure.session"
    }
    assert reached == set()
