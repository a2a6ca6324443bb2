"""The settings every client takes, checked in one place.

`azhotpatch.aio.Hotpatch` (Resource Manager) and `azhotpatch.devices.aio.Devices`
(Microsoft Graph) are configured the same way: which cloud, which endpoint and CA bundle,
how often to poll, how hard to retry, whether to pace, how fast the clock runs, and how long
to wait. Each client spells these keywords out (so IDEs and type checkers see them) and hands
them to `ClientOptions.build`, which checks them before any request and turns them into the
form the sessions use. A setting with one meaning therefore has one name, one default and one
error message in both clients; tests/test_api_signatures.py holds the two to it. The module
is light (no SDK, no aiohttp) so that the synchronous clients can take their defaults from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from azhotpatch import _validation as validation
from azhotpatch.clouds import Cloud, get_cloud
from azhotpatch.errors import InvalidArgumentError

if TYPE_CHECKING:
    from azhotpatch._azure.retry import RetryPolicy

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DEADLINE",
    "DEFAULT_READ_TIMEOUT",
    "ClientOptions",
    "Seconds",
]

Seconds = float | timedelta | None
"""A length of time: seconds or a `timedelta`; None means the default."""

DEFAULT_DEADLINE = timedelta(hours=1)
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


L = TypeVar("L", bound="_SpedUp")


class _SpedUp(Protocol):
    """Limits that can run on a faster clock (`ThrottleLimits`, `GraphLimits`)."""

    def sped_up(self: L, time_scale: float) -> L: ...


@dataclass(frozen=True)
class ClientOptions:
    """The settings shared by every client, checked and in seconds.

    ``retry`` is already on the client's clock (scaled by ``time_scale``); ``endpoint`` is
    None where the cloud's own endpoint for the service is meant (Resource Manager for
    `Hotpatch`, Microsoft Graph for `Devices`): see `endpoint_or`. ``polling_interval`` is
    None where the service's own cadence is meant.
    """

    cloud: Cloud
    endpoint: str | None
    connection_verify: bool | str
    polling_interval: float | None
    retry: RetryPolicy
    pacing: bool
    time_scale: float
    deadline: float
    connect_timeout: float
    read_timeout: float

    @classmethod
    def build(
        cls,
        *,
        cloud: str | Cloud,
        endpoint: str | None,
        connection_verify: bool | str,
        polling_interval: Seconds,
        retry: RetryPolicy | None,
        pacing: bool,
        time_scale: float,
        deadline: Seconds,
        connect_timeout: Seconds,
        read_timeout: Seconds,
    ) -> ClientOptions:
        """Every setting checked, before the client exists (so before any request)."""
        scale = validation.time_scale(time_scale)
        policy = _retry_policy(retry)
        return cls(
            cloud=get_cloud(cloud),
            endpoint=None if endpoint is None else validation.endpoint(endpoint),
            connection_verify=_trust(connection_verify),
            polling_interval=validation.optional_seconds(
                polling_interval, "polling_interval", zero=True
            ),
            retry=policy.scaled(scale) if scale != 1 else policy,
            pacing=validation.flag(pacing, "pacing"),
            time_scale=scale,
            deadline=_seconds(deadline, "deadline", DEFAULT_DEADLINE.total_seconds()),
            connect_timeout=_seconds(connect_timeout, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=_seconds(read_timeout, "read_timeout", DEFAULT_READ_TIMEOUT),
        )

    def endpoint_or(self, default: str) -> str:
        """The endpoint given, or the service's ``default`` (without a trailing slash)."""
        return (self.endpoint or default).rstrip("/")

    def on_its_clock(self, limits: L) -> L:
        """Throttling limits as the client's clock sees them (sped up against an emulator)."""
        if self.time_scale == 1:
            return limits
        return limits.sped_up(self.time_scale)


def _seconds(value: Seconds, argument: str, default: float) -> float:
    checked = validation.optional_seconds(value, argument)
    return default if checked is None else checked


def _trust(connection_verify: bool | str) -> bool | str:
    """True, False, or the path of a readable CA bundle."""
    if isinstance(connection_verify, bool):
        return connection_verify
    return validation.ca_bundle(connection_verify, "connection_verify")


def _retry_policy(retry: RetryPolicy | None) -> RetryPolicy:
    # imported here: the synchronous clients read this module's defaults when they are
    # imported, and the retry policy brings aiohttp and tenacity (a third of a second)
    from azhotpatch._azure.retry import RetryPolicy

    if retry is None:
        return RetryPolicy()
    if not isinstance(retry, RetryPolicy):
        raise InvalidArgumentError(
            "retry",
            f"{retry!r} is not a RetryPolicy",
            fix="pass e.g. RetryPolicy(attempts=6), or leave retry out",
        )
    return retry
