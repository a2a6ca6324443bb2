"""Issue acceptance: access tokens that expire mid-run. The emulator refuses an expired
token as ARM does (401 ``ExpiredAuthenticationToken``); the request was not processed, so
it is sent again with a fresh token, and no machine fails for it."""

from __future__ import annotations

from collections import Counter

from azure.core.credentials import AccessTokenInfo

from azhotpatch.testing import AsyncEmulatorCredential, Durations, Emulator, FleetSpec

from .conftest import SUB, arc_spec, vm_spec


class _StaleFirst(AsyncEmulatorCredential):
    """Hands out one token that has already expired (a cache's last token, say), then
    fresh ones."""

    def __init__(self) -> None:
        super().__init__(lifetime=-60.0)

    def _info(self) -> AccessTokenInfo:
        info = super()._info()
        self.lifetime = 3600.0
        return info


def test_an_expired_token_is_refused_and_the_request_sent_again_with_a_fresh_one() -> None:
    with Emulator(time_scale=2400) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec(months_behind=1))
        with emu.client(credential=_StaleFirst()) as client:
            result = client.install(vm)
        refused = [r for r in emu.requests() if r.status == 401]
    assert result.installed >= 1
    assert len(refused) == 1
    assert len(emu.install_history()[vm.lower()]) == 1


def test_a_run_several_token_lifetimes_long_fails_no_machine_for_it() -> None:
    """10-minute tokens (Azure time), operations that take half an hour: the run outlives
    many tokens, and every machine ends as a calm run's would."""
    spec = FleetSpec(vms=60, arc=20, subscriptions=2, mix="clean", seed=12)
    slow = Durations(assess=900.0, install=1800.0, arc_enablement=600.0)
    with Emulator(
        fleet=spec, seed=12, time_scale=1200, durations=slow, token_lifetime=600.0
    ) as emu:
        with emu.client() as client:
            report = client.run(subscriptions=sorted(emu.world.subscriptions))
        emulated = emu.stats().emulated_seconds
        statuses = Counter(r.status for r in emu.requests())
    assert emulated >= 3 * 600.0
    assert report.counts == {"succeeded": 80}, report.summary()
    assert statuses[401] <= report.requests // 20  # refused tokens are rare and resent once


def test_an_arc_machine_enrolls_through_expiring_tokens() -> None:
    with Emulator(time_scale=600, token_lifetime=30.0) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = emu.add_arc(arc_spec())
        with emu.client() as client:
            enrolled = client.enable(arc)
    assert enrolled.after.value == "Enrolled"
