"""How clients reach an `Emulator`: its endpoints, its certificate authority, credentials
for its principals, and clients of the library wired to all three and to its clock.

Each factory spells out the settings of the client it builds (a test holds the lists
together), so a typo in a setting fails where it is written, not deep in a client; kept apart
from the emulator's lifecycle and world so each reads on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from azhotpatch._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_READ_TIMEOUT,
    Seconds,
)
from azhotpatch.testing._server import Server, Tls
from azhotpatch.testing.credentials import AsyncEmulatorCredential, EmulatorCredential
from azhotpatch.testing.msgraph.front import PREFIX as GRAPH_PREFIX
from azhotpatch.testing.world.clock import Clock
from azhotpatch.testing.world.state import World

if TYPE_CHECKING:
    from azhotpatch._azure.retry import RetryPolicy
    from azhotpatch.aio import Hotpatch as AsyncHotpatch
    from azhotpatch.client import Hotpatch
    from azhotpatch.devices.aio import Devices as AsyncDevices
    from azhotpatch.devices.client import Devices
    from azhotpatch.limits import GraphLimits, ThrottleLimits

__all__ = ["ClientWiring"]


class ClientWiring:
    """The emulator's side of a connection: where it listens, whom it trusts, who signs in."""

    clock: Clock
    world: World
    token_lifetime: float | None  # Azure seconds a token lives (None: an hour of wall time)
    _server: Server | None
    _tls: Tls | None

    @property
    def endpoint(self) -> str:
        """The ARM endpoint (``base_url`` for SDK clients)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use `with Emulator() as emu:`")
        return self._server.base_url

    @property
    def ca_path(self) -> str:
        """PEM bundle of the emulator's CA (``connection_verify`` for SDK clients)."""
        if self._tls is None:
            raise RuntimeError("the emulator is not running; use `with Emulator() as emu:`")
        return str(self._tls.ca_path)

    @property
    def graph_endpoint(self) -> str:
        """Microsoft Graph's root on this emulator (``https://graph.microsoft.com``'s stand-in;
        `azhotpatch.devices.Devices(endpoint=...)`)."""
        return self.endpoint + GRAPH_PREFIX

    def credential(self, principal: str = "emulator-user") -> EmulatorCredential:
        return EmulatorCredential(principal, lifetime=self.token_wall_lifetime)

    def async_credential(self, principal: str = "emulator-user") -> AsyncEmulatorCredential:
        return AsyncEmulatorCredential(principal, lifetime=self.token_wall_lifetime)

    @property
    def token_wall_lifetime(self) -> float | None:
        """How long this emulator's tokens live in wall seconds (None: the default hour)."""
        if self.token_lifetime is None:
            return None
        return self.clock.to_wall(self.token_lifetime)

    @property
    def operation_seconds(self) -> dict[str, float]:
        """How long this emulator's VM updates, Arc license updates, assessments and installs
        take (Azure seconds), in the shape `Hotpatch(operation_seconds=...)` takes."""
        durations = self.world.durations
        return {
            "update": durations.vm_update,
            "license": durations.license_profile,
            "assess": durations.assess,
            "install": durations.install,
        }

    @property
    def polling_interval(self) -> float:
        """Seconds between LRO polls that match Azure's 30 s cadence at this time scale."""
        return 30.0 / self.clock.time_scale

    def client(
        self,
        *,
        credential: Any = None,
        polling_interval: Seconds = None,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        limits: ThrottleLimits | None = None,
        deadline: Seconds = DEFAULT_DEADLINE,
        connections: int = 200,
        operation_seconds: Mapping[str, float] | None = None,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
    ) -> Hotpatch:
        """An `azhotpatch.Hotpatch` wired to this emulator: its endpoint, its certificate
        authority and its clock. The other settings are `Hotpatch`'s own (a test holds the
        two lists together); ``credential`` defaults to the emulator's signed-in user,
        ``polling_interval`` to Azure's cadence on this clock and ``operation_seconds`` to
        how long this emulator's operations take."""
        from azhotpatch.client import Hotpatch

        return Hotpatch(
            credential or self.credential(),
            endpoint=self.endpoint,
            connection_verify=self.ca_path,
            time_scale=self.clock.time_scale,
            polling_interval=self._polling_interval(polling_interval),
            retry=retry,
            pacing=pacing,
            limits=limits,
            deadline=deadline,
            connections=connections,
            operation_seconds=operation_seconds or self.operation_seconds,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def async_client(
        self,
        *,
        credential: Any = None,
        polling_interval: Seconds = None,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        limits: ThrottleLimits | None = None,
        deadline: Seconds = DEFAULT_DEADLINE,
        connections: int = 200,
        operation_seconds: Mapping[str, float] | None = None,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
    ) -> AsyncHotpatch:
        """An `azhotpatch.aio.Hotpatch` wired to this emulator (for asyncio callers); the
        settings are `client`'s."""
        from azhotpatch.aio import Hotpatch as AsyncHotpatch

        return AsyncHotpatch(
            credential or self.async_credential(),
            endpoint=self.endpoint,
            connection_verify=self.ca_path,
            time_scale=self.clock.time_scale,
            polling_interval=self._polling_interval(polling_interval),
            retry=retry,
            pacing=pacing,
            limits=limits,
            deadline=deadline,
            connections=connections,
            operation_seconds=operation_seconds or self.operation_seconds,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def devices_client(
        self,
        *,
        credential: Any = None,
        polling_interval: Seconds = None,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        limits: GraphLimits | None = None,
        deadline: Seconds = DEFAULT_DEADLINE,
        concurrency: int = 16,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
    ) -> Devices:
        """An `azhotpatch.devices.Devices` wired to this emulator's Microsoft Graph; the
        other settings are `Devices`' own (``polling_interval`` None: Intune's cadence on
        this clock)."""
        from azhotpatch.devices.client import Devices

        return Devices(
            credential or self.credential(),
            endpoint=self.graph_endpoint,
            connection_verify=self.ca_path,
            time_scale=self.clock.time_scale,
            polling_interval=polling_interval,
            retry=retry,
            pacing=pacing,
            limits=limits,
            deadline=deadline,
            concurrency=concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def async_devices_client(
        self,
        *,
        credential: Any = None,
        polling_interval: Seconds = None,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        limits: GraphLimits | None = None,
        deadline: Seconds = DEFAULT_DEADLINE,
        concurrency: int = 16,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
    ) -> AsyncDevices:
        """An `azhotpatch.devices.aio.Devices` wired to this emulator's Microsoft Graph (for
        asyncio callers); the settings are `devices_client`'s."""
        from azhotpatch.devices.aio import Devices as AsyncDevices

        return AsyncDevices(
            credential or self.async_credential(),
            endpoint=self.graph_endpoint,
            connection_verify=self.ca_path,
            time_scale=self.clock.time_scale,
            polling_interval=polling_interval,
            retry=retry,
            pacing=pacing,
            limits=limits,
            deadline=deadline,
            concurrency=concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def _polling_interval(self, asked: Seconds) -> Seconds:
        return self.polling_interval if asked is None else asked
