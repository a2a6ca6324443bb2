"""Issue acceptance: the posture's HTML page, opened in a real headless browser (Debian's
chromium), as the run report's page is. It makes no request; it draws its two charts, a bar
per subscription with its machines per verdict and a bar per bin of days since the last
install; every cell of its machine table is the machine's own posture, found by its
column's key; sorting and filtering by verdict work; and a machine's name carrying markup
runs nothing. Without a browser: the page names no external URL, and ``status --html``
writes it (or refuses a path it cannot write, before any request)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azhotpatch.cli.app import app
from azhotpatch.fleet import _posture_html, _report_html
from azhotpatch.fleet.posture import MachinePosture, Posture
from azhotpatch.posture_rules import Verdict
from azhotpatch.testing import Emulator
from tests.posture.test_estate import builds

from .chromium import Page, chromium, require_browser
from .test_report_assets import layout_names

START = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
# A name cannot hold "/" (it ends a resource id), a reason's message can (it quotes Azure's
# values, e.g. an image's SKU): between them, markup that would end the data's element and
# start a script of its own, and add an image with a handler to the table.
INJECTED_NAME = "vm-<script>document.title = 'injected'<img src=x onerror=alert(1)>"
INJECTED_MESSAGE = "SKU '</script><script>document.title = 'injected'</script>' is not known"


@pytest.fixture(scope="module")
def posture() -> Posture:
    """A sample estate's posture, judged with the emulator's release builds so that machines
    behind are behind by a known number of releases."""
    with (
        Emulator(fleet="sample:300", start=START, time_scale=600) as emu,
        emu.client() as client,
    ):
        found = client.posture(subscriptions=sorted(emu.world.subscriptions), builds=builds(emu))
    assert len(found.machines) == 300
    return found


@pytest.fixture(scope="module")
def page_file(posture: Posture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return posture.write_html(tmp_path_factory.mktemp("posture") / "posture.html")


async def _column(page: Page, key: str) -> list[str]:
    """The text of the column with this key, in the rows shown."""
    return list(
        await page.evaluate(
            "(() => { const keys = [...document.querySelectorAll('#machines-table th button')]"
            f".map(b => b.dataset.key); const n = keys.indexOf({key!r}) + 1; "
            "return [...document.querySelectorAll(`#machines-table tbody td:nth-child(${n})`)]"
            ".map(td => td.textContent); })()"
        )
    )


async def _shown(page: Page) -> str:
    return str(await page.evaluate("document.getElementById('shown').textContent"))


async def _select_verdict(page: Page, verdict: str) -> None:
    await page.evaluate(
        "(() => { const s = document.getElementById('category'); "
        f"s.value = {verdict!r}; s.dispatchEvent(new Event('change')); }})()"
    )


AGES = (  # the histogram's bins: (fewest whole days since the last install, label)
    (0, "0-7 days"),
    (8, "8-14 days"),
    (15, "15-30 days"),
    (31, "31-60 days"),
    (61, "61-90 days"),
    (91, "91-180 days"),
    (181, "over 180 days"),
)


def _days_bin(machine: MachinePosture, taken: datetime) -> str:
    """The histogram's bin of the machine, worked out here from its last install."""
    if machine.last_install is None:
        return "never installed"
    days = (taken - machine.last_install) / timedelta(days=1)
    return [label for fewest, label in AGES if days >= fewest][-1]


async def test_the_page_opens_offline_with_its_counts_and_two_charts(
    posture: Posture, page_file: Path
) -> None:
    browser = require_browser()
    async with chromium(browser) as page:
        await page.open(page_file.as_uri())
        assert page.requests == [page_file.as_uri()]
        assert page.errors == []
        tiles = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.tile')].map("
            "t => [t.dataset.verdict, Number(t.querySelector('.count').textContent)]))"
        )
        assert tiles == {v.value: posture.counts.get(v.value, 0) for v in Verdict}

        # compliance by subscription: one bar each, its parts the machines per verdict
        stacks = await page.evaluate(
            "[...document.querySelectorAll('#by-subscription svg g.stack')].map(g => "
            "[g.dataset.label, Object.fromEntries([...g.querySelectorAll('rect.part')].map("
            "r => [r.dataset.part, Number(r.dataset.value)]))])"
        )
        per_subscription: dict[str, Counter[str]] = {}
        for machine in posture.machines:
            per_subscription.setdefault(machine.subscription, Counter())[machine.verdict.value] += 1
        assert len(per_subscription) >= 2
        assert dict(stacks) == {s: dict(c) for s, c in per_subscription.items()}
        assert len(stacks) == len(per_subscription)

        # days since the last install: one bar per bin, each as long as its machines
        bars = await page.evaluate(
            "[...document.querySelectorAll('#since-install svg rect:has(title)')].map("
            "r => r.querySelector('title').textContent)"
        )
        ages = Counter(_days_bin(m, posture.taken) for m in posture.machines)
        labels = [label for _, label in AGES] + ["never installed"]
        assert len(bars) == len(labels)
        drawn = {b.split(": ")[0]: int(b.split(": ")[1].replace(",", "")) for b in bars}
        assert drawn == {label: ages.get(label, 0) for label in labels}
        assert len(ages) >= 2
        assert page.errors == []


def _expected_cells(machine: MachinePosture, posture: Posture) -> dict[str, Callable[[str], bool]]:
    """What each column of the machine's row must show, from its posture record (not from
    the page's data): by the column's key, a test of the cell's text."""
    fix = machine.fix

    def at(moment: datetime | None) -> Callable[[str], bool]:
        def judge(text: str) -> bool:
            if moment is None:
                return text == ""
            shown = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
            return timedelta(0) <= moment - shown < timedelta(minutes=1)

        return judge

    return {
        "name": lambda text: text == machine.name,
        "subscription": lambda text: text == machine.subscription,
        "group": lambda text: text == machine.resource_group,
        "location": lambda text: text == machine.location,
        "kind": lambda text: text == machine.kind,
        "verdict": lambda text: text == machine.verdict.value,
        "behind": lambda text: text == ("" if machine.behind is None else str(machine.behind)),
        "reason": lambda text: text == machine.reasons[0].rule.value,
        "fix": lambda text: text == (fix.render(posture.words) if fix else ""),
        "assessed": at(machine.last_assessment),
        "installed": at(machine.last_install),
    }


async def test_each_cell_is_the_machine_s_own_posture_by_its_column_s_key(
    posture: Posture, page_file: Path
) -> None:
    """Every row of every page of the table, each cell found by its column's key, shows
    what the posture holds for that machine (the first reason's words as its tooltip)."""
    browser = require_browser()
    machines = {(m.subscription, m.resource_group, m.name): m for m in posture.machines}
    assert len(machines) == len(posture.machines)
    async with chromium(browser) as page:
        await page.open(page_file.as_uri())
        keys = await page.evaluate(
            "[...document.querySelectorAll('#machines-table th button')].map(b => b.dataset.key)"
        )
        shown: list[list[list[str]]] = []
        while True:
            shown += await page.evaluate(
                "[...document.querySelectorAll('#machines-table tbody tr')].map(r => "
                "[[...r.cells].map(c => c.textContent), [...r.cells].map(c => c.title)])"
            )
            if await page.evaluate("document.getElementById('next').disabled"):
                break
            await page.click("#next")
        assert page.errors == []
    assert len(shown) == 300
    seen = set()
    for cells, titles in shown:
        by_key = dict(zip(keys, cells, strict=True))
        machine = machines[(by_key["subscription"], by_key["group"], by_key["name"])]
        expected = _expected_cells(machine, posture)
        assert set(keys) == set(expected), "a column the test does not know how to judge"
        wrong = {k: t for k, t in by_key.items() if not expected[k](t)}
        assert wrong == {}, machine.resource
        assert dict(zip(keys, titles, strict=True))["reason"] == machine.reasons[0].message
        seen.add(machine.resource)
    assert len(seen) == 300
    assert {m.verdict for m in posture.machines} >= {Verdict.CURRENT, Verdict.BEHIND}


async def test_the_table_sorts_by_a_column_and_filters_by_a_verdict(
    posture: Posture, page_file: Path
) -> None:
    browser = require_browser()
    behind = [m for m in posture.machines if m.verdict is Verdict.BEHIND]
    assert len({m.behind for m in behind}) >= 2
    async with chromium(browser) as page:
        await page.open(page_file.as_uri())
        assert await _shown(page) == "300 of 300 machines"

        # releases behind: numbers in order, machines without one last; again, reversed
        await page.click("#machines-table th button[data-key='behind']")
        values = await _column(page, "behind")
        numbers = [int(v) for v in values if v]
        assert numbers == sorted(m.behind for m in posture.machines if m.behind is not None)
        assert values == [str(n) for n in numbers] + [""] * (len(values) - len(numbers))
        await page.click("#machines-table th button[data-key='behind']")
        values = await _column(page, "behind")
        assert values[0] == str(max(numbers))
        assert [int(v) for v in values if v] == sorted(numbers, reverse=True)
        await page.click("#machines-table th button[data-key='name']")
        names = await _column(page, "name")
        assert names == sorted(m.name for m in posture.machines)[:100]

        # a verdict chosen: only its machines, all of them
        await _select_verdict(page, "behind")
        assert await _shown(page) == f"{len(behind)} of 300 machines"
        assert set(await _column(page, "verdict")) == {"behind"}
        assert sorted(await _column(page, "name")) == sorted(m.name for m in behind)[:100]
        await _select_verdict(page, "")

        # a reason's row of the fixes shows its machines
        await page.click("#reasons-table tr[data-code='ReleasesBehind'] button")
        assert set(await _column(page, "reason")) == {"ReleasesBehind"}
        assert len(await _column(page, "name")) == len(behind)
        assert page.requests == [page_file.as_uri()]
        assert page.errors == []


async def test_markup_in_a_machine_s_name_runs_nothing_and_shows_as_text(
    posture: Posture, tmp_path: Path
) -> None:
    """A name with a script and an image with a handler, and a message that would end the
    data's element and start a script of its own, are shown as the text they are, and the
    page's own script still draws every machine."""
    browser = require_browser()
    first = posture.machines[0]
    reason = replace(first.reasons[0], message=INJECTED_MESSAGE)
    renamed = replace(
        first,
        resource=f"{first.resource.rsplit('/', 1)[0]}/{INJECTED_NAME}",
        reasons=(reason, *first.reasons[1:]),
    )
    path = replace(posture, machines=(renamed, *posture.machines[1:])).write_html(
        tmp_path / "injected.html"
    )
    async with chromium(browser) as page:
        await page.open(path.as_uri())
        assert await page.evaluate("document.title") == (
            f"azhotpatch posture: {posture.taken:%Y-%m-%d %H:%M} UTC"
        )
        assert await _shown(page) == "300 of 300 machines"
        await page.type_into("#filter", "onerror")
        assert await _column(page, "name") == [INJECTED_NAME]
        tooltip = await page.evaluate(
            "document.querySelector('#machines-table tbody td.code').title"
        )
        assert tooltip == INJECTED_MESSAGE
        assert await page.evaluate("document.querySelectorAll('#machines-table img').length") == 0
        assert page.requests == [path.as_uri()]
        assert page.errors == []


def test_the_page_names_no_external_url_and_lets_only_its_own_script_run(
    posture: Posture,
) -> None:
    page = _posture_html.render(posture)
    # the SVG namespace is a name, never fetched; nothing else may look like an address
    addresses = set(re.findall(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", page, re.IGNORECASE))
    assert addresses == {"http://www.w3.org/2000/svg"}
    assert re.findall(r"\b(?:src|href|srcset|action)\s*=|url\(|@import", page) == []
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    assert policy.group(1).startswith("default-src 'none';")
    script = _report_html.asset(_report_html.SCRIPT)
    assert re.findall(r"<script>(.*?)</script>", page, re.DOTALL) == [script]
    assert f"script-src '{_report_html.script_hash(script)}';" in policy.group(1)


def test_the_table_s_data_names_only_fields_its_rows_have(posture: Posture) -> None:
    data = _posture_html.machine_rows(posture)
    assert layout_names(data) <= set(data["fields"])
    assert {"name", "verdict", "behind", "reason", "fix"} <= layout_names(data)
    assert all(len(row) == len(data["fields"]) for row in data["rows"])


def test_status_html_writes_the_page_and_refuses_a_path_it_cannot_write(tmp_path: Path) -> None:
    page = tmp_path / "posture.html"
    result = CliRunner().invoke(app, ["--emulator", "sample:40", "status", "--html", str(page)])
    assert result.exit_code == 1, result.output
    assert "Posture of 40 machines" in result.output
    assert 'id="machine-data"' in page.read_text(encoding="utf-8")
    refused = CliRunner().invoke(
        app, ["--emulator", "sample:40", "status", "--html", str(tmp_path)]
    )
    assert refused.exit_code == 64, refused.output
    assert "is a directory" in refused.output
    assert "Posture of" not in refused.output
