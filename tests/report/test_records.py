"""What the pictures are drawn from: requests per bucket over time, the journal's record of a
run (and a journal of the schema before it), plans and reports grouped by reason, and the
command line that writes the page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from azhotpatch._azure.traffic import Traffic
from azhotpatch.cli import app
from azhotpatch.fleet._history import read_report
from azhotpatch.fleet.journal import SCHEMA_VERSION
from azhotpatch.fleet.report import Outcome
from azhotpatch.limits import Bucket
from azhotpatch.testing import Emulator, FleetSpec

WRITES = ("arm", "sub", "writes")
PER_VM = ("compute-resource", "VMGuestPatchOperation", "/subscriptions/sub/x/vm-1")


def test_traffic_counts_per_bucket_and_keeps_its_totals_as_bins_widen() -> None:
    now = [1000.0]
    traffic = Traffic(
        lambda key: Bucket(200, 600), width=1.0, max_bins=8, clock=lambda: now[0], drained=True
    )
    for second in range(20):  # 20 s through 8 bins of 1 s: the bins widen to 4 s
        traffic.record([WRITES, PER_VM], 429 if second == 3 else 200, at=1000.0 + second + 0.5)
    rows = traffic.rows()
    assert traffic.width == 4.0
    assert {row.bucket for row in rows} == {"arm/sub/writes"}  # no per-machine buckets
    assert sum(row.requests for row in rows) == 20
    assert sum(row.throttled for row in rows) == 1
    assert max(row.requests for row in rows) == 4
    drained = traffic.drain()
    assert sum(row.requests for row in drained) == 20  # what a journal adds up
    assert traffic.drain() == []
    traffic.record([WRITES], 200, at=1030.0)
    assert [row.requests for row in traffic.drain()] == [1]
    assert traffic.ceilings == {"arm/sub/writes": Bucket(200, 600)}
    undrained = Traffic(lambda key: Bucket(200, 600), clock=lambda: now[0])
    undrained.record([WRITES], 200, at=1000.5)
    assert [row.requests for row in undrained.rows()] == [1]
    assert undrained.drain() == []  # no journal takes it: nothing kept twice


def test_a_journal_of_the_previous_schema_is_read_and_upgraded_by_the_run_that_resumes_it(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.sqlite"
    spec = FleetSpec(vms=40, arc=10, subscriptions=1, seed=3)
    with Emulator(fleet=spec, seed=3, time_scale=600) as emu, emu.client() as client:
        subscriptions = sorted(emu.world.subscriptions)
        cut = client.run(subscriptions=subscriptions, journal=journal, deadline=0.3)
        cut_short = {m.resource.lower() for m in cut.machines if m.code == "DeadlineExceeded"}
        assert cut_short
        assert {r.lower() for r in read_report(journal).unfinished} == cut_short
        with sqlite3.connect(journal) as db:  # as the schema before wrote it
            for table in ("session", "machine", "bucket", "traffic"):
                db.execute(f"DROP TABLE {table}")
            db.execute("UPDATE run SET version = 2")
        older = read_report(journal)  # from its steps alone
        assert older.timeline is not None
        assert older.timeline.traffic == ()
        concluded = {m.resource.lower(): m.outcome for m in older.machines}
        assert all(concluded[m.resource.lower()] is m.outcome for m in cut.machines if m.steps)
        finished = client.run(subscriptions=subscriptions, journal=journal)
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT version FROM run").fetchone()[0] == SCHEMA_VERSION
    rebuilt = read_report(journal)
    assert rebuilt.unfinished == ()
    assert rebuilt.outcomes() == finished.outcomes()


def test_plans_and_reports_group_machines_by_reason_counts_first() -> None:
    with Emulator(fleet="sample:60", seed=3, time_scale=600) as emu, emu.client() as client:
        plan = client.plan(subscriptions=sorted(emu.world.subscriptions))
        report = client.run(plan)
    groups = plan.groups()
    assert groups[0].title.startswith("run ")
    assert len(groups[0].rows) == len(plan.to_run)
    skips = {g.title.removeprefix("skip "): len(g.rows) for g in groups[1:]}
    assert skips == dict(plan.skip_reasons)
    assert [len(g.rows) for g in groups[1:]] == sorted(skips.values(), reverse=True)
    page = plan._repr_html_()
    assert page.index("<details>") > page.index("<td style") > 0  # counts before machines
    assert page.count("<details>") == len(groups)
    text = plan.table(limit=2)
    biggest = groups[1]
    assert f"{biggest.title}: {len(biggest.rows)} machines" in text
    assert f"... and {len(biggest.rows) - 2} more" in text
    assert f"fix: {biggest.fix}" in text

    reasons = report.by_reason()
    assert [o for o, _, _ in reasons] == sorted((o for o, _, _ in reasons), key=lambda o: o.value)
    counted = {(o.value, c): len(found) for o, c, found in reasons}
    assert counted == {tuple(k.split(":")): v for k, v in report.reasons.items()}
    skipped = next(m for m in report.machines if m.outcome is Outcome.SKIPPED)
    assert "Fix:" in (skipped.message or "")  # a skip's message ends with its fix
    assert report._repr_html_().count("<details>") == len(reasons) + 1


def test_the_command_line_writes_the_page_and_rebuilds_it_from_the_journal(
    tmp_path: Path,
) -> None:
    journal, page, rebuilt = tmp_path / "run.sqlite", tmp_path / "run.html", tmp_path / "r.html"
    runner = CliRunner()
    command = ["--emulator", "clean:20", "-o", "json", "run", "--journal", str(journal)]
    ran = runner.invoke(app, [*command, "--html", str(page)])
    assert ran.exit_code == 0, ran.output
    assert "Hotpatch run report" in page.read_text(encoding="utf-8")
    again = runner.invoke(app, ["report", "--journal", str(journal), "--html", str(rebuilt)])
    assert again.exit_code == 0, again.output
    assert "succeeded 20" in again.output
    assert 'data-outcome="succeeded"' in rebuilt.read_text(encoding="utf-8")
    for arguments, said in [
        (["report", "--journal", str(tmp_path / "none.sqlite")], "is not a readable file"),
        (["report", "--journal", str(page)], "not an SQLite database"),
        (["report", "--journal", str(journal), "--html", str(tmp_path)], "is a directory"),
        (
            ["--emulator", "clean:2", "run", "--html", str(tmp_path / "no" / "r.html")],
            "does not exist",
        ),
    ]:
        refused = runner.invoke(app, arguments)
        assert refused.exit_code == 64, (arguments, refused.output)
        assert said in refused.output
