"""The ``azhotpatch`` application: the global options and every command, assembled.

Command modules import the library inside their functions, so ``--help`` loads typer and
nothing of Azure.
"""

from __future__ import annotations

import typer

from azhotpatch.cli import demo, devices, features, machines, offline, remediation, report, runs
from azhotpatch.cli.group import CommandGroup
from azhotpatch.cli.settings import global_options

GLOBAL_OPTIONS_NOTE = (
    "Global options (--output/-o, --emulator, --emulator-url, --cloud, --endpoint, --ca-bundle, "
    "--time-scale, --debug) go before or after the command; azhotpatch --help explains them."
)


def build() -> typer.Typer:
    """A fresh application (tests build their own to add a command)."""
    app = typer.Typer(
        cls=CommandGroup,
        name="azhotpatch",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(global_options)
    for module in (machines, runs, features, offline, demo, devices, remediation, report):
        module.register(app)
    for command in app.registered_commands:
        command.epilog = command.epilog or GLOBAL_OPTIONS_NOTE
    return app


app = build()


def main() -> None:
    app()
