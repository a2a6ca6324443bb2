"""The guard across runs: an install is not sent when Azure's own record of the machine shows
one running, or one already started for the current release by someone else (another run
with another journal, a person in the portal or the CLI, the platform's own schedule). That
install's result is then the machine's, with its operation id and who started it.

What is read. Resource Graph's ``patchinstallationresources`` holds one row per install run on
VMs and Arc machines alike: its ``installationActivityId``, ``status``, ``startDateTime`` and
``startedBy`` (``User`` for anything started on request, ``Platform`` for an Update Manager
schedule, which also names its ``maintenanceRunId``). `InstallRecords` reads it for many
machines in one query: every machine that asks while a query is on its way joins the next
one (up to `BATCH` machines a query), so a fleet costs a query per batch of machines, paced
like every other request, instead of a GET per machine.

What "this release" means (`release_start`). The release in force is the latest Patch Tuesday
on or before Azure's today (`azhotpatch.calendar.current_release`). An install counts as this
release's when it started on or after that day (00:00 UTC): an install can only take what was
published before it started, so one that started earlier cannot have taken this release, and
one started since may have. The record does not say which updates an install was asked for
(classifications, KB lists), so an install since the release counts whatever it selected. A
release Microsoft ships out of band (an unplanned baseline, an emergency fix) on another day is
named with ``released``: only installs started on or after it count, so a machine patched
before it is patched again and one patched since is not. ``install_again`` sends regardless.

What Resource Graph cannot say. Its patch tables lag behind Azure by up to minutes, so an
install another run started in the last minutes may be missing from the rows. Azure itself
closes most of that gap: it refuses a second installPatches while one runs (409), and the
trigger then attaches to the running install instead of queueing ours behind it
(`azhotpatch._azure.trigger`). What stays open is an install that another run started *and*
finished within Resource Graph's lag, a few minutes: an install takes minutes itself, so this
needs the other run to have sent it only just before ours, and the rows to be slower than the
install. A VM's instance view would close it, at the cost of a GET per machine, which is the
read this guard avoids.

When the install leaves (`InstallRecords.still_clear`). Between the read and the request going
out, the request may wait in the pacer for minutes (a bucket refilling, a 429's Retry-After),
long enough for another run's whole install to start and end. So when the request is
admitted, a decision older than `STALE_AFTER` Azure seconds is read again (batched like the
first), and the request is not sent if an install has appeared (`InstallAppearedError`). The
request's tokens serve others while the record is read; it then takes them again at the front
of the queue and goes, however long that read took: read again once, not until a read happens
to be quick.

Who may read the rows: an open question. Resource Graph returns only rows the identity may
read; Microsoft's Update Manager permissions page names ``patchInstallationResults/read`` (on
VMs and on Arc machines) for install history, which the least-privilege role
(`azhotpatch.security`) does not list, and whether ``Microsoft.ResourceGraph/resources/read``
with the machines' ``read`` shows these rows without it is not documented (the emulator does
not filter patch rows by role). An identity that cannot see the rows sees no installs: the
409 still stops a second install beside a running one, nothing else does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from typing import Any
from urllib.parse import urlsplit

from azhotpatch import calendar
from azhotpatch._azure import graph
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._parse import installation, timestamp
from azhotpatch.errors import DeadlineExceededError, HotpatchError
from azhotpatch.ids import MachineKind, ResourceId
from azhotpatch.models import Installation, OperationStatus, OtherInstall

__all__ = [
    "BATCH",
    "PATCHED_BY_ANOTHER_RUN",
    "PATCHED_BY_PLATFORM",
    "STALE_AFTER",
    "UNKNOWN_STARTER",
    "InstallAppearedError",
    "InstallRecords",
    "Run",
    "StillClear",
    "code_of",
    "deciding",
    "release_start",
    "result_of",
]

# Our codes for a machine whose install for this release someone else started
# (docs/troubleshooting.md).
PATCHED_BY_ANOTHER_RUN = "PatchedByAnotherRun"
PATCHED_BY_PLATFORM = "PatchedByPlatform"
# What a record that does not say who started an install (a VM's instance view) says.
UNKNOWN_STARTER = "Unknown"
# Machines a query asks about at most: their ids make the query's text, which Resource Graph
# caps, and a page holds 1,000 rows (a machine has a few install runs in the table's days).
BATCH = 200
# How old (Azure seconds) a decision may be when the install leaves the pacer before it is
# read again: well under the shortest install (minutes), so another run's install cannot
# start and end unseen in between.
STALE_AFTER = 30.0
_TYPES = (
    "microsoft.compute/virtualmachines/patchinstallationresults",
    "microsoft.hybridcompute/machines/patchinstallationresults",
)
# An install run's id is the machine's id, then the table's segment and the run's name.
_MACHINE_OF_RUN = "^(.+)/patchinstallationresults/[^/]+$"


class InstallAppearedError(HotpatchError):
    """An install for this release appeared on the machine between the guard's read and our
    request leaving the pacer: ours was not sent (the runner reads the record again and
    takes that install's result)."""

    code = "InstallAppeared"


# --- the rule ---------------------------------------------------------------------------------


def release_start(today: date, *, released: date | None = None) -> datetime:
    """When the release in force on ``today`` began, as the guard counts it: 00:00 UTC on its
    Patch Tuesday, or on ``released`` (an out-of-band release) when that is later and has
    come (see the module docstring)."""
    day = calendar.current_release(today).date
    if released is not None and day < released <= today:
        day = released
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


def deciding(
    records: Iterable[OtherInstall],
    since: datetime,
    *,
    ours: Iterable[str] = (),
    again: bool = False,
) -> OtherInstall | None:
    """The install that makes sending one a repeat, if any: one still running (whenever it
    started: Azure would refuse ours, and what it installs is not known until it ends), else
    the latest one started on or after ``since``. ``ours`` are activities this caller sent
    itself. With ``again`` (a retry of failed machines), one that ended without succeeding
    does not stop a new attempt."""
    mine = set(ours)
    theirs = [r for r in records if r.activity_id not in mine]
    running = [r for r in theirs if not r.status.done]
    if running:
        return max(running, key=_start)
    done = [r for r in theirs if r.started is not None and r.started >= since]
    if not done:
        return None
    latest = max(done, key=_start)
    if again and latest.status is not OperationStatus.SUCCEEDED:
        return None
    return latest


def _start(record: OtherInstall) -> datetime:
    return record.started or datetime.min.replace(tzinfo=timezone.utc)


def code_of(other: OtherInstall) -> str:
    return PATCHED_BY_PLATFORM if other.by_platform else PATCHED_BY_ANOTHER_RUN


def result_of(
    resource: str, kind: MachineKind, other: OtherInstall, row: Mapping[str, Any]
) -> Installation:
    """The other install's result as an `Installation` of the machine (counts only: the
    table's rows list no patches), marked as theirs."""
    found = installation(resource, kind, row)
    return Installation(
        resource=found.resource,
        kind=found.kind,
        status=found.status,
        activity_id=other.activity_id,
        started=found.started,
        reboot_status=found.reboot_status,
        maintenance_window_exceeded=found.maintenance_window_exceeded,
        installed=found.installed,
        failed=found.failed,
        pending=found.pending,
        excluded=found.excluded,
        not_selected=found.not_selected,
        error=found.error,
        finished=found.finished if other.status.done else None,
        by=other,
    )


def other_install(properties: Mapping[str, Any], row_id: str) -> OtherInstall:
    """An install run's row (its ``properties``) as an `OtherInstall`; a VM's instance view
    summary reads the same, without ``startedBy`` (`UNKNOWN_STARTER`)."""
    activity = properties.get("installationActivityId") or row_id.rsplit("/", 1)[-1]
    return OtherInstall(
        activity_id=str(activity),
        status=OperationStatus.parse(properties.get("status")),
        started=timestamp(properties.get("startDateTime") or properties.get("startTime")),
        started_by=str(properties.get("startedBy") or UNKNOWN_STARTER),
        maintenance_run_id=properties.get("maintenanceRunId") or None,
    )


# --- the record -------------------------------------------------------------------------------


class StillClear:
    """That no install makes ours a repeat, as the record read at `cleared` showed it (Azure
    time: when the read was sent, not when its answer was looked at, which a busy client may
    do much later). Stale `STALE_AFTER` Azure seconds later, when the record is read again
    and `InstallAppearedError` keeps the install from going if it now shows one."""

    def __init__(
        self,
        records: InstallRecords,
        rid: ResourceId,
        *,
        released: date | None,
        ours: tuple[str, ...],
        again: bool,
    ) -> None:
        self.records, self.rid = records, rid
        self.released, self.ours, self.again = released, ours, again
        self.cleared = records.as_of(rid)

    def concerns(self, method: str, url: str) -> bool:
        """The machine's installPatches, and no other request (reads that settle or follow
        it, Resource Graph queries, which are POSTs too)."""
        path = urlsplit(url).path.lower().rstrip("/")
        return method == "POST" and path == f"{self.rid.key}/installpatches"

    def age(self) -> float:
        return (self.records.session.azure_now() - self.cleared).total_seconds()

    def stale(self) -> bool:
        return self.age() >= STALE_AFTER

    async def refresh(self) -> None:
        age = self.age()
        found = await self.records.deciding(
            self.rid, released=self.released, ours=self.ours, again=self.again
        )
        if found is not None:
            raise InstallAppearedError(
                f"install {found[0].activity_id} started on the machine while ours waited "
                f"{age:.0f} s to be sent; ours was not sent",
                resource=str(self.rid),
                fix="nothing to do: that install's result is the machine's",
            )
        self.cleared = self.records.as_of(self.rid)


Run = tuple[OtherInstall, dict[str, Any]]


# The machine's own record, read when Resource Graph cannot be (None: it keeps none).
Fallback = Callable[[ResourceId], Awaitable[list[Run] | None]]


class InstallRecords:
    """Machines' install runs from Resource Graph, one query for the machines that ask at
    about the same time (see the module docstring). When Resource Graph cannot be read past
    the retries, ``fallback`` reads the machine itself (a VM's instance view holds its
    latest install); where it has nothing to read either (Arc), the step fails: without the
    record, an install could be a repeat."""

    def __init__(
        self, session: Session, *, batch: int = BATCH, fallback: Fallback | None = None
    ) -> None:
        self.session = session
        self.batch = batch
        self.fallback = fallback
        self._asking: list[tuple[ResourceId, asyncio.Future[list[Run]]]] = []
        self._task: asyncio.Task[None] | None = None
        self._read_at: dict[str, datetime] = {}  # Azure time each machine's record was read

    def as_of(self, rid: ResourceId) -> datetime:
        """When the machine's record, as last read, was asked for (Azure time; now if never):
        what it says may have changed since, not before."""
        return self._read_at.get(rid.key) or self.session.azure_now()

    async def of(self, rid: ResourceId) -> list[Run]:
        """The machine's install runs as Resource Graph shows them now."""
        future: asyncio.Future[list[Run]] = asyncio.get_running_loop().create_future()
        self._asking.append((rid, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._answer())
        try:
            return await future
        except HotpatchError:
            asked = self.session.azure_now()
            own = None if self.fallback is None else await self.fallback(rid)
            if own is None:
                raise
            self._read_at[rid.key] = asked
            return own

    async def deciding(
        self,
        rid: ResourceId,
        *,
        released: date | None = None,
        ours: Iterable[str] = (),
        again: bool = False,
    ) -> Run | None:
        """The install that makes sending one a repeat (`deciding`), with its row. The
        release is the one in force on Azure's today (its clock, from the answer to the
        read, not this machine's)."""
        runs = await self.of(rid)
        since = release_start(self.session.azure_now().date(), released=released)
        decisive = deciding((other for other, _ in runs), since, ours=ours, again=again)
        return None if decisive is None else next(r for r in runs if r[0] is decisive)

    def still_clear(
        self,
        rid: ResourceId,
        *,
        released: date | None = None,
        ours: Iterable[str] = (),
        again: bool = False,
    ) -> StillClear:
        """A check for the moment the install leaves the pacer (`Session.checked`), made
        from now (see the module docstring)."""
        return StillClear(self, rid, released=released, ours=tuple(ours), again=again)

    async def ended(self, rid: ResourceId, activity: str, deadline: Deadline) -> Run:
        """The install ``activity`` once it has ended, reading the record every poll
        interval (batched with every other machine waiting) until the deadline. Where
        Resource Graph does not show it yet (it lags; Azure's 409 found it), the machine's
        own record is read (a VM's instance view)."""
        while True:
            found = _run(await self.of(rid), activity)
            if found is None and self.fallback is not None:
                found = _run(await self.fallback(rid) or [], activity)
            if found is not None and found[0].status.done:
                return found
            if deadline.remaining() <= 0:
                raise DeadlineExceededError(
                    f"another install ({activity}) was still running on the machine after "
                    f"{deadline.seconds:.0f} s",
                    resource=str(rid),
                    fix="nothing was sent: check the machine's install history (status) later",
                )
            await asyncio.sleep(min(self.session.polling_interval, max(0.0, deadline.remaining())))

    async def _answer(self) -> None:
        await asyncio.sleep(0)  # the machines asking at this moment join this query
        while self._asking:
            asked, self._asking = self._asking[: self.batch], self._asking[self.batch :]
            try:
                self._resolve(asked, await self._query([rid for rid, _ in asked]))
            except HotpatchError as error:
                await self._each_subscription(asked, error)

    async def _each_subscription(
        self, asked: list[tuple[ResourceId, asyncio.Future[list[Run]]]], error: HotpatchError
    ) -> None:
        """A query over several subscriptions failed past its retries: ask each on its own,
        so that one subscription Resource Graph cannot read fails only its own machines."""
        by_subscription: dict[str, list[tuple[ResourceId, asyncio.Future[list[Run]]]]] = {}
        for rid, future in asked:
            by_subscription.setdefault(rid.subscription_id.lower(), []).append((rid, future))
        if len(by_subscription) == 1:
            self._fail(asked, error)
            return
        for group in by_subscription.values():
            try:
                self._resolve(group, await self._query([rid for rid, _ in group]))
            except HotpatchError as failed:
                self._fail(group, failed)

    @staticmethod
    def _resolve(
        asked: list[tuple[ResourceId, asyncio.Future[list[Run]]]], found: dict[str, list[Run]]
    ) -> None:
        for rid, future in asked:
            if not future.done():
                future.set_result(found.get(rid.key, []))

    @staticmethod
    def _fail(
        asked: list[tuple[ResourceId, asyncio.Future[list[Run]]]], error: HotpatchError
    ) -> None:
        for _, future in asked:
            if not future.done():
                future.set_exception(error)

    async def _query(self, machines: Sequence[ResourceId]) -> dict[str, list[Run]]:
        keys = sorted({rid.key for rid in machines})
        subscriptions = sorted({rid.subscription_id for rid in machines})
        asked = self.session.azure_now()
        found: dict[str, list[Run]] = {}
        async for row in graph.rows(self.session, _query(keys), subscriptions=subscriptions):
            machine = str(row.get("machine") or "").lower()
            properties = dict(row.get("properties") or {})
            run = (other_install(properties, str(row.get("id", ""))), properties)
            found.setdefault(machine, []).append(run)
        for key in keys:
            self._read_at[key] = max(asked, self._read_at.get(key, asked))
        return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _run(runs: Iterable[Run], activity: str) -> Run | None:
    return next((run for run in runs if run[0].activity_id == activity), None)


def _query(machines: Sequence[str]) -> str:
    """Every install run of the machines (lower-cased ids) the table holds."""
    listed = ", ".join(_literal(m) for m in machines)
    types = ", ".join(_literal(t) for t in _TYPES)
    return (
        f"patchinstallationresources | where type in~ ({types}) "
        f"| extend machine = extract('{_MACHINE_OF_RUN}', 1, tolower(id)) "
        f"| where machine in~ ({listed}) "
        "| project id, machine, properties"
    )


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
