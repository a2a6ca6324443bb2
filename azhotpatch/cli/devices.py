"""``devices check|enable|status``: Windows 11 Enterprise devices Intune manages, over
Microsoft Graph. Exit codes as for servers: 0 all ready (or done), 1 some devices not ready,
2 a failure, 64 bad input, 69 Graph unreachable or sign-in failed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from azhotpatch.cli.output import emit
from azhotpatch.cli.settings import GlobalOptions, settings
from azhotpatch.fleet.report import ExitCode

if TYPE_CHECKING:
    from azhotpatch.devices.client import Devices

devices_app = typer.Typer(
    help="Windows 11 Enterprise devices in Intune (Microsoft Graph): readiness, the hotpatch "
    "quality update policy, status.",
    no_args_is_help=True,
)
GROUPS = Annotated[
    list[str] | None,
    typer.Option(help="Entra group object id (repeat)", show_default=False),
]


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")


@contextmanager
def connect_devices(global_options: GlobalOptions) -> Iterator[Devices]:
    """A `Devices` client: on an embedded emulator (as many devices as its fleet has
    machines), on one already serving, or on the cloud's Microsoft Graph."""
    from azhotpatch.devices.client import Devices

    if global_options.emulator:
        from azhotpatch.cli.connect import FRESH_WORLD_NOTE
        from azhotpatch.testing import Emulator, FleetSpec

        sys.stderr.write(FRESH_WORLD_NOTE)
        count = FleetSpec.parse(global_options.emulator).machines
        with (
            Emulator(devices=count, time_scale=global_options.time_scale or 600.0) as emulator,
            emulator.devices_client() as client,
        ):
            yield client
        return
    if global_options.emulator_url:
        from azhotpatch.cli.connect import _emulator_info
        from azhotpatch.testing import EmulatorCredential

        info = _emulator_info(
            global_options.emulator_url, global_options.ca_bundle, global_options.connect_timeout
        )
        with Devices(
            EmulatorCredential(lifetime=info.get("token_lifetime")),
            endpoint=info.get("graph_endpoint") or f"{global_options.emulator_url}/graph",
            connection_verify=global_options.ca_bundle or True,
            time_scale=float(global_options.time_scale or info["time_scale"]),
            connect_timeout=global_options.connect_timeout,
        ) as client:
            yield client
        return
    options: dict[str, Any] = {
        "cloud": global_options.cloud,
        "connect_timeout": global_options.connect_timeout,
    }
    if global_options.ca_bundle:
        options["connection_verify"] = global_options.ca_bundle
    with Devices(**options) as client:
        yield client


@devices_app.command("check")
def check(
    ctx: typer.Context,
    device: Annotated[
        list[str] | None,
        typer.Argument(help="Intune managed device ids (default: every Windows device)"),
    ] = None,
    unplanned: Annotated[
        list[str] | None,
        typer.Option(help="a month with an unplanned baseline, YYYY-MM (repeat)"),
    ] = None,
) -> None:
    """Can these devices take hotpatches? Every reason, each with its fix."""
    from azhotpatch import _validation

    global_options = settings(ctx)
    ids = [_validation.guid(d, "device", what="Intune managed device") for d in device or ()]
    months = [str(_validation.iso_date(f"{m}-01", "--unplanned"))[:7] for m in unplanned or ()]
    with connect_devices(global_options) as client:
        report = client.readiness(ids or None, unplanned=months)
    emit(global_options, report)
    raise typer.Exit(int(ExitCode.SKIPPED if report.not_ready else ExitCode.SUCCEEDED))


@devices_app.command("enable")
def enable(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="the quality update policy's display name")] = (
        "Hotpatch"
    ),
    include: GROUPS = None,
    exclude: GROUPS = None,
    description: Annotated[str | None, typer.Option(help="the policy's description")] = None,
    dry_run: Annotated[bool, typer.Option(help="show what would change; change nothing")] = False,
) -> None:
    """Create or converge the hotpatch quality update policy and its group assignments
    (only what differs is written; a second run writes nothing)."""
    from azhotpatch.devices import policy
    from azhotpatch.devices.models import PolicySpec

    global_options = settings(ctx)
    PolicySpec(name, description=description)  # checked before connecting
    policy.wanted_targets(include, exclude)
    with connect_devices(global_options) as client:
        result = client.enable(
            name, include=include, exclude=exclude, description=description, dry_run=dry_run
        )
    emit(global_options, result)


@devices_app.command("status")
def status(
    ctx: typer.Context,
    policy: Annotated[
        str | None, typer.Option(help="one policy, by name or id (default: every one)")
    ] = None,
) -> None:
    """Per-device status from each quality update policy's report, and why each device gets
    hotpatches (a policy, Autopatch's default, or none)."""
    global_options = settings(ctx)
    with connect_devices(global_options) as client:
        report = client.status(policy)
    emit(global_options, report)
