"""The documentation site as a reader gets it: built with ``mkdocs build --strict``, the
notebook is a page that shows its stored calendar and plan, and the concept pages carry the
calendar and a plan as azhotpatch renders them at build time (not pasted copies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from azhotpatch import calendar

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytest.importorskip(
    "mkdocs", reason="mkdocs is not installed: install the docs extra (pip install -e '.[docs]')"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module, as ``nox -s docs`` builds it."""
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    return target


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def rendering(html: str, name: str) -> str:
    """What follows the div the build hook put in place of ``<!-- rendered: NAME -->``."""
    opening = f'<div class="library-rendering" data-rendering="{name}">'
    assert opening in html, f"no {name} rendering in the page"
    return html.split(opening, 1)[1]


def test_the_notebook_page_shows_its_calendar_and_plan(site: Path) -> None:
    notebook = page(site, "notebooks/enroll")
    assert "One-off Hotpatch enrollment in a notebook" in notebook
    assert "Hotpatch 2026: 5 reboot months, 7 hotpatch months" in notebook  # the calendar
    assert notebook.count("<table") >= 3  # calendar, plan, report (and device readiness)
    assert "Plan: enable, assess, install on 60 machines" in notebook
    assert "run enable+assess+install" in notebook  # the plan's first group
    assert (site / "notebooks" / "enroll" / "enroll.ipynb").is_file()  # to download
    assert 'href="enroll.ipynb"' in notebook  # and the page links it


def test_the_concepts_page_shows_the_library_rendered_calendar_and_plan(site: Path) -> None:
    concepts = page(site, "concepts")
    expected = calendar.year_plan(2026, unplanned=["2026-03"])._repr_html_()
    assert rendering(concepts, "year-plan").startswith(f"{expected}</div>")
    plan = rendering(concepts, "fleet-plan")
    assert plan.startswith("<p>Plan: enable on 60 machines")
    assert "<table" in plan
    assert "skip ImageNotSupported" in plan
    # rendered, not pasted: the page's source holds only the markers
    source = (DOCS / "concepts.md").read_text(encoding="utf-8")
    assert "<!-- rendered: year-plan -->" in source
    assert "<table" not in source


def test_every_marker_was_rendered(site: Path) -> None:
    left = [
        path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        if "<!-- rendered:" in path.read_text(encoding="utf-8")
    ]
    assert left == []
    assert "fleet-plan" in page(site, "how-to/check-a-fleet")
