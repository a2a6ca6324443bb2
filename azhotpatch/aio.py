"""`Hotpatch` for asyncio callers, on the SDKs' ``.aio`` clients.

    from azhotpatch.aio import Hotpatch

    async with Hotpatch() as hotpatch:                      # DefaultAzureCredential, public Azure
        verdict = await hotpatch.check(vm_id)
        await hotpatch.enable(vm_id)
        result = await hotpatch.install(vm_id, classifications=["Critical", "Security"])

The synchronous `azhotpatch.Hotpatch` has the same methods and runs this class on a private
event loop, so both behave identically.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from azhotpatch import _validation
from azhotpatch._azure.retry import Deadline, RetryPolicy
from azhotpatch._azure.session import Session, Settings
from azhotpatch._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_READ_TIMEOUT,
    ClientOptions,
    Seconds,
)
from azhotpatch._operations import features
from azhotpatch._operations.install_guard import InstallRecords, result_of
from azhotpatch._operations.kinds import Kinds, OperationToken, Started
from azhotpatch.clouds import Cloud
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.fleet import _engine, _posture_reads
from azhotpatch.fleet._engine import MONTHS_AHEAD, Filter
from azhotpatch.fleet._runner import ProgressEvent
from azhotpatch.fleet.inventory import MachineRecord
from azhotpatch.fleet.plan import Plan
from azhotpatch.fleet.posture import Posture
from azhotpatch.fleet.report import Report
from azhotpatch.fleet.scheduling import ScheduledStatus
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
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
    OtherInstall,
    RebootSetting,
    Registration,
)
from azhotpatch.posture_rules import STALE_AFTER
from azhotpatch.remediation import RebootPolicy, Remediation
from azhotpatch.schedule import Schedule

if TYPE_CHECKING:
    from azhotpatch._azure.policies import Metrics

__all__ = ["Hotpatch", "PendingOperation"]


def _seconds(value: Seconds, argument: str) -> float | None:
    return _validation.optional_seconds(value, argument)


def _operation_seconds(
    defaults: Mapping[str, float], given: Mapping[str, float]
) -> dict[str, float]:
    """The defaults with the caller's figures on top; unknown names are refused, since a
    misspelt one would silently keep the default."""
    merged = dict(defaults)
    for name, value in given.items():
        if name not in defaults:
            raise InvalidArgumentError(
                "operation_seconds",
                f"has an unknown operation {name!r}",
                fix=f"use only {', '.join(sorted(defaults))}",
            )
        seconds = _seconds(value, f"operation_seconds[{name!r}]")
        if seconds is None:
            raise InvalidArgumentError(
                f"operation_seconds[{name!r}]", "needs a length", fix="e.g. 120 (seconds)"
            )
        merged[name] = seconds
    return merged


class PendingOperation:
    """An assessment or installation that was started and is (or was) running in Azure.

    ``token`` is a plain string: store it, and `Hotpatch.resume` it later, from another
    process if need be, to wait for the same operation without starting it again.
    """

    def __init__(
        self,
        client: Hotpatch,
        token: OperationToken,
        started: Started | None,
        *,
        theirs: OtherInstall | None = None,
    ) -> None:
        self._client = client
        self._token = token
        self._started = started
        self._theirs = theirs  # someone else's install, found before sending ours

    @property
    def token(self) -> str:
        return self._token.encode()

    @property
    def resource(self) -> str:
        return self._token.resource

    @property
    def action(self) -> str:
        return self._token.action.value

    async def result(self, *, deadline: Seconds = None) -> Assessment | Installation:
        """Wait for the operation to finish and return its typed result."""
        if self._theirs is not None:
            rid = parse_resource_id(self._token.resource)
            limit = self._client._deadline(deadline)
            return await self._client._theirs(rid, self._theirs.activity_id, limit)
        return await self._client._finish(self._token, self._started, deadline)

    def __repr__(self) -> str:
        return f"PendingOperation({self.action} on {self.resource})"


class _FleetMethods:
    """The fleet methods of `Hotpatch`: the public signatures and what they promise; the work
    is `azhotpatch.fleet._engine`'s."""

    _session: Session

    # --- fleets -------------------------------------------------------------------------------
    #
    # Every fleet method takes the machines as ids (or records, or a plan) or the inventory
    # filter as keywords: ``subscriptions`` (or ``management_groups``), ``resource_groups``
    # (names), ``locations``, ``tags`` (a mapping; every tag must match) and ``kinds``
    # ("vm", "arc"; both when left out). The filter is spelled out rather than taken as one
    # object so that the calls scripts already make keep working and IDEs and type checkers
    # see every name; it becomes one `InventoryFilter`, which a `Plan` carries as its scope.

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
    ) -> AsyncIterator[MachineRecord]:
        """Every VM and Arc machine in scope, from Resource Graph, streamed. ``machines``
        names exact ids instead of a filter. Arguments are validated before any query."""
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return _engine.inventory(self._session, machines, wanted)

    async def plan(
        self,
        machines: Iterable[str | ResourceId | MachineRecord] | None = None,
        *,
        actions: Iterable[Action | str] | Action | str = ("enable", "assess", "install"),
        install: InstallOptions | None = None,
        today: date | None = None,
        months_ahead: int = MONTHS_AHEAD,
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
        """A plan for the machines (records, ids, or the inventory filter): eligibility with
        every reason, the steps, Arc cost and the calendar. Nothing is changed. Machines
        blocked only by what a script and a restart fix (VBS, CHPE) are listed apart; with
        ``remediate=True`` they are remediated before enrollment, with restarts as ``reboot``
        allows (see `remediate`)."""
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return await _engine.plan(
            self._session,
            machines,
            wanted,
            actions=actions,
            install=install,
            today=today,
            months_ahead=months_ahead,
            remediate=remediate,
            reboot=reboot,
            unplanned=unplanned,
        )

    async def run(
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
        """Run a plan (or plan ``actions`` over ``machines``, or over the inventory filter,
        first) across the fleet, paced to Azure's throttling. With ``journal`` a killed run
        resumes where it stopped; the journal belongs to what this run is asked (scope,
        actions, install options) and is refused for anything else before a request is sent.
        ``retry_failed`` attempts the machines that ended failed again, from the step that
        failed, reading Azure's state first (what succeeded, and an install Azure may have
        received, is never sent again).
        ``on_plan`` sees the plan before anything runs (to show it, or size a progress bar).
        Machines are let in as fast as their subscriptions' buckets can serve them;
        ``concurrency`` caps how many are in flight at once on top of that. For the run's
        length Python's garbage collector runs less often (``tune_collector=False`` leaves it
        alone; see `azhotpatch.fleet.collector`). ``remediate=True`` does measure -> fix ->
        restart (only as ``reboot`` allows: "now", "baseline", a time) -> enroll -> assess ->
        install on Arc machines blocked by VBS or CHPE (see `remediate`); a journal makes it
        resumable and no machine is ever restarted twice. ``report_html`` names a file to
        write the report to as one self-contained HTML page (from the journal, when there is
        one, so that a resumed run's page tells the whole run; see
        `azhotpatch.fleet._report_html`). No install is sent to a machine where one is
        running, or already started for the current release, by another run, a person or
        the platform's schedule: that install's result is the machine's, with the code
        ``PatchedByAnotherRun`` or ``PatchedByPlatform`` and its operation id (see
        `azhotpatch._operations.install_guard`); ``install_again=True`` sends regardless, and
        ``released`` names the day of an out-of-band release, before which installs do not
        count as this release's.

        One run at a time holds a journal: another run on it is refused before any request
        with `JournalBusyError`, naming the run that holds it. A journal that vanishes or
        cannot be written while the run goes on stops the run from starting machines; the
        operations already in Azure are followed to their end, then `JournalStorageError`
        is raised, carrying the report. Cancelling the task stops the run the same way
        (no machine started after it), and a rerun with the same journal resumes it."""
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return await _engine.run(
            self._session,
            plan,
            machines,
            wanted,
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
        )

    async def schedule(
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
        """Put the machines (ids, or the inventory filter) on Azure Update Manager schedules
        that follow the Hotpatch calendar (see `azhotpatch.schedule`).

        The maintenance configurations go to ``resource_group`` (an id) in ``location``.
        ``mode="split"`` makes a baseline configuration and two never-reboot hotpatch-month
        ones; ``"single"`` one monthly configuration. ``assign_by`` is ``"machines"`` or
        ``"dynamic"`` (a dynamic scope per subscription, filtered as the inventory filter
        says). Machines that conflict with the schedule are reported with reasons and fixes
        and not assigned, unless ``conflicts`` is ``"fix"`` (make the fixes azhotpatch can)
        or ``"assign"``. Everything is validated before any call; a second identical call
        writes nothing. ``dry_run`` writes nothing.
        """
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return await _engine.schedule(
            self._session,
            machines,
            wanted,
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
        )

    async def posture(
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
        """Where every machine (ids, or the inventory filter) stands with its updates: one
        verdict each (current, behind by N releases, restart-needed, not-enrolled,
        not-eligible, stale, unknown) with its reason and fix, counted by verdict,
        subscription, region and kind (see `azhotpatch.posture_rules`). Read from a
        handful of Resource Graph queries, no read per machine; nothing is changed.
        ``stale_after``: how old the last assessment may be. ``today``: the day whose
        release is expected (Azure's today by default). ``builds``: the first build revision
        of releases azhotpatch does not know, ``{"26100": {"2026-11": 7309}}``, so "behind"
        counts releases by the OS build. ``unplanned``: unplanned baselines ("YYYY-MM").
        `Posture.save` keeps a snapshot; `Posture.since` compares with an earlier one."""
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return await _posture_reads.posture(
            self._session,
            machines,
            wanted,
            stale_after=stale_after,
            today=today,
            builds=builds,
            unplanned=unplanned,
        )

    async def scheduled_status(
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
        """Last and next scheduled run per configuration and per machine (ids, or the
        inventory filter), from Resource Graph."""
        wanted = Filter(subscriptions, management_groups, resource_groups, locations, tags, kinds)
        return await _engine.scheduled_status(self._session, machines, wanted)


class Hotpatch(_FleetMethods):
    """Hotpatch operations on one machine at a time, by resource id (VM or Arc).

    ``credential`` defaults to ``DefaultAzureCredential`` for the cloud. ``cloud`` picks the
    Azure cloud (``AzureCloud``, ``AzureUSGovernment``, ``AzureChinaCloud``); ``endpoint``
    overrides its Resource Manager URL (e.g. an emulator), ``connection_verify`` its TLS trust
    (a CA bundle path). ``time_scale`` is only for emulators whose clock runs faster than
    Azure's: pacing and back-off speed up to match. ``deadline`` bounds each operation.
    ``operation_seconds`` says how long VM settings updates, Arc license profile updates,
    assessments and installs usually take (keys ``update``, ``license``, ``assess``,
    ``install``; fleets first poll then); runs learn from what they observe.
    ``connect_timeout`` bounds each attempt to connect, and how long an endpoint that has
    never answered is tried before `EndpointUnreachableError`; ``read_timeout`` bounds the
    wait for an answer once a request is sent (seconds). ``polling_interval`` is the time
    between reads of a long-running operation (default: what Azure asks, about 30 s).
    These settings are checked, and mean the same, for `azhotpatch.devices.aio.Devices`
    (see `azhotpatch._config.ClientOptions`).
    """

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
        options = ClientOptions.build(
            cloud=cloud,
            endpoint=endpoint,
            connection_verify=connection_verify,
            polling_interval=polling_interval,
            retry=retry,
            pacing=pacing,
            time_scale=time_scale,
            deadline=deadline,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        _validation.count(connections, "connections", minimum=1)
        settings = Settings(
            cloud=options.cloud,
            endpoint=options.endpoint_or(options.cloud.resource_manager),
            connection_verify=options.connection_verify,
            polling_interval=options.polling_interval,
            retry=options.retry,
            limits=options.on_its_clock(limits or options.cloud.limits),
            pacing=options.pacing,
            connections=connections,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            default_deadline=options.deadline,
            time_scale=options.time_scale,
        )
        if operation_seconds is not None:
            settings = replace(
                settings,
                operation_seconds=_operation_seconds(settings.operation_seconds, operation_seconds),
            )
        self._session = Session(credential, settings)
        self._kinds = Kinds(self._session)
        self._installs = InstallRecords(
            self._session, fallback=lambda rid: self._kinds.of(rid).own_installs(rid)
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        await self._kinds.close()
        await self._installs.close()
        await self._session.close()

    async def __aenter__(self) -> Hotpatch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def metrics(self) -> Metrics:
        """Requests sent, 429s received and transport errors, so far."""
        return self._session.metrics

    @property
    def session(self) -> Session:
        """The underlying session (clients, pacer); for the fleet engine and diagnostics."""
        return self._session

    def _deadline(self, value: Seconds) -> Deadline:
        return self._session.deadline(_seconds(value, "deadline"))

    # --- single machine -----------------------------------------------------------------------

    async def check(self, resource_id: str | ResourceId) -> Eligibility:
        """Can this machine take Hotpatch? Every reason it cannot, each with its fix."""
        rid = parse_resource_id(resource_id)
        return await self._kinds.of(rid).check(rid)

    async def enable(
        self,
        resource_id: str | ResourceId,
        *,
        wait: bool = True,
        force: bool = False,
        deadline: Seconds = None,
    ) -> Enrollment:
        """Enroll the machine, or do nothing if it already is.

        Refuses before any write when `check` finds a blocker, raising the reasons.
        ``force=True`` overrides only what Azure does not enforce itself (the region's live
        image catalog and the VM's current power/agent state); image and agent rules still
        refuse, since Azure would reject the change anyway.
        """
        rid = parse_resource_id(resource_id)
        limit = self._deadline(deadline)
        return await self._kinds.of(rid).enable(rid, wait=wait, force=force, deadline=limit)

    async def disable(
        self, resource_id: str | ResourceId, *, wait: bool = True, deadline: Seconds = None
    ) -> Enrollment:
        """Turn Hotpatch off (VM: enableHotpatching=false; Arc: the flag and the license
        feature, which stops its billing)."""
        rid = parse_resource_id(resource_id)
        limit = self._deadline(deadline)
        return await self._kinds.of(rid).disable(rid, wait=wait, deadline=limit)

    async def status(self, resource_id: str | ResourceId) -> HotpatchStatus:
        """Enrollment, the platform's verdict and the last assessment and installation."""
        rid = parse_resource_id(resource_id)
        return await self._kinds.of(rid).status(rid)

    async def remediate(
        self,
        resource_id: str | ResourceId,
        *,
        fix: bool = False,
        reboot: RebootPolicy | str | datetime | None = None,
        unplanned: Iterable[str] = (),
        deadline: Seconds = None,
    ) -> Remediation:
        """Measure what Hotpatch needs on the machine itself (Arc, through Run Command: VBS,
        UEFI and Secure Boot, build, architecture, CHPE), and with ``fix=True`` set what is
        missing. A restart happens only where ``reboot`` allows: "now", "baseline" (the next
        baseline month's window, from `azhotpatch.calendar`; ``unplanned`` names known
        unplanned baseline months) or a time; by default never. Reasons no script can fix
        come back as the result's ``blockers``, each with its manual fix. Idempotent: what is
        already right is left alone. The scripts are `azhotpatch.remediation.SCRIPTS`."""
        rid = parse_resource_id(resource_id)
        policy = RebootPolicy.parse(reboot, unplanned=unplanned)
        limit = self._deadline(deadline)
        return await self._kinds.of(rid).remediate(
            rid, None, fix=fix, reboot=policy, ledger=None, deadline=limit
        )

    @overload
    async def assess(
        self, resource_id: str | ResourceId, *, wait: Literal[True] = ..., deadline: Seconds = ...
    ) -> Assessment: ...

    @overload
    async def assess(
        self, resource_id: str | ResourceId, *, wait: Literal[False], deadline: Seconds = ...
    ) -> PendingOperation: ...

    async def assess(
        self, resource_id: str | ResourceId, *, wait: bool = True, deadline: Seconds = None
    ) -> Assessment | PendingOperation:
        """Assess available patches now. ``wait=False`` returns a `PendingOperation`."""
        rid = parse_resource_id(resource_id)
        pending = await self._start(rid, Action.ASSESS, None, deadline)
        if not wait:
            return pending
        result = await pending.result(deadline=deadline)
        assert isinstance(result, Assessment)
        return result

    @overload
    async def install(
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
    async def install(
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

    async def install(
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
        """Install patches now. Arguments are validated before anything is sent; pass
        ``options`` (an `InstallOptions`) instead to reuse one set across machines.

        The installPatches request is sent once: if the connection fails after sending, the
        machine's patch history decides whether it was accepted, and it is never re-sent
        blindly. The deadline defaults to ``max_duration`` plus 30 minutes.

        None is sent when an install is running on the machine, or already started for the
        current release, by someone else (another run, a person, the platform's schedule):
        that install's result is returned, with ``Installation.by`` saying whose (see
        `azhotpatch._operations.install_guard`). ``install_again=True`` sends regardless;
        ``released`` names the day of an out-of-band release, before which installs do not count.
        """
        rid = parse_resource_id(resource_id)
        again = _validation.flag(install_again, "install_again")
        release_day = _validation.released(released)
        install_options = options or InstallOptions.build(
            classifications=classifications,
            reboot=reboot,
            max_duration=max_duration,
            kb_include=kb_include,
            kb_exclude=kb_exclude,
            exclude_kbs_requiring_reboot=exclude_kbs_requiring_reboot,
            max_patch_publish_date=max_patch_publish_date,
        )
        limit = (
            deadline
            if deadline is not None
            else install_options.max_duration + timedelta(minutes=30)
        )
        elsewhere = None if again else await self._installs.deciding(rid, released=release_day)
        if elsewhere is not None:
            other, _ = elsewhere
            pending = PendingOperation(
                self, OperationToken(Action.INSTALL, str(rid), None, None), None, theirs=other
            )
        else:
            pending = await self._start(rid, Action.INSTALL, install_options, limit)
        if not wait:
            return pending
        result = await pending.result(deadline=limit)
        assert isinstance(result, Installation)
        return result

    async def resume(self, token: str) -> PendingOperation:
        """A `PendingOperation` for a handle's token (from ``PendingOperation.token``, a
        ``DeadlineExceededError.handle_token``, or a journal)."""
        if not isinstance(token, str):
            raise InvalidArgumentError(
                "token", f"{token!r} is not a string", fix="pass PendingOperation.token unchanged"
            )
        decoded = OperationToken.decode(token)
        parse_resource_id(decoded.resource)
        return PendingOperation(self, decoded, None)

    async def _start(
        self, rid: ResourceId, action: Action, options: InstallOptions | None, deadline: Seconds
    ) -> PendingOperation:
        limit = self._deadline(deadline)
        token, started = await self._kinds.of(rid).start(rid, action, options, limit)
        return PendingOperation(self, token, started)

    async def _finish(
        self, token: OperationToken, started: Started | None, deadline: Seconds
    ) -> Assessment | Installation:
        limit = self._deadline(deadline)
        rid = parse_resource_id(token.resource)
        if started is not None and started.theirs is not None and token.action is Action.INSTALL:
            # Azure refused ours (409): another install is running; its result is the answer
            return await self._theirs(rid, started.theirs, limit)
        return await self._kinds.of(rid).finish(token, started, limit)

    async def _theirs(self, rid: ResourceId, activity: str, deadline: Deadline) -> Installation:
        """Someone else's install on the machine, once it has ended, as its result."""
        other, row = await self._installs.ended(rid, activity, deadline)
        return result_of(str(rid), rid.kind, other, row)

    # --- per subscription ---------------------------------------------------------------------

    async def register_preview_features(
        self,
        subscription_id: str,
        *,
        wait: bool = True,
        timeout: Seconds = timedelta(minutes=20),
    ) -> Registration:
        """Register the Compute preview features older Hotpatch automation expects, wait
        until each is Registered (or Pending approval), then re-register Microsoft.Compute."""
        subscription = features.check_subscription(subscription_id)
        return await features.register_preview_features(
            self._session, subscription, wait=wait, deadline=self._deadline(timeout)
        )
