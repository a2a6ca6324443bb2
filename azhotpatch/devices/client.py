"""`Devices`: the synchronous API (scripts, notebooks). Same methods as
`azhotpatch.devices.aio.Devices`, with the same signatures (a test holds them to it), run on
a private event loop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from azhotpatch._config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT
from azhotpatch._sync import LoopThread

if TYPE_CHECKING:
    from azhotpatch import calendar
    from azhotpatch._azure.retry import RetryPolicy
    from azhotpatch._config import Seconds
    from azhotpatch.clouds import Cloud
    from azhotpatch.devices import aio
    from azhotpatch.devices.models import (
        ManagedDevice,
        PolicyPlan,
        QualityUpdatePolicy,
        ReadinessReport,
        StatusReport,
    )
    from azhotpatch.limits import GraphLimits

__all__ = ["Devices"]


class Devices:
    """Windows 11 devices Intune manages; see `azhotpatch.devices.aio.Devices` for the
    options (credential, cloud, endpoint, connection_verify, retry, pacing, limits)."""

    def __init__(
        self,
        credential: Any = None,
        *,
        cloud: str | Cloud = "AzureCloud",
        endpoint: str | None = None,
        connection_verify: bool | str = True,
        polling_interval: Seconds = None,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        limits: GraphLimits | None = None,
        time_scale: float = 1.0,
        deadline: Seconds = DEFAULT_DEADLINE,
        concurrency: int = 16,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
        poll_interval: Seconds = None,
    ) -> None:
        from azhotpatch.devices import aio

        self._async = aio.Devices(
            credential,
            cloud=cloud,
            endpoint=endpoint,
            connection_verify=connection_verify,
            polling_interval=polling_interval,
            retry=retry,
            pacing=pacing,
            limits=limits,
            time_scale=time_scale,
            deadline=deadline,
            concurrency=concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            poll_interval=poll_interval,
        )
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

    def today(self) -> date:
        """See `azhotpatch.devices.aio.Devices.today`."""
        return self._async.today()

    def policies(self) -> list[QualityUpdatePolicy]:
        return self._loop.run(self._async.policies())

    def plan(
        self,
        name: str,
        *,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        hotpatch: bool = True,
        description: str | None = None,
        scope_tags: Iterable[str] | None = None,
    ) -> PolicyPlan:
        """See `azhotpatch.devices.aio.Devices.plan`."""
        return self._loop.run(
            self._async.plan(
                name,
                include=include,
                exclude=exclude,
                hotpatch=hotpatch,
                description=description,
                scope_tags=scope_tags,
            )
        )

    def apply(self, plan: PolicyPlan) -> PolicyPlan:
        return self._loop.run(self._async.apply(plan))

    def enable(
        self,
        name: str = "Hotpatch",
        *,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        description: str | None = None,
        scope_tags: Iterable[str] | None = None,
        dry_run: bool = False,
    ) -> PolicyPlan:
        """See `azhotpatch.devices.aio.Devices.enable`."""
        return self._loop.run(
            self._async.enable(
                name,
                include=include,
                exclude=exclude,
                description=description,
                scope_tags=scope_tags,
                dry_run=dry_run,
            )
        )

    def devices(self, *, windows_only: bool = True) -> list[ManagedDevice]:
        async def collect() -> list[ManagedDevice]:
            return [d async for d in self._async.devices(windows_only=windows_only)]

        return self._loop.run(collect())

    def device(self, device_id: str) -> ManagedDevice:
        return self._loop.run(self._async.device(device_id))

    def readiness(
        self,
        devices: Iterable[str] | None = None,
        *,
        today: date | None = None,
        unplanned: Iterable[calendar.MonthLike] = (),
        baselines: Mapping[str, int] | None = None,
    ) -> ReadinessReport:
        """See `azhotpatch.devices.aio.Devices.readiness`."""
        return self._loop.run(
            self._async.readiness(devices, today=today, unplanned=unplanned, baselines=baselines)
        )

    def status(self, policy: str | None = None, *, today: date | None = None) -> StatusReport:
        """See `azhotpatch.devices.aio.Devices.status`."""
        return self._loop.run(self._async.status(policy, today=today))
