"""What azhotpatch renders, put into the documentation pages when the site is built.

A page marks the spot with an HTML comment, ``<!-- rendered: NAME -->``, and this MkDocs hook
(``hooks:`` in mkdocs.yml) replaces it with the library's own HTML for NAME (a ``_repr_html_``,
as a notebook shows it). The pictures on the pages are then the current library's output,
never a pasted copy that drifts from it. An unknown NAME fails the build.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from mkdocs.exceptions import PluginError

from azhotpatch import calendar
from azhotpatch.testing import Emulator

MARKER = re.compile(r"<!-- rendered: ([\w-]+) -->")


def _year_plan() -> str:
    """The calendar of the concepts page's example: 2026, with March an unplanned baseline."""
    return calendar.year_plan(2026, unplanned=["2026-03"])._repr_html_()


def _fleet_plan() -> str:
    """The plan of "Check a fleet"'s first example: the emulator's sample estate of 60
    machines (seed 3), to enable. The emulator starts and answers in about a second."""
    with (
        Emulator(fleet="sample:60", seed=3, time_scale=600) as emulator,
        emulator.client() as hotpatch,
    ):
        subscriptions = sorted(emulator.world.subscriptions)
        return hotpatch.plan(subscriptions=subscriptions, actions=["enable"])._repr_html_()


RENDERINGS: dict[str, Callable[[], str]] = {
    "year-plan": _year_plan,
    "fleet-plan": _fleet_plan,
}


@functools.cache
def rendering(name: str) -> str:
    """NAME's HTML, in a div that says what made it; made once per build process."""
    if name not in RENDERINGS:
        known = ", ".join(sorted(RENDERINGS))
        raise PluginError(f"<!-- rendered: {name} -->: no such rendering (known: {known})")
    return f'<div class="library-rendering" data-rendering="{name}">{RENDERINGS[name]()}</div>'


def on_page_content(html: str, **_: Any) -> str:
    """Replace each marker in a page's HTML with the rendering it names."""
    return MARKER.sub(lambda match: rendering(match[1]), html)
