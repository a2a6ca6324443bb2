"""``remediate``: measure an Arc machine's Hotpatch prerequisites in the guest (Run Command)
and, when asked, fix them; restarts only where ``--reboot`` allows. ``run --remediate`` does
the same for a fleet (see `azhotpatch.cli.runs`)."""

from __future__ import annotations

from typing import Annotated

import typer

from azhotpatch.cli.connect import connect, emulated
from azhotpatch.cli.options import IDS, NO_FILTER, machines
from azhotpatch.cli.output import emit, show
from azhotpatch.cli.settings import settings
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.fleet.report import ExitCode

REBOOT = Annotated[
    str | None,
    typer.Option(
        help="when a restart may happen: now, baseline (the next baseline month's window) or "
        "an ISO 8601 time; default: never",
        show_default=False,
    ),
]
UNPLANNED = Annotated[
    list[str] | None,
    typer.Option(help="an unplanned baseline month, YYYY-MM (repeat)", show_default=False),
]


def register(app: typer.Typer) -> None:
    app.command()(remediate)


def remediate(
    ctx: typer.Context,
    ids: IDS = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="set what is missing (default: only measure)")
    ] = False,
    reboot: REBOOT = None,
    unplanned: UNPLANNED = None,
    scripts: Annotated[
        bool, typer.Option("--scripts", help="print the scripts that would run, and stop")
    ] = False,
) -> None:
    """Measure VBS, UEFI/Secure Boot, build and CHPE on Arc machines (a read-only script);
    with --fix set what is missing; restart only as --reboot allows."""
    from azhotpatch import remediation

    if scripts:
        show("\n\n".join(f"# what it changes: {s.changes}\n{s.text}" for s in remediation.SCRIPTS))
        raise typer.Exit(int(ExitCode.SUCCEEDED))
    chosen_settings = settings(ctx)
    if not ids:  # no fleet filter here: a script runs only on machines named one by one
        raise InvalidArgumentError(
            "machines",
            "none given",
            fix="give the resource ids of the Arc machines to measure (a plan lists the "
            "machines blocked by VBS or CHPE apart from the others)",
        )
    targets = machines(ids, NO_FILTER, emulated=emulated(chosen_settings))
    # the restart policy is the library's to check, before its first call sends anything
    with connect(chosen_settings) as connection:
        results = [
            connection.client.remediate(rid, fix=fix, reboot=reboot, unplanned=unplanned or ())
            for rid in targets.ids
        ]
    emit(chosen_settings, results)
    every_one = all(r.ready for r in results)
    raise typer.Exit(int(ExitCode.SUCCEEDED if every_one else ExitCode.SKIPPED))
