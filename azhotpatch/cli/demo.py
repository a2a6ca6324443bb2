"""The emulator from the command line: ``emulator`` serves one, ``demo`` runs the whole job
against an embedded one."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated

import typer

from azhotpatch import _validation
from azhotpatch.cli.connect import connect
from azhotpatch.cli.options import JOURNAL, Machines
from azhotpatch.cli.output import console
from azhotpatch.cli.runs import finish, run_fleet, run_options
from azhotpatch.cli.settings import fleet_spec, settings
from azhotpatch.errors import InvalidArgumentError


def register(app: typer.Typer) -> None:
    app.command("emulator")(serve_emulator)
    app.command()(demo)


def serve_emulator(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 8443,
    fleet: Annotated[str | None, typer.Option(help="e.g. sample:200")] = "sample:200",
    time_scale: Annotated[float, typer.Option(help="Azure seconds per wall second")] = 60.0,
    seed: Annotated[int, typer.Option()] = 0,
    faults: Annotated[float, typer.Option(help="share of requests hit by faults, 0-1")] = 0.0,
    ca_path: Annotated[str, typer.Option(help="where to write its CA bundle")] = (
        "azhotpatch-emulator-ca.pem"
    ),
) -> None:
    """Serve the Azure emulator (same as python -m azhotpatch.testing)."""
    from azhotpatch.testing.__main__ import main

    settings(ctx)  # the global options are refused when wrong, though none applies here
    _validation.count(port, "--port", minimum=0, maximum=65535)
    _validation.time_scale(time_scale)
    _validation.output_file(ca_path, "--ca-path", "emulator-ca.pem")
    if not 0.0 <= faults <= 1.0:
        raise InvalidArgumentError("--faults", f"{faults} is not a share", fix="pass 0 to 1")
    arguments = ["--port", str(port), "--time-scale", str(time_scale), "--seed", str(seed)]
    arguments += ["--faults", str(faults), "--ca-path", ca_path]
    if fleet:
        arguments += ["--fleet", fleet_spec(fleet, "--fleet")]
    raise typer.Exit(main(arguments))


def demo(
    ctx: typer.Context,
    fleet: Annotated[str, typer.Option(help="generated fleet")] = "sample:300@3",
    journal: JOURNAL = None,
) -> None:
    """The whole job against an embedded emulator: inventory, plan, enable, assess, install,
    and the report, in well under a minute."""
    from azhotpatch import calendar

    chosen_settings = settings(ctx)
    if chosen_settings.emulator_url or chosen_settings.endpoint:
        raise InvalidArgumentError(
            "--emulator-url / --endpoint",
            "do not apply: the demo always runs on an embedded emulator",
            fix="leave them out (or use run against that endpoint instead)",
        )
    spec = chosen_settings.emulator or fleet_spec(fleet, "--fleet")
    run_options(journal, None)
    chosen_settings = dataclasses.replace(chosen_settings, emulator=spec)
    out = console()
    with connect(chosen_settings) as connection:
        emulator = connection.emulator
        assert emulator is not None
        if not chosen_settings.json:
            out.rule("azhotpatch demo: a fleet on the embedded Azure emulator")
            year = calendar.year_plan(date.today().year)
            out.print(
                f"Hotpatch calendar {year.render_text()}  ({year.reboot_months} reboot months)"
            )
        report = run_fleet(
            chosen_settings,
            connection,
            ["enable", "assess", "install"],
            Machines(),
            journal=journal,
            concurrency=None,
        )
        if not chosen_settings.json:
            stats = emulator.stats()
            out.print(
                f"emulator: {stats.requests} requests served, "
                f"{stats.throttled_total} throttled, "
                f"{stats.machines_with_repeat_installs} machines installed twice"
            )
    finish(chosen_settings, report)
