"""The layout the code promises, checked: kinds of machine are told apart only inside their
own objects, only `_azure/` and `_operations/` speak to the Azure SDKs, and the fleet engine
reaches Azure only through the session and the operations, the command line only through the
facade."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "azhotpatch"
# The kind objects (and the table that holds them) are where each kind's difference lives;
# the emulator models each kind of machine as Azure does.
KIND_MODULES = {"vm.py", "arc.py", "kinds.py"}
OPERATIONS = PACKAGE / "_operations"
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
        if path.name not in KIND_MODULES or path.parent != OPERATIONS
        for line in _branches_on_kind(tree)
    }
    assert found == set()


def test_the_check_above_finds_a_branch_on_kind() -> None:
    tree = ast.parse(
        "if rid.kind is MachineKind.VM:\n    pass\nok = isinstance(facts, (VmFacts, int))\n"
    )
    assert _branches_on_kind(tree) == [1, 3]


def _imported(tree: ast.Module) -> list[tuple[int, str]]:
    """Each module a file imports, with its line: ``import a.b`` and ``from a.b import c``
    name ``a.b``, wherever they stand (in a function, under ``TYPE_CHECKING``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _all_modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


# `_azure/` owns the SDK clients (construction, pipeline, retry and pacing, LRO handling,
# error mapping); `_operations/` calls operations on the clients its `Session` hands out.
# Nothing else imports the Azure SDKs, so a new call cannot bypass the policy. The emulator
# (`testing/`) is exempt: it stands in for Azure and Entra ID, and its credentials must be
# azure-core credential objects (``AccessToken``) for the real SDK clients to accept them.
SPEAKS_TO_THE_SDK = {"_azure", "_operations"}
EXEMPT_FROM_THE_SDK_RULE = {"testing"}


def _sdk_imports_outside_the_azure_layers(modules: list[tuple[Path, ast.Module]]) -> set[str]:
    return {
        f"{path.relative_to(PACKAGE)}:{line}: {name}"
        for path, tree in modules
        if path.relative_to(PACKAGE).parts[0] not in SPEAKS_TO_THE_SDK | EXEMPT_FROM_THE_SDK_RULE
        for line, name in _imported(tree)
        if name == "azure" or name.startswith("azure.")
    }


def test_only_the_azure_layers_import_the_azure_sdks() -> None:
    assert _sdk_imports_outside_the_azure_layers(_all_modules()) == set()


def test_the_check_above_finds_an_sdk_import_in_the_fleet_engine() -> None:
    tree = ast.parse(
        "from azure.mgmt.compute.models import VirtualMachine\n"
        "def f() -> None:\n    import azure.core.exceptions\n"
    )
    found = _sdk_imports_outside_the_azure_layers([(PACKAGE / "fleet" / "x.py", tree)])
    assert found == {
        "fleet/x.py:1: azure.mgmt.compute.models",
        "fleet/x.py:3: azure.core.exceptions",
    }
    assert _sdk_imports_outside_the_azure_layers([(OPERATIONS / "x.py", tree)]) == set()


# What each upper layer may import of the private ones below it: the fleet engine reaches
# Azure through the session and the operations (never the pacer, the retry policy or the
# clients directly); the command line is a skin over the public API and imports neither.
ALLOWED_BELOW = {
    "fleet": ("azhotpatch._azure.session", "azhotpatch._operations"),
    "cli": (),
}


def _reaches_below(modules: list[tuple[Path, ast.Module]]) -> set[str]:
    found = set()
    for path, tree in modules:
        layer = path.relative_to(PACKAGE).parts[0]
        if layer not in ALLOWED_BELOW:
            continue
        for line, name in _imported(tree):
            private = name.startswith(("azhotpatch._azure", "azhotpatch._operations"))
            allowed = any(
                name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED_BELOW[layer]
            )
            if private and not allowed:
                found.add(f"{path.relative_to(PACKAGE)}:{line}: {name}")
    return found


def test_the_fleet_engine_and_the_command_line_reach_azure_only_through_what_they_may() -> None:
    assert _reaches_below(_modules()) == set()


def test_the_check_above_finds_the_fleet_engine_or_the_cli_reaching_past_it() -> None:
    tree = ast.parse(
        "from azhotpatch._azure.session import Session\n"
        "from azhotpatch._azure.pacing import Pacer\n"
        "from azhotpatch._operations.kinds import KINDS\n"
    )
    assert _reaches_below([(PACKAGE / "fleet" / "x.py", tree)]) == {
        "fleet/x.py:2: azhotpatch._azure.pacing"
    }
    assert _reaches_below([(PACKAGE / "cli" / "x.py", tree)]) == {
        "cli/x.py:1: azhotpatch._azure.session",
        "cli/x.py:2: azhotpatch._azure.pacing",
        "cli/x.py:3: azhotpatch._operations.kinds",
    }


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
STEP_MODULES = ("_machine_steps.py", "_patch_step.py", "_remediation_step.py", "_run_context.py")


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


# The public surface is what is documented: a module without a leading underscore (outside the
# emulator and the command line, which have their own pages) is named in the API reference or
# re-exported by a public package's ``__init__``. Anything else is internal and says so with
# its name, so users can tell what they may import.
REFERENCE = PACKAGE.parent / "docs" / "reference.md"
OWN_PAGES = {"testing", "cli"}


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _public_modules(paths: list[Path]) -> list[str]:
    return [
        _dotted(path)
        for path in paths
        if path.name != "__init__.py"
        and not any(part.startswith("_") for part in path.relative_to(PACKAGE).parts)
        and path.relative_to(PACKAGE).parts[0] not in OWN_PAGES
    ]


def _undocumented(modules: list[str], reference: str, inits: dict[str, str]) -> set[str]:
    """The modules neither named by a ``::: module[.member]`` line of the reference nor named
    in a public ``__init__`` (an import or a lazy-loading table)."""
    named = [line.split()[1] for line in reference.splitlines() if line.startswith(":::")]
    return {
        module
        for module in modules
        if not any(target == module or target.startswith(module + ".") for target in named)
        and not any(re.search(rf"\b{re.escape(module)}\b", text) for text in inits.values())
    }


def _public_inits() -> dict[str, str]:
    return {
        _dotted(path): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("__init__.py"))
        if not any(part.startswith("_") for part in path.relative_to(PACKAGE).parts[:-1])
    }


def test_every_public_module_is_documented_or_re_exported() -> None:
    modules = _public_modules(sorted(PACKAGE.rglob("*.py")))
    reference = REFERENCE.read_text(encoding="utf-8")
    assert _undocumented(modules, reference, _public_inits()) == set()


def test_the_check_above_finds_an_undocumented_public_module() -> None:
    paths = [
        PACKAGE / "fleet" / "plan.py",
        PACKAGE / "fleet" / "_runner.py",
        PACKAGE / "_operations" / "vm.py",
        PACKAGE / "cli" / "app.py",
        PACKAGE / "ids.py",
        PACKAGE / "lonely.py",
    ]
    modules = _public_modules(paths)
    assert modules == ["azhotpatch.fleet.plan", "azhotpatch.ids", "azhotpatch.lonely"]
    reference = "# API\n\n::: azhotpatch.fleet.plan.Plan\n"
    inits = {"azhotpatch": '_LAZY = {"ResourceId": "azhotpatch.ids"}'}
    assert _undocumented(modules, reference, inits) == {"azhotpatch.lonely"}
