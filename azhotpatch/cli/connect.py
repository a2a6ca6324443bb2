"""The client a command talks through: Azure, an embedded emulator, or one already serving.

Nothing here runs before every input is checked; a command opens its connection last.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azhotpatch.cli.settings import GlobalOptions
from azhotpatch.errors import EndpointUnreachableError, TransientError

if TYPE_CHECKING:
    from azhotpatch.client import Hotpatch
    from azhotpatch.testing import Emulator

FRESH_WORLD_NOTE = (
    "note: --emulator builds a fresh emulated Azure for this command alone; what it changes "
    "is gone when the command ends. To keep one across commands, serve it "
    "(python -m azhotpatch.testing --port 8443 --fleet sample:300 prints its CA bundle path) "
    "and pass --emulator-url https://127.0.0.1:8443 --ca-bundle <that path>.\n"
)


@dataclass(frozen=True)
class Connection:
    client: Hotpatch
    emulator: Emulator | None = None  # the embedded one, when it is
    subscriptions: tuple[str, ...] = ()  # an emulator's; nothing for Azure


def emulated(settings: GlobalOptions) -> bool:
    return bool(settings.emulator or settings.emulator_url)


@contextmanager
def connect(settings: GlobalOptions, *, fleet: str | None = None) -> Iterator[Connection]:
    """A connected client; ``fleet`` is the embedded emulator's when ``--emulator`` is not
    given (the demo)."""
    from azhotpatch.client import Hotpatch

    spec = settings.emulator or fleet
    if spec:
        with _embedded(settings, spec) as connection:
            yield connection
        return
    if settings.emulator_url:
        options, subscriptions = _running_emulator(settings, settings.emulator_url)
        with Hotpatch(**options, connect_timeout=settings.connect_timeout) as client:
            yield Connection(client, None, subscriptions)
        return
    azure: dict[str, Any] = {"cloud": settings.cloud, "connect_timeout": settings.connect_timeout}
    if settings.endpoint:
        azure["endpoint"] = settings.endpoint
    if settings.ca_bundle:
        azure["connection_verify"] = settings.ca_bundle
    if settings.time_scale:
        azure["time_scale"] = settings.time_scale
        azure["polling_interval"] = 30.0 / settings.time_scale
    with Hotpatch(**azure) as client:
        yield Connection(client)


@contextmanager
def _embedded(settings: GlobalOptions, spec: str) -> Iterator[Connection]:
    from azhotpatch.testing import Emulator

    sys.stderr.write(FRESH_WORLD_NOTE)
    with (
        Emulator(fleet=spec, time_scale=settings.time_scale or 600.0, record_requests=False) as emu,
        emu.client() as client,
    ):
        yield Connection(client, emu, tuple(sorted(emu.world.subscriptions)))


def _running_emulator(settings: GlobalOptions, url: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Client options for an emulator in another process (its credential and its clock),
    and the subscriptions it holds."""
    from azhotpatch.testing import EmulatorCredential

    info = _emulator_info(url, settings.ca_bundle, settings.connect_timeout)
    scale = float(settings.time_scale or info["time_scale"])
    options = {
        "credential": EmulatorCredential(lifetime=info.get("token_lifetime")),
        "endpoint": url,
        "connection_verify": settings.ca_bundle or True,
        "time_scale": scale,
        "polling_interval": 30.0 / scale,
        "operation_seconds": info.get("operation_seconds"),
    }
    return options, tuple(info.get("subscriptions", ()))


def _emulator_info(url: str, ca_bundle: str | None, timeout: float) -> dict[str, Any]:
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=ca_bundle)
    try:
        with urllib.request.urlopen(  # noqa: S310 (https only, checked)
            f"{url}/_emulator/info", context=context, timeout=timeout
        ) as answer:
            info = json.load(answer)
        float(info["time_scale"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = getattr(error, "reason", None) or error
        unreachable = isinstance(error, (ConnectionError, TimeoutError)) or isinstance(
            reason, (ConnectionError, TimeoutError)
        )
        problem, fix = _not_reached(url, reason)
        raise (EndpointUnreachableError if unreachable else TransientError)(
            problem, resource=f"--emulator-url {url}", fix=fix
        ) from None
    found: dict[str, Any] = info
    return found


def _not_reached(url: str, reason: object) -> tuple[str, str]:
    """(problem, fix) for an emulator URL that did not answer: through a proxy (HTTPS_PROXY,
    which urllib follows), the proxy is named first, since it is the likelier culprit."""
    from azhotpatch._proxy import proxy_for, shown

    proxy = proxy_for(url)
    if proxy is None:
        return (
            f"could not reach an azhotpatch emulator there: {reason}",
            "start one (python -m azhotpatch.testing) and pass its URL, with --ca-bundle "
            "set to the CA bundle path it printed",
        )
    host = urllib.parse.urlsplit(url).hostname or url
    return (
        f"could not reach an azhotpatch emulator there through the proxy {shown(proxy)} "
        f"(HTTPS_PROXY): {reason}",
        f"check that the proxy runs and can be reached, or add {host} to NO_PROXY (an "
        "emulator on this machine needs no proxy); or start one (python -m "
        "azhotpatch.testing) and pass its URL",
    )
