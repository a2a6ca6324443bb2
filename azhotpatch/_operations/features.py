"""The Compute preview features older Hotpatch automation registers, and the provider refresh.

Azure stopped requiring these for Hotpatch on VMs in 2022, but policies and older runbooks
still expect them, so the library registers them on request: idempotently (a feature already
``Registered`` costs one read), reporting each state, then re-registering
``Microsoft.Compute`` so the change propagates, as Microsoft's docs prescribe.
"""

from __future__ import annotations

import asyncio
from typing import Any

from azhotpatch import _validation
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch.errors import FeatureRegistrationTimeout
from azhotpatch.models import FeatureRegistration, Registration

NAMESPACE = "Microsoft.Compute"
PREVIEW_FEATURES = (
    "InGuestHotPatchVMPreview",
    "InGuestAutoPatchVMPreview",
    "InGuestPatchVMPreview",
)
_SETTLED = ("registered", "pending")
_UNDERWAY = (*_SETTLED, "registering")


def check_subscription(subscription_id: str) -> str:
    return _validation.subscription_id(subscription_id, "subscription_id")


async def register_preview_features(
    session: Session, subscription_id: str, *, wait: bool, deadline: Deadline
) -> Registration:
    client = session.features(subscription_id)
    resource = f"/subscriptions/{subscription_id}"

    async def state(name: str, *, register: bool) -> str:
        async def call() -> Any:
            if register:
                return await client.features.register(NAMESPACE, name)
            return await client.features.get(NAMESPACE, name)

        doing = f"{'registering' if register else 'reading'} feature {NAMESPACE}/{name}"
        result = await session.call(call, resource=resource, doing=doing, deadline=deadline)
        return str((result.properties.state if result.properties else None) or "Unknown")

    before = await asyncio.gather(*(state(f, register=False) for f in PREVIEW_FEATURES))
    states = dict(zip(PREVIEW_FEATURES, before, strict=True))
    changed = [f for f, s in states.items() if s.lower() not in _UNDERWAY]
    for name, now in zip(
        changed, await asyncio.gather(*(state(f, register=True) for f in changed)), strict=True
    ):
        states[name] = now
    if wait:
        states = await _settle(
            states, lambda f: state(f, register=False), session, deadline, resource
        )
    provider_state, refreshed = await _provider(
        session, subscription_id, bool(changed), wait, deadline
    )
    return Registration(
        subscription_id=subscription_id,
        features=tuple(FeatureRegistration(f"{NAMESPACE}/{f}", s) for f, s in states.items()),
        provider_state=provider_state,
        provider_reregistered=refreshed,
    )


async def _settle(
    states: dict[str, str],
    read: Any,
    session: Session,
    deadline: Deadline,
    resource: str,
) -> dict[str, str]:
    """Poll, with growing pauses, until every feature is Registered or Pending (approval)."""
    pause = session.polling_interval / 3
    while True:
        waiting = [f for f, s in states.items() if s.lower() not in _SETTLED]
        if not waiting:
            return states
        if deadline.remaining() <= 0:
            listing = ", ".join(f"{NAMESPACE}/{f}={states[f]}" for f in waiting)
            raise FeatureRegistrationTimeout(
                f"preview features not registered after {deadline.seconds:.0f} s: {listing}",
                resource=resource,
                fix="registration can take 15 minutes or more; call again later with wait=True "
                "(it is idempotent), or check `az feature show`",
            )
        await asyncio.sleep(min(pause, max(0.0, deadline.remaining())))
        pause = min(pause * 1.5, session.polling_interval * 2)
        for name, now in zip(
            waiting, await asyncio.gather(*(read(f) for f in waiting)), strict=True
        ):
            states[name] = now


async def _provider(
    session: Session, subscription_id: str, refresh: bool, wait: bool, deadline: Deadline
) -> tuple[str, bool]:
    client = session.resources(subscription_id)
    resource = f"/subscriptions/{subscription_id}/providers/{NAMESPACE}"

    async def read() -> str:
        async def get() -> Any:
            return await client.providers.get(NAMESPACE)

        provider = await session.call(
            get, resource=resource, doing="reading the provider", deadline=deadline
        )
        return str(provider.registration_state)

    if not refresh:
        return await read(), False

    async def register() -> Any:
        return await client.providers.register(NAMESPACE)

    result = await session.call(
        register, resource=resource, doing=f"re-registering {NAMESPACE}", deadline=deadline
    )
    current = str(result.registration_state)
    while wait and current.lower() != "registered":
        if deadline.remaining() <= 0:
            raise FeatureRegistrationTimeout(
                f"{NAMESPACE} is still {current!r} after {deadline.seconds:.0f} s",
                resource=resource,
                fix="call again later; provider registration usually completes in minutes",
            )
        await asyncio.sleep(min(session.polling_interval / 3, max(0.0, deadline.remaining())))
        current = await read()
    return current, True
