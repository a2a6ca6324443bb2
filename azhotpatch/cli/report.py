"""``report``: a fleet run's report rebuilt from its journal, at any time (after the run, while
it goes on, or after it crashed), printed like ``run`` prints it and, with ``--html``,
written as one self-contained page. Nothing is sent to Azure."""

from __future__ import annotations

from typing import Annotated

import typer

from azhotpatch import _validation
from azhotpatch.cli.options import HTML
from azhotpatch.cli.runs import finish, worded
from azhotpatch.cli.settings import settings


def register(app: typer.Typer) -> None:
    app.command("report")(show_report)


def show_report(
    ctx: typer.Context,
    journal: Annotated[
        str, typer.Option(help="the run's journal (the --journal it was given)", show_default=False)
    ],
    html: HTML = None,
) -> None:
    """A fleet run's report from its journal (after a crash too); reads Azure nothing."""
    from azhotpatch.fleet._history import read_report

    global_options = settings(ctx)
    path = _validation.recorded_journal(journal)
    if html is not None:
        _validation.output_file(html, "--html", "report.html")
    report = read_report(path)
    if html is not None:
        worded(report).write_html(html)
    finish(global_options, report)
