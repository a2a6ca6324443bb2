"""`Devices` for asyncio callers: Windows 11 Enterprise hotpatch through Intune, over
Microsoft Graph (beta).

    from azhotpatch.devices.aio import Devices

    async with Devices() as devices:                  # DefaultAzureCredential, public cloud
        print(await devices.readiness())              # every device, every reason, each fix
        print(await devices.enable("Hotpatch", include=[group_id]))
        print(await devices.status())

The synchronous `azhotpatch.devices.Devices` has the same methods. Wire contract
(microsoftgraph/microsoft-graph-docs-contrib ``api-reference/beta``):
``intune-softwareupdate-windowsqualityupdatepolicy-{list,create,update,assign}.md``,
``intune-softwareupdate-windowsqualityupdatepolicyassignment-list.md``,
``intune-devices-manageddevice-get.md``, ``intune-devices-hardwareinformation.md``,
``intune-reporting-devicemanagementexportjob-{create,get}.md``; reports: MicrosoftDocs/memdocs
``intune/device-management/reports/export-graph-apis.md``.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date
from typing import Any

from azhotpatch import _validation, calendar
from azhotpatch._azure.msgraph import READ_DEVICES, GraphSession, GraphSettings
from azhotpatch._azure.retry import Deadline, Patience, RetryPolicy
from azhotpatch._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_READ_TIMEOUT,
    ClientOptions,
    Seconds,
)
from azhotpatch.clouds import Cloud
from azhotpatch.devices import policy as policies
from azhotpatch.devices.models import (
    AssignmentPlan,
    Change,
    DeviceReadiness,
    DeviceStatus,
    ManagedDevice,
    PolicyPlan,
    PolicySpec,
    QualityUpdatePolicy,
    ReadinessReport,
    StatusReport,
    sources_of,
)
from azhotpatch.devices.readiness import baseline_on, device_readiness
from azhotpatch.errors import InvalidArgumentError, OperationFailedError
from azhotpatch.limits import GraphLimits

__all__ = ["AUTOPATCH_DEFAULT_FROM", "STATUS_COLUMNS", "Devices"]

POLICIES = "deviceManagement/windowsQualityUpdatePolicies"
DEVICES = "deviceManagement/managedDevices"
EXPORT_JOBS = "deviceManagement/reports/exportJobs"
REPORT = "QualityUpdateDeviceStatusByPolicy"
STATUS_COLUMNS = (
    "PolicyId",
    "DeviceId",
    "DeviceName",
    "AggregateState",
    "CurrentDeviceUpdateStatus",
    "CurrentDeviceUpdateSubstatus",
    "LatestAlertMessage",
    "LastWUScanTimeUTC",
    "EventDateTimeUTC",
)
# Service seconds an export job may take before `status` gives up waiting for it (Intune
# builds a report in seconds to minutes: export-graph-apis.md), and the reads made first
EXPORT_BUDGET = 1800.0
EXPORT_TRIES = 10
# Seconds between reads of a running export job, unless polling_interval says otherwise
EXPORT_POLLING = 10.0
# Autopatch hotpatches eligible devices with no quality update policy by default from the
# May 2026 security update on (secondary sources; the tenant could opt out from 2026-04-01)
AUTOPATCH_DEFAULT_FROM = calendar.patch_tuesday(2026, 5)


class Devices:
    """Windows 11 devices Intune manages: readiness, the hotpatch quality update policy and
    its assignments, and status.

    ``credential`` defaults to ``DefaultAzureCredential`` for the cloud, whose Microsoft Graph
    endpoint is used (``endpoint`` overrides it, e.g. an emulator's). ``limits`` are
    Intune's per-app limits (`GraphLimits.for_user()` when signed in as a user);
    ``concurrency`` bounds the single-device reads readiness makes at once;
    ``polling_interval`` is the time between reads of a report's export job (10 s; its
    earlier name ``poll_interval`` is deprecated). The other settings mean what they mean
    for `azhotpatch.aio.Hotpatch` (see `azhotpatch._config.ClientOptions`)."""

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
        options = ClientOptions.build(
            cloud=cloud,
            endpoint=endpoint,
            connection_verify=connection_verify,
            polling_interval=_polling_interval(polling_interval, poll_interval),
            retry=retry,
            pacing=pacing,
            time_scale=time_scale,
            deadline=deadline,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._concurrency = _validation.count(concurrency, "concurrency", minimum=1, maximum=256)
        interval = options.polling_interval
        settings = GraphSettings(
            cloud=options.cloud,
            endpoint=options.endpoint_or(options.cloud.graph),
            connection_verify=options.connection_verify,
            retry=options.retry,
            limits=options.on_its_clock(limits or GraphLimits()),
            pacing=options.pacing,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            default_deadline=options.deadline,
            polling_interval=EXPORT_POLLING / options.time_scale if interval is None else interval,
            time_scale=options.time_scale,
        )
        self._session = GraphSession(credential, settings)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Devices:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> GraphSession:
        """The Graph session (pacer, metrics); for diagnostics."""
        return self._session

    def today(self) -> date:
        """The service's date (its last Date header), or this machine's before any answer."""
        return self._session.metrics.service_now(self._session.settings.time_scale).date()

    # --- the policy ---------------------------------------------------------------------------

    async def policies(self) -> list[QualityUpdatePolicy]:
        """Every Windows quality update policy of the tenant."""
        return [
            QualityUpdatePolicy.from_graph(body)
            async for body in self._session.pages(
                POLICIES, doing="listing Windows quality update policies"
            )
        ]

    async def plan(
        self,
        name: str,
        *,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        hotpatch: bool = True,
        description: str | None = None,
        scope_tags: Iterable[str] | None = None,
    ) -> PolicyPlan:
        """What `enable` would change, read and compared, nothing written. ``include`` and
        ``exclude`` are Entra group ids; leaving both out leaves assignments alone."""
        spec = PolicySpec(
            name,
            hotpatch=hotpatch,
            description=description,
            scope_tags=None if scope_tags is None else tuple(scope_tags),
        )
        wanted = policies.wanted_targets(include, exclude)
        draft = policies.plan(await self.policies(), spec, AssignmentPlan())
        current = [] if draft.policy is None else await self._assignments(draft.policy.id)
        return policies.plan(
            [draft.policy] if draft.policy else [],
            spec,
            policies.assignment_plan(current, wanted),
        )

    async def _assignments(self, policy_id: str) -> list[dict[str, Any]]:
        return [
            body
            async for body in self._session.pages(
                f"{POLICIES}/{policy_id}/assignments",
                doing=f"reading the assignments of policy {policy_id}",
            )
        ]

    async def apply(self, plan: PolicyPlan) -> PolicyPlan:
        """Write what ``plan`` says differs, and nothing else; the plan, with the policy as it
        now is. A create whose answer was lost is looked for by name before it is sent again,
        so a policy is never made twice."""
        policy = plan.policy
        if plan.change is Change.CREATE:
            policy = await self._create(plan.spec)
        elif plan.change is Change.UPDATE and policy is not None:
            body = await self._session.request(
                "PATCH",
                f"{POLICIES}/{policy.id}",
                body=plan.patch_body(),
                doing=f"updating the quality update policy {plan.spec.name!r}",
            )
            policy = QualityUpdatePolicy.from_graph(body) if body else policy
        if plan.assignments.differs and policy is not None:
            await self._session.request(
                "POST",
                f"{POLICIES}/{policy.id}/assign",
                body={"assignments": plan.assignments.body()},
                doing=f"assigning the quality update policy {plan.spec.name!r}",
            )
        return PolicyPlan(plan.spec, policy, plan.change, plan.fields, plan.assignments)

    async def _create(self, spec: PolicySpec) -> QualityUpdatePolicy:
        """Create the policy once: a POST whose answer was lost (a dropped connection, a 5xx)
        is settled by listing the policies by name, and sent again, backed off, only when
        Intune holds none; after the retry policy's tries, the failure's own error (Graph
        unavailable), saying that no policy was created."""
        from azhotpatch._azure.errors import to_hotpatch_error
        from azhotpatch._azure.retry import AmbiguousSendError
        from azhotpatch.errors import TransientError

        doing = f"creating the quality update policy {spec.name!r}"
        policy = self._session.settings.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                body = await self._session.request(
                    "POST", POLICIES, body=spec.to_graph(), doing=doing, idempotent=False
                )
                return QualityUpdatePolicy.from_graph(body)
            except AmbiguousSendError as error:
                found = [p for p in await self.policies() if p.name == spec.name]
                if found:
                    return found[0]
                if attempt == policy.attempts:
                    said = to_hotpatch_error(error.cause, f"policy {spec.name!r}", doing=doing)
                    raise TransientError(
                        f"{doing}: every try failed ({said.problem}) and Intune holds no "
                        "policy of that name, so none was created",
                        resource=f"policy {spec.name!r}",
                        fix="check the network to Microsoft Graph and its service health, then "
                        "run it again: it creates no duplicate",
                    ) from error
                await asyncio.sleep(policy.backoff_for(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def enable(
        self,
        name: str = "Hotpatch",
        *,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        description: str | None = None,
        scope_tags: Iterable[str] | None = None,
        dry_run: bool = False,
    ) -> PolicyPlan:
        """The quality update policy ``name`` with hotpatch allowed, created or converged,
        assigned to exactly the ``include`` groups less the ``exclude`` ones (when given). A
        second call with the same arguments writes nothing."""
        plan = await self.plan(
            name,
            include=include,
            exclude=exclude,
            description=description,
            scope_tags=scope_tags,
        )
        return plan if dry_run else await self.apply(plan)

    # --- devices ------------------------------------------------------------------------------

    async def devices(self, *, windows_only: bool = True) -> AsyncIterator[ManagedDevice]:
        """Intune's managed devices (the fields readiness reads), streamed page by page."""
        params = {"$select": ManagedDevice.SELECT}
        if windows_only:
            params["$filter"] = "operatingSystem eq 'Windows'"
        async for body in self._session.pages(
            DEVICES, doing="listing managed devices", params=params, permission=READ_DEVICES
        ):
            yield ManagedDevice.from_graph(body)

    async def device(self, device_id: str) -> ManagedDevice:
        """One managed device, with its hardware information (edition, VBS state)."""
        checked = _validation.guid(device_id, "device_id", what="Intune managed device")
        body = await self._session.request(
            "GET",
            f"{DEVICES}/{checked}",
            params={"$select": f"{ManagedDevice.SELECT},hardwareInformation"},
            doing=f"reading managed device {checked}",
            permission=READ_DEVICES,
        )
        return ManagedDevice.from_graph(_unwrapped(body))

    async def _with_hardware(self, device: ManagedDevice) -> ManagedDevice:
        if not device.is_windows:
            return device
        body = await self._session.request(
            "GET",
            f"{DEVICES}/{device.id}",
            params={"$select": "id,hardwareInformation"},
            doing=f"reading the hardware information of managed device {device.id}",
            permission=READ_DEVICES,
        )
        return device.with_hardware(_unwrapped(body))

    async def readiness(
        self,
        devices: Iterable[str] | None = None,
        *,
        today: date | None = None,
        unplanned: Iterable[calendar.MonthLike] = (),
        baselines: Mapping[str, int] | None = None,
    ) -> ReadinessReport:
        """Every Windows device's readiness for hotpatch (or the ``devices`` named by id),
        with every reason and its fix. ``unplanned`` and ``baselines`` tell the calendar
        what only Microsoft announces: unplanned baselines, and builds of baselines newer
        than azhotpatch knows."""
        unplanned_baselines = list(unplanned)
        ids = None if devices is None else [_validation.guid(d, "devices") for d in devices]
        if ids is not None:
            found = [await self.device(device_id) for device_id in ids]
        else:
            listed = [d async for d in self.devices()]
            found = await self._bounded(self._with_hardware, listed)
        baseline = baseline_on(
            today or self.today(), unplanned=unplanned_baselines, baselines=baselines
        )
        return ReadinessReport(
            baseline,
            tuple(DeviceReadiness(d, device_readiness(d, baseline)) for d in found),
        )

    async def _bounded(self, read: Any, items: list[ManagedDevice]) -> list[ManagedDevice]:
        gate = asyncio.Semaphore(self._concurrency)

        async def one(item: ManagedDevice) -> ManagedDevice:
            async with gate:
                found: ManagedDevice = await read(item)
                return found

        return list(await asyncio.gather(*(one(item) for item in items)))

    # --- status -------------------------------------------------------------------------------

    async def status(self, policy: str | None = None, *, today: date | None = None) -> StatusReport:
        """Per-device status from each quality update policy's report (or the one named or
        with that id), and why each Windows device gets hotpatches: a policy, Autopatch's
        default, or nothing (see `StatusReport.note` for what Graph cannot show)."""
        every = await self.policies()
        matching = [p for p in every if policy is None or policy in (p.name, p.id)]
        if policy is not None and not matching:
            from azhotpatch.errors import ResourceNotFoundError

            raise ResourceNotFoundError(
                f"no Windows quality update policy is named {policy!r} or has that id",
                resource=f"policy {policy!r}",
                fix="list them with Devices.policies(), or create one with enable()",
            )
        rows: list[DeviceStatus] = []
        for item in matching:
            rows += await self._export(item)
        device_ids = [d.id async for d in self.devices()]
        return StatusReport(
            tuple(matching),
            tuple(rows),
            sources_of(
                device_ids,
                every if policy is None else matching,
                rows,
                today=today or self.today(),
                default_from=AUTOPATCH_DEFAULT_FROM,
            ),
            AUTOPATCH_DEFAULT_FROM,
        )

    async def _export(
        self, item: QualityUpdatePolicy, deadline: Deadline | None = None
    ) -> list[DeviceStatus]:
        """One policy's report: an export job, polled until it completes, then its zip."""
        limit = deadline or self._session.deadline()
        patience = Patience(self._session.wall(EXPORT_BUDGET), EXPORT_TRIES)
        doing = f"exporting {REPORT} for policy {item.name!r}"
        # A duplicate export job is harmless, so a POST whose answer was lost is sent again.
        # The job comes bare (as Graph sends it) or wrapped in "value" (as the reference's
        # examples show it): both are read.
        job = _unwrapped(
            await self._session.request(
                "POST",
                EXPORT_JOBS,
                body={
                    "reportName": REPORT,
                    "filter": f"(PolicyId eq '{item.id}')",
                    "select": list(STATUS_COLUMNS),
                    "format": "csv",
                    "localizationType": "LocalizedValuesAsAdditionalColumn",
                },
                doing=doing,
                deadline=limit,
            )
        )
        if not job.get("id"):  # nothing to poll: say so rather than fail on a missing key
            raise OperationFailedError(
                f"{doing}: Microsoft Graph answered the new export job without its id",
                resource=f"policy {item.name!r}",
                fix="run it again later; if it keeps failing, export the report in the Intune "
                "admin center",
            )
        job_id = str(job["id"])
        while str(job.get("status")) not in ("completed", "failed"):
            _still_waiting(patience, doing, job, item)
            if limit.expired():
                from azhotpatch.errors import DeadlineExceededError

                raise DeadlineExceededError(
                    f"{doing}: the export job {job_id} was still {job.get('status')} "
                    "at the deadline",
                    resource=f"policy {item.name!r}",
                    fix="raise the deadline (Devices(deadline=...)) and run it again",
                )
            await asyncio.sleep(self._session.settings.polling_interval)
            job = _unwrapped(
                await self._session.request(
                    "GET", f"{EXPORT_JOBS}/{job_id}", doing=doing, deadline=limit
                )
            )
        if job.get("status") == "failed" or not job.get("url"):
            raise OperationFailedError(
                f"{doing}: Intune ended the export job {job_id} {job.get('status')}",
                resource=f"policy {item.name!r}",
                fix="run it again later; if it keeps failing, export the report in the Intune "
                "admin center to see why",
            )
        return policies.read_report(
            await self._session.download(str(job["url"]), doing=doing, deadline=limit)
        )


def _polling_interval(polling_interval: Seconds, poll_interval: Seconds) -> Seconds:
    """``polling_interval``, the name `azhotpatch.aio.Hotpatch` (and azure-core) give the
    idea; ``poll_interval`` is its earlier name here, still taken with a DeprecationWarning
    so that scripts written for it keep working."""
    if poll_interval is None:
        return polling_interval
    if polling_interval is not None:
        raise InvalidArgumentError(
            "poll_interval",
            "is the earlier name of polling_interval, and both are given",
            fix="pass polling_interval only",
        )
    warnings.warn(
        "Devices(poll_interval=...) is deprecated: pass polling_interval=, as for Hotpatch",
        DeprecationWarning,
        stacklevel=3,
    )
    return poll_interval


def _still_waiting(
    patience: Patience, doing: str, job: dict[str, Any], item: QualityUpdatePolicy
) -> None:
    """One more read of an export job, unless it has had `EXPORT_BUDGET` of Intune's time
    (and `EXPORT_TRIES` reads): Intune builds a report in minutes."""
    if patience.spent():
        from azhotpatch.errors import DeadlineExceededError

        raise DeadlineExceededError(
            f"{doing}: the export job {job.get('id')} was still {job.get('status')} after "
            f"{EXPORT_BUDGET / 60:.0f} minutes",
            resource=f"policy {item.name!r}",
            fix="run it again later (Intune builds reports in minutes); if it keeps timing "
            "out, export the report in the Intune admin center to see why",
        )
    patience.tick()


def _unwrapped(body: Any) -> dict[str, Any]:
    """A single item's body (a device, an export job). The docs' examples wrap it in
    ``value`` (intune-devices-manageddevice-get.md,
    intune-reporting-devicemanagementexportjob-get.md); Graph answers it bare: both are
    read."""
    inner = body.get("value") if isinstance(body, dict) else None
    found: dict[str, Any] = inner if isinstance(inner, dict) else body
    return found
