"""`Devices`: the synchronous API (scripts, notebooks). Same methods as
`azhotpatch.devices.aio.Devices`, run on a private event loop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from azhotpatch._sync import LoopThread

if TYPE_CHECKING:
    from azhotpatch.devices import aio
    from azhotpatch.devices.models import (
        ManagedDevice,
        PolicyPlan,
        QualityUpdatePolicy,
        ReadinessReport,
        StatusReport,
    )

__all__ = ["Devices"]


class Devices:
    """Windows 11 devices Intune manages; see `azhotpatch.devices.aio.Devices` for the
    options (credential, cloud, endpoint, connection_verify, retry, pacing, limits)."""

    def __init__(self, credential: Any = None, **options: Any) -> None:
        from azhotpatch.devices import aio

        self._async = aio.Devices(credential, **options)
        self._loop = LoopThread("azhotpatch-devices")

    def close(self) -> None:
        try:
            self._loop.run(self._async.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def aio(self) -> aio.Devices:
        """The async client this one drives."""
        return self._async

    def policies(self) -> list[QualityUpdatePolicy]:
        return self._loop.run(self._async.policies())

    def plan(self, name: str, **options: Any) -> PolicyPlan:
        """See `azhotpatch.devices.aio.Devices.plan`."""
        return self._loop.run(self._async.plan(name, **options))

    def apply(self, plan: PolicyPlan) -> PolicyPlan:
        return self._loop.run(self._async.apply(plan))

    def enable(self, name: str = "Hotpatch", **options: Any) -> PolicyPlan:
        """See `azhotpatch.devices.aio.Devices.enable`."""
        return self._loop.run(self._async.enable(name, **options))

    def devices(self, *, windows_only: bool = True) -> list[ManagedDevice]:
        async def collect() -> list[ManagedDevice]:
            return [d async for d in self._async.devices(windows_only=windows_only)]

        return self._loop.run(collect())

    def device(self, device_id: str) -> ManagedDevice:
        return self._loop.run(self._async.device(device_id))

    def readiness(self, devices: Iterable[str] | None = None, **options: Any) -> ReadinessReport:
        """See `azhotpatch.devices.aio.Devices.readiness`."""
        return self._loop.run(self._async.readiness(devices, **options))

    def status(self, policy: str | None = None, **options: Any) -> StatusReport:
        """See `azhotpatch.devices.aio.Devices.status`."""
        return self._loop.run(self._async.status(policy, **options))
