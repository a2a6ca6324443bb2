"""The global options: output format, where Azure is, and ``--debug``.

They are checked together when a command first asks for them (before it connects; ``--help``
never does, so help shows whatever else is on the line), and travel to the commands in one
frozen `GlobalOptions`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Annotated

import typer

from azhotpatch import _validation
from azhotpatch.errors import InvalidArgumentError

# The embedded emulator builds its whole world in memory before the command starts.
MAX_EMULATED_MACHINES = 100_000
MAX_EMULATED_SUBSCRIPTIONS = 1_000


class Output(str, enum.Enum):
    table = "table"
    json = "json"


@dataclass(frozen=True)
class GlobalOptions:
    output: Output = Output.table
    emulator: str | None = None  # a generated fleet for an embedded emulator
    emulator_url: str | None = None  # an emulator already serving there
    cloud: str = "AzureCloud"
    endpoint: str | None = None
    ca_bundle: str | None = None
    time_scale: float | None = None
    debug: bool = False
    connect_timeout: float = 10.0

    @property
    def json(self) -> bool:
        return self.output is Output.json


def settings(ctx: typer.Context) -> GlobalOptions:
    """The checked global options, from any command's context."""
    root = ctx.find_root()
    if "checked" not in root.meta:
        root.meta["checked"] = checked(root.obj)
    found: GlobalOptions = root.meta["checked"]
    return found


def global_options(
    ctx: typer.Context,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table (for people) or json (for scripts)")
    ] = Output.table,
    emulator: Annotated[
        str | None,
        typer.Option(
            help="run against an embedded emulator with this generated fleet, fresh for each "
            "command (e.g. sample:300, clean:10000@20)",
        ),
    ] = None,
    emulator_url: Annotated[
        str | None,
        typer.Option(help="an emulator already serving there (python -m azhotpatch.testing)"),
    ] = None,
    cloud: Annotated[
        str, typer.Option(help="AzureCloud, AzureUSGovernment or AzureChinaCloud")
    ] = "AzureCloud",
    endpoint: Annotated[str | None, typer.Option(help="Resource Manager URL override")] = None,
    ca_bundle: Annotated[str | None, typer.Option(help="CA bundle to trust (PEM)")] = None,
    time_scale: Annotated[
        float | None,
        typer.Option(
            help="emulator clock speed, Azure seconds per wall second (default 600 with "
            "--emulator; give it with --endpoint when that is an emulator)"
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="show tracebacks and the Azure SDKs' own warnings")
    ] = False,
    connect_timeout: Annotated[
        float,
        typer.Option(help="seconds to try connecting before Azure counts as unreachable (exit 69)"),
    ] = 10.0,
) -> None:
    """Bring Windows Server on Azure and Azure Arc into Hotpatch, and keep it patched.

    Global options go before or after the command. Exit codes: 0 all succeeded, 1 some
    skipped (none failed), 2 some failed, 64 bad input or usage (nothing changed), 69 Azure
    unreachable or sign-in failed, 70 internal error, 74 the journal could not be written,
    75 the journal is in use by another run, 130 interrupted (SIGINT), 143 terminated
    (SIGTERM).
    """
    _quiet_identity(debug)
    ctx.obj = GlobalOptions(
        output,
        emulator,
        emulator_url,
        cloud,
        endpoint,
        ca_bundle,
        time_scale,
        debug,
        connect_timeout,
    )


def checked(given: GlobalOptions) -> GlobalOptions:
    """The settings with every value checked, or the first `InvalidArgumentError`."""
    from azhotpatch.clouds import get_cloud

    targets = [
        f"--{name}" for name in ("emulator", "emulator_url", "endpoint") if getattr(given, name)
    ]
    if len(targets) > 1:
        raise InvalidArgumentError(
            " and ".join(t.replace("_", "-") for t in targets),
            "name two different Azures to talk to",
            fix="give one of --emulator, --emulator-url or --endpoint",
        )
    get_cloud(given.cloud)
    if given.time_scale is not None:
        _validation.time_scale(given.time_scale)
        if not targets:
            raise InvalidArgumentError(
                "--time-scale",
                "speeds up an emulator's clock, and no emulator is given",
                fix="leave it out for Azure, or add --emulator, --emulator-url or --endpoint",
            )
    return GlobalOptions(
        output=given.output,
        emulator=fleet_spec(given.emulator) if given.emulator is not None else None,
        emulator_url=_url(given.emulator_url, "--emulator-url"),
        cloud=given.cloud,
        endpoint=_url(given.endpoint, "--endpoint"),
        ca_bundle=(
            _validation.ca_bundle(given.ca_bundle, "--ca-bundle")
            if given.ca_bundle is not None
            else None
        ),
        time_scale=given.time_scale,
        debug=given.debug,
        connect_timeout=_validation.optional_seconds(given.connect_timeout, "--connect-timeout")
        or 10.0,
    )


def _url(value: str | None, argument: str) -> str | None:
    return _validation.endpoint(value, argument) if value is not None else None


def fleet_spec(text: str, argument: str = "--emulator") -> str:
    """A generated fleet the embedded emulator can hold (``sample:300``, ``clean:1000@4``)."""
    from azhotpatch.testing.estate import FleetSpec

    try:
        spec = FleetSpec.parse(text)
    except ValueError as error:
        raise InvalidArgumentError(argument, str(error), fix="e.g. sample:300") from None
    if spec.machines > MAX_EMULATED_MACHINES or spec.subscriptions > MAX_EMULATED_SUBSCRIPTIONS:
        raise InvalidArgumentError(
            argument,
            f"{text!r} asks for {spec.machines} machines in {spec.subscriptions} subscriptions",
            fix=f"generate at most {MAX_EMULATED_MACHINES} machines in "
            f"{MAX_EMULATED_SUBSCRIPTIONS} subscriptions",
        )
    return text


def _quiet_identity(debug: bool) -> None:
    """Without credentials, azure-identity logs a warning per credential it tried (a dozen
    lines) before the error we print anyway, whose message already names the failure and
    the fix; those lines are kept for ``--debug``."""
    level = logging.NOTSET if debug else logging.ERROR
    logging.getLogger("azure.identity").setLevel(level)
