"""``features register``: the Compute preview features older automation expects."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from azhotpatch import _validation
from azhotpatch.cli.connect import connect
from azhotpatch.cli.output import emit
from azhotpatch.cli.settings import settings

features_app = typer.Typer(help="Compute preview features.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")


@features_app.command("register")
def features_register(
    ctx: typer.Context,
    subscription: Annotated[str, typer.Argument(help="subscription id")],
    wait: Annotated[bool, typer.Option(help="wait until registered")] = True,
    timeout: Annotated[int, typer.Option(help="minutes to wait, 1-1440")] = 20,
) -> None:
    """Register the Compute preview features and re-register Microsoft.Compute."""
    chosen_settings = settings(ctx)
    subscription_id = _validation.subscription_id(subscription, "subscription")
    minutes = _validation.count(timeout, "--timeout", minimum=1, maximum=24 * 60)
    with connect(chosen_settings) as connection:
        result = connection.client.register_preview_features(
            subscription_id, wait=wait, timeout=timedelta(minutes=minutes)
        )
    emit(chosen_settings, result)
