"""Printing results: JSON for scripts, text for people. Commands hand over typed results and
never format them; what each result looks like is in `azhotpatch.cli.views`.

JSON is one document on stdout, with ISO 8601 everywhere: timestamps ``2026-12-01T06:42:12
+00:00``, dates ``2026-12-01``, durations ``PT3H30M``, enums by value. Text goes to stdout
unwrapped (a resource id is never split across lines; the terminal folds long lines, and
copying gives the id back whole); messages and progress go to stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from azhotpatch.cli.settings import GlobalOptions


def emit(settings: GlobalOptions, result: Any) -> None:
    """Print a result (or a list of them) for whoever asked."""
    if settings.json:
        sys.stdout.write(json.dumps(jsonable(result), indent=2) + "\n")
        return
    from azhotpatch.cli import views

    show(views.render(result))


def show(rendered: Any) -> None:
    """Text as it is; rich renderables (the report's table) without wrapping."""
    if isinstance(rendered, str):
        sys.stdout.write(rendered.rstrip("\n") + "\n")
        return
    console().print(rendered)


def console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """Plain JSON values for a result: ``as_dict()`` where a result has one, dataclass fields
    otherwise, and ISO 8601 for every time."""
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return jsonable(as_dict(**_in_our_words(as_dict)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return _scalar(value)


def _in_our_words(as_dict: Any) -> dict[str, Any]:
    """The command line's words for a result whose ``as_dict`` words its fixes."""
    if "words" not in inspect.signature(as_dict).parameters:
        return {}
    from azhotpatch.cli.errors import COMMAND_LINE

    return {"words": COMMAND_LINE}


def _scalar(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        from azhotpatch.models import iso_duration

        return iso_duration(value)
    if isinstance(value, (Decimal, PurePath)):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; nothing is cut or wrapped."""
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


def duration(value: timedelta) -> str:
    """``3 h 30 min``: a length, which "03:30" is easily mistaken for a time of day."""
    minutes = int(value.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes or not hours else [])
    return " ".join(parts)


_ISO_DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")


def from_iso_duration(text: str) -> timedelta:
    """``PT3H30M`` (as `jsonable` writes lengths) back to a timedelta."""
    found = _ISO_DURATION.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration of hours, minutes and seconds")
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
