"""The HTML report's page is written in its own languages: the skeleton, the style and the
table's script are package data inlined as the page is rendered, not Python strings; the
script and the Python that writes the table's data agree on the names of its fields; the
files ship in the wheel's package; and the page's policy lets only the inlined script run."""

from __future__ import annotations

import ast
import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azhotpatch.fleet import _report_html
from azhotpatch.fleet.report import Report

PACKAGE = Path(_report_html.__file__).resolve().parent.parent
ASSETS = Path(_report_html.__file__).resolve().parent / "report_assets"

# What only a page, a style sheet or a script says (the page's skeleton, a <style> or
# <script> block, a CSS rule, JavaScript), looked for in every string literal of the package.
# Markup built around data (a table row, an SVG path, a style attribute) is not among them.
ELSEWHERE = {
    "page skeleton or block": re.compile(
        r"<\s*(?:!doctype|html|head|body|meta|link|script|style)\b", re.IGNORECASE
    ),
    "CSS rule": re.compile(
        r"[\w\])*-]\s*\{\s*(?:background|border|color|content|cursor|display|flex|font|gap|"
        r"height|margin|max-width|min-width|padding|text-align|vertical-align|width)\s*:"
    ),
    "JavaScript": re.compile(
        r"\bfunction\s*\(|=>\s*\{|addEventListener|\bdocument\.\w|\bvar\s+\w+\s*=|"
        r"JSON\.parse|innerHTML"
    ),
}


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string literal (an f-string with each value as ``X``), docstrings aside."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside_fstrings.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) else "X")
            yield node.lineno, "".join(str(p) for p in parts)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | inside_fstrings
        ):
            yield node.lineno, node.value


def _written_in_python(source: str) -> list[str]:
    """``line: language`` for each string literal of ``source`` in a page's languages."""
    return sorted(
        {
            f"{line}: {language}"
            for line, text in _strings(ast.parse(source))
            for language, pattern in ELSEWHERE.items()
            if pattern.search(text)
        }
    )


def test_no_page_skeleton_style_or_script_is_written_in_python() -> None:
    found = {
        f"{path.relative_to(PACKAGE)}:{where}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for where in _written_in_python(path.read_text(encoding="utf-8"))
    }
    assert found == set()


def test_the_check_above_finds_a_skeleton_a_style_sheet_and_a_script() -> None:
    source = (
        '"""A docstring may say <script> and body{color:red}."""\n'
        'PAGE = """<!DOCTYPE html>\\n<html>{body}</html>"""\n'
        'rule = f".pill.{name}{{background:{color}}}"\n'
        'STYLE = "\\nbody{font:14px/1.45 system-ui}"\n'
        'SCRIPT = r"(function () { var data = 1; }());"\n'
        'cell = f\'<td class="num" style="color:{c}">{n:,}</td>\'\n'
        'spec = "{value:>10}"\n'
    )
    assert _written_in_python(source) == [
        "2: page skeleton or block",
        "3: CSS rule",
        "4: CSS rule",
        "5: JavaScript",
    ]


def _names_the_script_reads(script: str) -> set[str]:
    """The fields the table's script reads by a name of its own: by ``value(row, "name")``,
    ``position.name`` or ``position["name"]``."""
    return {
        *re.findall(r'value\(\w+, "(\w+)"\)', script),
        *re.findall(r"position\.(\w+)", script),
        *re.findall(r'position\["(\w+)"\]', script),
    }


def layout_names(data: dict[str, Any]) -> set[str]:
    """Every field a table's data names for the script to read: its columns and their
    tooltips, the searched fields, the category, the shared lists."""
    return {
        *(column["key"] for column in data["columns"]),
        *(column["title"] for column in data["columns"] if "title" in column),
        *data["searched"],
        data["category"],
        *data["shared"],
    }


def test_the_script_reads_the_table_by_the_names_python_writes() -> None:
    """The script names no field: every name it reads comes from the data, which names only
    fields its rows have."""
    script = _report_html.asset(_report_html.SCRIPT)
    assert _names_the_script_reads(script) == set()
    assert "value(row, column.key)" in script  # what the check above would miss if renamed
    data = _report_html.machine_rows(
        Report(actions=("enable",), machines=(), elapsed=0.0), _report_html._RunTime(None)
    )
    names = layout_names(data)
    assert {"name", "outcome", "code", "message", "subscription"} <= names
    assert names <= set(data["fields"]) == set(_report_html.FIELDS)
    assert re.findall(r"\w\[\d+\]", script) == []  # no value read by its position


def test_the_page_files_ship_inside_the_package_and_end_no_element_early() -> None:
    for name in (_report_html.SKELETON, _report_html.STYLE, _report_html.SCRIPT):
        assert (ASSETS / name).is_file()
        assert _report_html.asset(name) == (ASSETS / name).read_text(encoding="utf-8")
    assert "</script" not in _report_html.asset(_report_html.SCRIPT).lower()
    assert "</style" not in _report_html.asset(_report_html.STYLE).lower()
    assert "$" not in _report_html.asset(_report_html.SCRIPT) + _report_html.asset(
        _report_html.STYLE
    )


def test_the_page_s_policy_names_the_hash_of_the_script_inlined_in_it() -> None:
    page = _report_html.render(Report(actions=("enable",), machines=(), elapsed=0.0))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)  # the JSON is not run
    assert scripts == [_report_html.asset(_report_html.SCRIPT)]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy.group(1)
    assert "unsafe" not in policy.group(1).split("script-src", 1)[1]
