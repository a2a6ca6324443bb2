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


# The orchestration stays in small classes composed along their seams (a run, one machine's
# steps, an assessment or install, a remediation, the run's record, the journal's file,
# schema and records, the facade's single-machine and fleet methods), not in one that grows.
MOST_LINES_IN_A_CLASS = 350


def _class_lengths(tree: ast.Module) -> dict[str, int]:
    return {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }


def test_no_class_in_the_fleet_engine_or_the_async_facade_passes_350_lines() -> None:
    watched = [*sorted((PACKAGE / "fleet").glob("*.py")), PACKAGE / "aio.py"]
    long = {
        f"{path.relative_to(PACKAGE)}: {name} ({lines} lines)"
        for path in watched
        for name, lines in _class_lengths(ast.parse(path.read_text(encoding="utf-8"))).items()
        if lines > MOST_LINES_IN_A_CLASS
    }
    assert long == set()


def test_the_check_above_counts_a_class_s_lines() -> None:
    tree = ast.parse("class A:\n    x = 1\n\n    def f(self) -> None:\n        pass\n")
    assert _class_lengths(tree) == {"A": 5}


# A run without a journal gets a `NoJournal`, so a machine's steps never ask whether there is one.
STEP_MODULES = ("machine_steps.py", "patch_step.py", "remediation_step.py", "run_context.py")


def _journal_none_checks(tree: ast.Module) -> list[int]:
    """Lines that compare a ``journal`` with something (None), or test one for truth."""
    lines = []
    for node in ast.walk(tree):
        tested: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            tested = [node.left, *node.comparators]
        elif isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)):
            tested = _truth_tested(node.test)
        if any(
            (isinstance(n, ast.Attribute) and n.attr == "journal")
            or (isinstance(n, ast.Name) and n.id == "journal")
            for n in tested
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


def _truth_tested(test: ast.expr) -> list[ast.expr]:
    """The expressions a condition tests for truth (``a``, ``b`` in ``a and not b``)."""
    if isinstance(test, ast.BoolOp):
        return [part for value in test.values for part in _truth_tested(value)]
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _truth_tested(test.operand)
    return [test]


def test_a_machine_s_steps_never_ask_whether_the_run_has_a_journal() -> None:
    found = {
        f"fleet/{name}:{line}"
        for name in STEP_MODULES
        for line in _journal_none_checks(
            ast.parse((PACKAGE / "fleet" / name).read_text(encoding="utf-8"))
        )
    }
    assert found == set()


def test_the_check_above_finds_a_question_about_the_journal() -> None:
    tree = ast.parse(
        "if self.journal is not None:\n    pass\nx = a.step() if self.journal else None\n"
    )
    assert _journal_none_checks(tree) == [1, 3]
