"""What every kind of machine does the same way around an assessment or an installation:
send it once (`azhotpatch._azure.trigger`), settle one that may have reached Azure by reading
the machine's state, and wait for it with a poll cadence that learns (in a fleet run) how long
such operations take. A kind says only what differs: its SDK call, where its history lives,
and how its result is read.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azhotpatch._azure import trigger
from azhotpatch._azure.cadence import wait_on_cadence
from azhotpatch._azure.lro import LroCall, OperationToken, PollCadence, PollTiming
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import Probe, Settled, Started
from azhotpatch.ids import ResourceId
from azhotpatch.models import Action, Assessment, Installation, InstallOptions

__all__ = ["PatchOperations"]

Polling = Callable[[], dict[str, Any]]


class PatchOperations(abc.ABC):
    """The base of each kind's assess and install (see the module docstring)."""

    session: Session
    # one cadence per operation waited on: "update"/"license" for enrollment, and the actions
    cadences: dict[str | Action, PollCadence]

    # --- what each kind says -------------------------------------------------------------------

    @abc.abstractmethod
    def _operation(
        self, rid: ResourceId, action: Action, options: InstallOptions | None, polling: Polling
    ) -> LroCall:
        """The SDK's ``begin_assess_patches``/``begin_install_patches`` call."""

    @abc.abstractmethod
    def _polling(self, timing: PollTiming) -> Polling:
        """How a poller made with ``timing`` polls (and where its result is read)."""

    @abc.abstractmethod
    def _probe(self, rid: ResourceId, action: Action) -> Probe:
        """How to read the machine's latest operation of this kind."""

    @abc.abstractmethod
    async def _latest(self, rid: ResourceId, action: Action) -> str | None:
        """The machine's latest activity of this kind, read now."""

    @abc.abstractmethod
    async def _result(
        self, token: OperationToken, started: Started | None, deadline: Deadline, poll: PollTiming
    ) -> Assessment | Installation:
        """Wait for the operation (its first poll already waited for) and read its result."""

    # --- the same for every kind ----------------------------------------------------------------

    async def start(
        self, rid: ResourceId, action: Action, options: InstallOptions | None, deadline: Deadline
    ) -> tuple[OperationToken, Started]:
        """Send assessPatches/installPatches once; return the handle and how to wait for it."""
        return await self.begin(rid, action, options, await self._latest(rid, action), deadline)

    async def begin(
        self,
        rid: ResourceId,
        action: Action,
        options: InstallOptions | None,
        previous: str | None,
        deadline: Deadline,
    ) -> tuple[OperationToken, Started]:
        """Send the request, knowing the machine's latest activity of this kind before it
        (``previous``), with a poller made for the cadence's current timing."""
        timing = self.cadences[action].timing()
        call = self._operation(rid, action, options, self._polling(timing))
        started = await trigger.trigger(
            self.session,
            call.start,
            self._probe(rid, action),
            previous,
            resource=str(rid),
            doing=action.doing,
            deadline=deadline,
        )
        sdk_token = started.poller.continuation_token() if started.poller is not None else None
        # attached to another's operation that was already the latest before ours: waiting
        # for one newer than it would wait for nothing, so wait for the latest to end
        before = None if started.theirs is not None and started.theirs == previous else previous
        token = OperationToken(action, str(rid), before, sdk_token)
        return token, replace(started, timing=timing)

    async def settle(
        self, rid: ResourceId, action: Action, previous: str | None, *, again: bool = False
    ) -> Settled:
        """After a crash between recording an intent and hearing back, or on retrying a step
        that failed: whether the machine shows the request was received (see
        `trigger.settle`)."""
        return await trigger.settle(self._probe(rid, action), previous, again=again)

    async def finish(
        self,
        token: OperationToken,
        started: Started | None,
        deadline: Deadline,
        *,
        fresh: bool = False,
    ) -> Assessment | Installation:
        """Wait for an operation from `begin` (``fresh``: just sent, so its first poll goes
        out when the cadence expects it done, and the cadence learns from it) or from a resumed
        handle (polled at once), and parse its result."""
        cadence = self.cadences[token.action]
        learn = fresh and started is not None and started.poller is not None
        timing = (
            started.timing
            if fresh and started is not None
            else replace(cadence.timing(), first=0.0)
        )

        async def wait() -> Assessment | Installation:
            await timing.before_first_poll(deadline)
            return await self._result(token, started, deadline, timing)

        return await wait_on_cadence(cadence, timing, wait, learn=learn, length=lambda r: r.seconds)

    def expected_seconds(self, action: Action) -> float:
        """How long a step's operation is expected to take, in wall seconds (an enrollment:
        its first update's)."""
        enrolling = action in (Action.ENABLE, Action.DISABLE)
        return self.cadences[self._enrollment_cadence if enrolling else action].timing().first

    _enrollment_cadence = "update"
