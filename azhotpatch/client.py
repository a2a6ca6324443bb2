"""`Hotpatch`: the synchronous API (scripts, notebooks). Same methods as `azhotpatch.aio`.

from azhotpatch import Hotpatch

with Hotpatch() as hotpatch:          # DefaultAzureCredential, public Azure
    print(hotpatch.check(vm_id))
    hotpatch.enable(vm_id)
    print(hotpatch.install(vm_id))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from azhotpatch._config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT
from azhotpatch._sync import LoopThread
from azhotpatch.posture_rules import STALE_AFTER

if TYPE_CHECKING:
    # The async client (and through it the Azure SDKs, about half a second of imports) loads
    # when the first `Hotpatch` is built, so `from azhotpatch import Hotpatch` stays instant
    # for scripts that only use the calendar, the catalog or the emulator.
    from azhotpatch import aio
    from azhotpatch._azure.policies import Metrics
    from azhotpatch._azure.retry import RetryPolicy
    from azhotpatch._config import Seconds
    from azhotpatch.clouds import Cloud
    from azhotpatch.fleet._runner import ProgressEvent
    from azhotpatch.fleet.inventory import MachineRecord
    from azhotpatch.fleet.plan import Plan
    from azhotpatch.fleet.posture import Posture
    from azhotpatch.fleet.report import Report
    from azhotpatch.fleet.scheduling import ScheduledStatus
    from azhotpatch.ids import MachineKind, ResourceId
    from azhotpatch.limits import ThrottleLimits
    from azhotpatch.models import (
        Action,
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
    from azhotpatch.remediation import RebootPolicy, Remediation
    from azhotpatch.schedule import Schedule

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
    options (credential, cloud, endpoint, connection_verify, retry, pacing, deadline).

    Every method has the signature of its `azhotpatch.aio.Hotpatch` twin (a test holds
    them to it) and runs it on a private event loop."""

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
        limits: ThrottleLimits | None = None,
        time_scale: float = 1.0,
        deadline: Seconds = DEFAULT_DEADLINE,
        connections: int = 200,
        operation_seconds: Mapping[str, float] | None = None,
        connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: Seconds = DEFAULT_READ_TIMEOUT,
    ) -> None:
        from azhotpatch import aio

        self._async = aio.Hotpatch(
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
            connections=connections,
            operation_seconds=operation_seconds,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
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

    def remediate(
        self,
        resource_id: str | ResourceId,
        *,
        fix: bool = False,
        reboot: RebootPolicy | str | datetime | None = None,
        unplanned: Iterable[str] = (),
        deadline: Seconds = None,
    ) -> Remediation:
        """See `azhotpatch.aio.Hotpatch.remediate`."""
        return self._loop.run(
            self._async.remediate(
                resource_id, fix=fix, reboot=reboot, unplanned=unplanned, deadline=deadline
            )
        )

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
        self,
        machines: Iterable[str | ResourceId] | None = None,
        *,
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> list[MachineRecord]:
        """Every machine in scope (see `azhotpatch.aio.Hotpatch.inventory`), as a list."""
        records = self._async.inventory(
            machines,
            subscriptions=subscriptions,
            management_groups=management_groups,
            resource_groups=resource_groups,
            locations=locations,
            tags=tags,
            kinds=kinds,
        )

        async def collect() -> list[MachineRecord]:
            return [record async for record in records]

        return self._loop.run(collect())

    def plan(
        self,
        machines: Iterable[str | ResourceId | MachineRecord] | None = None,
        *,
        actions: Iterable[Action | str] | Action | str = ("enable", "assess", "install"),
        install: InstallOptions | None = None,
        today: date | None = None,
        months_ahead: int = 3,
        remediate: bool = False,
        reboot: RebootPolicy | str | datetime | None = None,
        unplanned: Iterable[str] = (),
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> Plan:
        """See `azhotpatch.aio.Hotpatch.plan`."""
        return self._loop.run(
            self._async.plan(
                machines,
                actions=actions,
                install=install,
                today=today,
                months_ahead=months_ahead,
                remediate=remediate,
                reboot=reboot,
                unplanned=unplanned,
                subscriptions=subscriptions,
                management_groups=management_groups,
                resource_groups=resource_groups,
                locations=locations,
                tags=tags,
                kinds=kinds,
            )
        )

    def posture(
        self,
        machines: Iterable[str | ResourceId] | None = None,
        *,
        stale_after: timedelta = STALE_AFTER,
        today: date | None = None,
        builds: Mapping[str, Mapping[str, int]] | None = None,
        unplanned: Iterable[str] = (),
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> Posture:
        """See `azhotpatch.aio.Hotpatch.posture`."""
        return self._loop.run(
            self._async.posture(
                machines,
                stale_after=stale_after,
                today=today,
                builds=builds,
                unplanned=unplanned,
                subscriptions=subscriptions,
                management_groups=management_groups,
                resource_groups=resource_groups,
                locations=locations,
                tags=tags,
                kinds=kinds,
            )
        )

    def run(
        self,
        plan: Plan | None = None,
        *,
        machines: Iterable[str | ResourceId | MachineRecord] | None = None,
        actions: Iterable[Action | str] | Action | str = ("enable", "assess", "install"),
        install: InstallOptions | None = None,
        concurrency: int | None = None,
        journal: str | Path | None = None,
        retry_failed: bool = False,
        progress: Callable[[ProgressEvent], None] | None = None,
        on_plan: Callable[[Plan], None] | None = None,
        deadline: Seconds = None,
        tune_collector: bool = True,
        remediate: bool = False,
        reboot: RebootPolicy | str | datetime | None = None,
        unplanned: Iterable[str] = (),
        report_html: str | Path | None = None,
        install_again: bool = False,
        released: date | str | None = None,
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> Report:
        """See `azhotpatch.aio.Hotpatch.run`."""
        return self._loop.run(
            self._async.run(
                plan,
                machines=machines,
                actions=actions,
                install=install,
                concurrency=concurrency,
                journal=journal,
                retry_failed=retry_failed,
                progress=progress,
                on_plan=on_plan,
                deadline=deadline,
                tune_collector=tune_collector,
                remediate=remediate,
                reboot=reboot,
                unplanned=unplanned,
                report_html=report_html,
                install_again=install_again,
                released=released,
                subscriptions=subscriptions,
                management_groups=management_groups,
                resource_groups=resource_groups,
                locations=locations,
                tags=tags,
                kinds=kinds,
            )
        )

    def schedule(
        self,
        machines: Iterable[str | ResourceId] | None = None,
        *,
        resource_group: str,
        location: str,
        windows: Schedule | None = None,
        mode: str = "split",
        time_zone: str = "UTC",
        start_time: str = "03:00",
        days_after_patch_tuesday: int = 1,
        hotpatch_window: timedelta = timedelta(hours=2),
        baseline_window: timedelta = timedelta(hours=3, minutes=30),
        classifications: Iterable[str | Classification] = ("Critical", "Security"),
        kb_include: Iterable[str] = (),
        kb_exclude: Iterable[str] = (),
        name: str = "azhotpatch",
        assign_by: str = "machines",
        conflicts: str = "skip",
        dry_run: bool = False,
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> Report:
        """See `azhotpatch.aio.Hotpatch.schedule`."""
        return self._loop.run(
            self._async.schedule(
                machines,
                resource_group=resource_group,
                location=location,
                windows=windows,
                mode=mode,
                time_zone=time_zone,
                start_time=start_time,
                days_after_patch_tuesday=days_after_patch_tuesday,
                hotpatch_window=hotpatch_window,
                baseline_window=baseline_window,
                classifications=classifications,
                kb_include=kb_include,
                kb_exclude=kb_exclude,
                name=name,
                assign_by=assign_by,
                conflicts=conflicts,
                dry_run=dry_run,
                subscriptions=subscriptions,
                management_groups=management_groups,
                resource_groups=resource_groups,
                locations=locations,
                tags=tags,
                kinds=kinds,
            )
        )

    def scheduled_status(
        self,
        machines: Iterable[str | ResourceId] | None = None,
        *,
        subscriptions: Iterable[str] | None = None,
        management_groups: Iterable[str] | None = None,
        resource_groups: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[MachineKind | str] | None = None,
    ) -> ScheduledStatus:
        """See `azhotpatch.aio.Hotpatch.scheduled_status`."""
        return self._loop.run(
            self._async.scheduled_status(
                machines,
                subscriptions=subscriptions,
                management_groups=management_groups,
                resource_groups=resource_groups,
                locations=locations,
                tags=tags,
                kinds=kinds,
            )
        )

    # --- per subscription -----------------------------------------------------------------

    def register_preview_features(
        self, subscription_id: str, *, wait: bool = True, timeout: Seconds = timedelta(minutes=20)
    ) -> Registration:
        """See `azhotpatch.aio.Hotpatch.register_preview_features`."""
        return self._loop.run(
            self._async.register_preview_features(subscription_id, wait=wait, timeout=timeout)
        )
