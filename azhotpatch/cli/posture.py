"""``status`` without resource ids: where every machine in the fleet filter stands (see
`azhotpatch.aio.Hotpatch.posture`), as a table, JSON or CSV; ``--html`` also writes it as a
page that opens offline, ``--save`` keeps a snapshot and ``--since`` compares with one. Exit 0
when every machine is current, 1 when some are not (as ``status --scheduled`` exits 1 for
machines on no schedule).

Every file named is checked before any request: a snapshot that cannot be read, a builds
file that is not one, a path that cannot be written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from azhotpatch import _validation as validation
from azhotpatch.cli.errors import COMMAND_LINE
from azhotpatch.cli.output import emit, jsonable, show
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.fleet.report import ExitCode

if TYPE_CHECKING:
    from azhotpatch.cli.connect import Connection
    from azhotpatch.cli.settings import GlobalOptions
    from azhotpatch.fleet.posture import Posture

SAVE = Annotated[
    str | None,
    typer.Option("--save", help="also write the posture to this file, to compare later (--since)"),
]
HTML = Annotated[
    str | None,
    typer.Option(
        "--html",
        help="also write the posture as one self-contained HTML page (opens offline)",
        show_default=False,
    ),
]
SINCE = Annotated[
    str | None,
    typer.Option("--since", help="compare with a posture saved earlier (--save): what changed"),
]
STALE_AFTER = Annotated[
    float,
    typer.Option("--stale-after", help="days an assessment may be old before it is stale"),
]
BUILDS = Annotated[
    str | None,
    typer.Option(
        "--builds",
        help='JSON file of release builds azhotpatch does not know: {"26100": {"2026-11": 7309}}',
    ),
]


@dataclass(frozen=True)
class PostureOptions:
    """What ``status`` was asked for a fleet's posture, checked."""

    csv: bool = False
    save: str | None = None
    html: str | None = None
    since: Posture | None = None
    stale_after: timedelta = timedelta(days=7)
    builds: dict[str, dict[str, int]] | None = None

    @classmethod
    def checked(
        cls,
        *,
        csv: bool,
        save: str | None,
        html: str | None = None,
        since: str | None,
        stale_after: float,
        builds: str | None,
    ) -> PostureOptions:
        from azhotpatch.fleet.posture import Posture

        if save is not None:
            validation.output_file(save, "save", "posture.json")
        if html is not None:
            validation.output_file(html, "html", "posture.html")
        days = validation.optional_seconds(stale_after, "stale_after") or 0.0
        if days > 3650:
            raise InvalidArgumentError(
                "stale_after",
                f"{stale_after!r} days is more than ten years",
                fix="give the days an assessment may be old, e.g. 7",
            )
        return cls(
            csv=csv,
            save=save,
            html=html,
            since=Posture.load(since, argument="since") if since is not None else None,
            stale_after=timedelta(days=days),
            builds=_builds(builds),
        )


def _builds(path: str | None) -> dict[str, dict[str, int]] | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidArgumentError(
            "builds",
            f"{path} could not be read as JSON ({error})",
            fix='give a JSON file such as {"26100": {"2026-11": 7309}}',
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgumentError(
            "builds", f"{path} holds no object", fix='e.g. {"26100": {"2026-11": 7309}}'
        )
    from azhotpatch.posture_rules import BuildTable

    BuildTable({}).with_builds(data)  # checked now, before any request
    return data


def show_posture(
    settings: GlobalOptions,
    connection: Connection,
    keywords: dict[str, Any],
    options: PostureOptions,
) -> None:
    """Read the posture, save it and write its page if asked, print it (and what changed),
    and exit 0 when every machine is current, 1 when some are not."""
    posture = connection.client.posture(
        stale_after=options.stale_after, builds=options.builds, **keywords
    ).in_words(COMMAND_LINE)
    if options.save is not None:
        posture.save(options.save)
    if options.html is not None:
        posture.write_html(options.html)
    changes = posture.since(options.since) if options.since is not None else None
    if options.csv:
        show(posture.to_csv())
    elif settings.json:
        document = {"posture": posture.as_dict()}
        if changes is not None:
            document["since"] = changes.as_dict()
        show(json.dumps(jsonable(document), indent=2))
    else:
        emit(settings, posture)
        if changes is not None:
            show("\n" + changes.text())
    raise typer.Exit(int(ExitCode.SUCCEEDED if posture.compliant else ExitCode.SKIPPED))
