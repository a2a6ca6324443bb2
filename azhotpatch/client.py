"""`Hotpatch`: the synchronous API (scripts, notebooks). Same methods as `azhotpatch.aio`.

from azhotpatch import Hotpatch

with Hotpatch() as hotpatch:          # DefaultAzureCredential, public Azure
    print(hotpatch.check(vm_id))
    hotpatch.enable(vm_id)
    print(hotpatch.install(vm_id))
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from azhotpatch._sync import LoopThread

if TYPE_CHECKING:
    # The async client (and through it the Azure SDKs, about half a second of imports) loads
    # when the first `Hotpatch` is built, so `from azhotpatch import Hotpatch` stays instant
    # for scripts that only use the calendar, the catalog or the emulator.
    from azhotpatch import aio
    from azhotpatch._azure.policies import Metrics
    from azhotpatch._config import Seconds
    from azhotpatch.fleet.inventory import MachineRecord
    from azhotpatch.fleet.plan import Plan
    from azhotpatch.fleet.report import Report
    from azhotpatch.fleet.scheduling import ScheduledStatus
    from azhotpatch.ids import ResourceId
    from azhotpatch.models import (
        Assessment,
        Classification,
        Eligibility,
        Enrollment,
        HotpatchStatus,
        Installation,
        InstallOptions,
        RebootSetting,
        Registration,
    )
    from azhotpatch.remediation import Remediation

__all__ = ["Hotpatch", "PendingOperation"]


class PendingOperation:
    """A started assessment or installation; ``token`` resumes it later (`Hotpatch.resume`)."""

    def __init__(self, loop: LoopThread, pending: aio.PendingOperation) -> None:
        self._loop = loop
        self._pending = pending

    @property
    def token(self) -> str:
        return self._pending.token

    @property
    def resource(self) -> str:
        return self._pending.resource

    @property
    def action(self) -> str:
        return self._pending.action

    def result(self, *, deadline: Seconds = None) -> Assessment | Installation:
        return self._loop.run(self._pending.result(deadline=deadline))

    def __repr__(self) -> str:
        return f"PendingOperation({self.action} on {self.resource})"


class Hotpatch:
    """Hotpatch operations on one machine at a time; see `azhotpatch.aio.Hotpatch` for the
    options (credential, cloud, endpoint, connection_verify, retry, pacing, deadline)."""

    def __init__(self, credential: Any = None, **options: Any) -> None:
        from azhotpatch import aio

        self._async = aio.Hotpatch(credential, **options)
        self._loop = LoopThread()

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self._loop.run(self._async.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Hotpatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def metrics(self) -> Metrics:
        return self._async.metrics

    @property
    def aio(self) -> aio.Hotpatch:
        """The async client this one drives (shares pacing and connections)."""
        return self._async

    # --- operations -------------------------------------------------------------------------

    def check(self, resource_id: str | ResourceId) -> Eligibility:
        return self._loop.run(self._async.check(resource_id))

    def enable(
        self,
        resource_id: str | ResourceId,
        *,
        wait: bool = True,
        force: bool = False,
        deadline: Seconds = None,
    ) -> Enrollment:
        return self._loop.run(
            self._async.enable(resource_id, wait=wait, force=force, deadline=deadline)
        )

    def disable(
        self, resource_id: str | ResourceId, *, wait: bool = True, deadline: Seconds = None
    ) -> Enrollment:
        return self._loop.run(self._async.disable(resource_id, wait=wait, deadline=deadline))

    def status(self, resource_id: str | ResourceId) -> HotpatchStatus:
        return self._loop.run(self._async.status(resource_id))

    def remediate(self, resource_id: str | ResourceId, **options: Any) -> Remediation:
        """See `azhotpatch.aio.Hotpatch.remediate`."""
        return self._loop.run(self._async.remediate(resource_id, **options))

    @overload
    def assess(
        self, resource_id: str | ResourceId, *, wait: Literal[True] = ..., deadline: Seconds = ...
    ) -> Assessment: ...

    @overload
    def assess(
        self, resource_id: str | ResourceId, *, wait: Literal[False], deadline: Seconds = ...
    ) -> PendingOperation: ...

    def assess(
        self, resource_id: str | ResourceId, *, wait: bool = True, deadline: Seconds = None
    ) -> Assessment | PendingOperation:
        if wait:
            return self._loop.run(self._async.assess(resource_id, wait=True, deadline=deadline))
        pending = self._loop.run(self._async.assess(resource_id, wait=False, deadline=deadline))
        return PendingOperation(self._loop, pending)

    @overload
    def install(
        self,
        resource_id: str | ResourceId,
        *,
        classifications: Iterable[str | Classification] = ...,
        reboot: str | RebootSetting = ...,
        max_duration: timedelta = ...,
        kb_include: Iterable[str] = ...,
        kb_exclude: Iterable[str] = ...,
        exclude_kbs_requiring_reboot: bool = ...,
        max_patch_publish_date: datetime | date | None = ...,
        options: InstallOptions | None = ...,
        wait: Literal[True] = ...,
        deadline: Seconds = ...,
        install_again: bool = ...,
        released: date | str | None = ...,
    ) -> Installation: ...

    @overload
    def install(
        self,
        resource_id: str | ResourceId,
        *,
        classifications: Iterable[str | Classification] = ...,
        reboot: str | RebootSetting = ...,
        max_duration: timedelta = ...,
        kb_include: Iterable[str] = ...,
        kb_exclude: Iterable[str] = ...,
        exclude_kbs_requiring_reboot: bool = ...,
        max_patch_publish_date: datetime | date | None = ...,
        options: InstallOptions | None = ...,
        wait: Literal[False],
        deadline: Seconds = ...,
        install_again: bool = ...,
        released: date | str | None = ...,
    ) -> PendingOperation: ...

    def install(
        self,
        resource_id: str | ResourceId,
        *,
        classifications: Iterable[str | Classification] = ("Critical", "Security"),
        reboot: str | RebootSetting = "IfRequired",
        max_duration: timedelta = timedelta(hours=2),
        kb_include: Iterable[str] = (),
        kb_exclude: Iterable[str] = (),
        exclude_kbs_requiring_reboot: bool = False,
        max_patch_publish_date: datetime | date | None = None,
        options: InstallOptions | None = None,
        wait: bool = True,
        deadline: Seconds = None,
        install_again: bool = False,
        released: date | str | None = None,
    ) -> Installation | PendingOperation:
        """See `azhotpatch.aio.Hotpatch.install`."""
        arguments: dict[str, Any] = {
            "classifications": classifications,
            "reboot": reboot,
            "max_duration": max_duration,
            "kb_include": kb_include,
            "kb_exclude": kb_exclude,
            "exclude_kbs_requiring_reboot": exclude_kbs_requiring_reboot,
            "max_patch_publish_date": max_patch_publish_date,
            "options": options,
            "deadline": deadline,
            "install_again": install_again,
            "released": released,
        }
        if wait:
            return self._loop.run(self._async.install(resource_id, wait=True, **arguments))
        pending = self._loop.run(self._async.install(resource_id, wait=False, **arguments))
        return PendingOperation(self._loop, pending)

    def resume(self, token: str) -> PendingOperation:
        return PendingOperation(self._loop, self._loop.run(self._async.resume(token)))

    # --- fleets ---------------------------------------------------------------------------

    def inventory(
        self, machines: Iterable[str | ResourceId] | None = None, **scope: Any
    ) -> list[MachineRecord]:
        """Every machine in scope (see `azhotpatch.aio.Hotpatch.inventory`), as a list."""

        async def collect() -> list[MachineRecord]:
            return [record async for record in self._async.inventory(machines, **scope)]

        return self._loop.run(collect())

    def plan(self, machines: Iterable[Any] | None = None, **options: Any) -> Plan:
        """See `azhotpatch.aio.Hotpatch.plan`."""
        return self._loop.run(self._async.plan(machines, **options))

    def run(self, plan: Plan | None = None, **options: Any) -> Report:
        """See `azhotpatch.aio.Hotpatch.run`."""
        return self._loop.run(self._async.run(plan, **options))

    def schedule(self, machines: Iterable[Any] | None = None, **options: Any) -> Report:
        """See `azhotpatch.aio.Hotpatch.schedule`."""
        return self._loop.run(self._async.schedule(machines, **options))

    def scheduled_status(
        self, machines: Iterable[Any] | None = None, **scope: Any
    ) -> ScheduledStatus:
        """See `azhotpatch.aio.Hotpatch.scheduled_status`."""
        return self._loop.run(self._async.scheduled_status(machines, **scope))

    def register_preview_features(
        self, subscription_id: str, *, wait: bool = True, timeout: Seconds = timedelta(minutes=20)
    ) -> Registration:
        return self._loop.run(
            self._async.register_preview_features(subscription_id, wait=wait, timeout=timeout)
        )
