"""Errors stay structured: no code recovers a problem or a fix by taking a rendered message
apart, and the library's words for an argument (``retry_failed=True``) are the command line's
(``--retry-failed``) only where the command line renders them."""

from __future__ import annotations

import ast
from pathlib import Path

import azhotpatch
from azhotpatch.cli.errors import COMMAND_LINE, CommandLineWords
from azhotpatch.errors import (
    JOURNAL,
    PYTHON,
    RETRY_FAILED,
    Command,
    Fix,
    InvalidArgumentError,
    Option,
    TransientError,
)

PACKAGE = Path(azhotpatch.__file__).parent
# What taking a string apart looks like: a method of str, or a regular expression.
_TAKING_APART = {
    "split",
    "rsplit",
    "partition",
    "rpartition",
    "index",
    "rindex",
    "find",
    "rfind",
    "removeprefix",
    "removesuffix",
    "startswith",
    "endswith",
    "search",
    "match",
    "fullmatch",
    "compile",
    "sub",
}
MARKER = "Fix:"


def _splits_a_rendered_message(tree: ast.AST) -> list[int]:
    """Lines that look for the ``Fix:`` a message is rendered with: a call that takes a
    string apart at it, or ``"Fix:" in message``."""
    return [node.lineno for node in ast.walk(tree) if _takes_apart(node) or _looks_in(node)]  # type: ignore[attr-defined]


def _takes_apart(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _TAKING_APART
        and any(_mentions(a) for a in node.args)
    )


def _looks_in(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Compare)
        and any(isinstance(o, ast.In | ast.NotIn) for o in node.ops)
        and _mentions(node.left)
    )


def _mentions(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and MARKER in node.value


def test_no_code_splits_a_rendered_message_to_recover_its_parts() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _splits_a_rendered_message(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


def test_the_check_finds_a_message_taken_apart() -> None:
    """The check above can fail: each way of taking a message apart is found."""
    for code in (
        'message.split(" Fix: ", 1)[1]',
        'text.partition("Fix:")',
        're.search(r"Fix: (.*)", message)',
        '" Fix: " in message',
    ):
        assert _splits_a_rendered_message(ast.parse(code)), code


def test_a_fix_is_worded_by_each_edge() -> None:
    fix = Fix.of("remove the lock, then rerun with the same journal and ", RETRY_FAILED)
    error = TransientError("Azure kept failing", resource="vm-1", fix=fix)
    assert str(error) == (
        "vm-1: Azure kept failing Fix: remove the lock, then rerun with the same journal "
        "and retry_failed=True"
    )
    assert error.fix == fix.render(PYTHON)
    assert error.render(COMMAND_LINE).endswith("rerun with the same journal and --retry-failed")
    choice = Fix.of("pass ", Option("conflicts", "assign"), " or ", JOURNAL, ", or leave ")
    assert choice.render(PYTHON) == "pass conflicts='assign' or journal=, or leave "
    assert choice.render(COMMAND_LINE) == "pass --conflicts assign or --journal, or leave "
    assert Fix.from_data(choice.as_data()) == choice  # as the journal keeps it
    again = Fix.of("restart it, then run ", Command("remediate"), " again")
    assert again.render(PYTHON) == "restart it, then run remediate() again"
    assert again.render(COMMAND_LINE) == "restart it, then run azhotpatch remediate again"
    assert Fix.from_data(again.as_data()) == again
    both = Fix.joined([Fix.of("turn Secure Boot on"), None, again])
    assert both is not None
    assert both.render(COMMAND_LINE) == (
        "turn Secure Boot on; restart it, then run azhotpatch remediate again"
    )
    assert Fix.joined([None]) is None


def test_an_argument_is_named_as_the_command_typed_it() -> None:
    error = InvalidArgumentError("subscriptions", "is empty", fix=Fix.of("pass ", JOURNAL))
    words = CommandLineWords({"subscription": "--subscription", "journal": "--journal"})
    assert error.render(words) == "argument '--subscription': is empty Fix: pass --journal"
    assert str(error) == "argument 'subscriptions': is empty Fix: pass journal="
