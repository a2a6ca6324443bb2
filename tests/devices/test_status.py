"""Status: Intune's report per policy, exported and parsed; and for every device why it gets
hotpatches, judged by the emulator's own state."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from azhotpatch.devices.aio import AUTOPATCH_DEFAULT_FROM
from azhotpatch.devices.models import HotpatchSource
from azhotpatch.testing import Emulator
from tests.devices.conftest import groups


def test_a_status_export_completes_and_is_parsed(tenant: Emulator) -> None:
    ring = groups(tenant)
    with tenant.devices_client() as devices:
        on = devices.enable("Hotpatch", include=ring[:3], exclude=ring[3:4])
        off = devices.enable("No hotpatch", include=ring[4:5])
        policy_id = tenant.intune.policies[off.policy.id]  # type: ignore[union-attr]
        policy_id.body["hotpatchEnabled"] = False  # a policy that keeps cumulative updates
        report = devices.status(today=date(2026, 6, 1))
        before_default = devices.status(today=date(2026, 3, 1))
    assert on.policy is not None
    expected = {
        (row["PolicyId"], row["DeviceId"], row["AggregateState_loc"])
        for p in (on.policy.id, off.policy.id)  # type: ignore[union-attr]
        for row in tenant.intune.report_rows(p)
    }
    assert expected
    assert {(r.policy_id, r.device_id, r.aggregate_state) for r in report.rows} == expected
    windows = [d for d in tenant.intune.devices.values() if d.operating_system == "Windows"]
    assert set(report.sources) == {d.id for d in windows}
    for device in windows:
        assert report.source_of(device.id).value == tenant.intune.hotpatch_source(
            device.id, date(2026, 6, 1), AUTOPATCH_DEFAULT_FROM
        )
        if report.source_of(device.id) is HotpatchSource.AUTOPATCH_DEFAULT:
            assert before_default.source_of(device.id) is HotpatchSource.NONE
    assert set(report.counts()) == {"policy", "policyOff", "autopatchDefault"}
    assert "not readable over Microsoft Graph" in report.summary()


def test_intune_s_429s_without_retry_after_are_waited_out() -> None:
    from azhotpatch.testing.msgraph.front import IntuneLimits

    with Emulator(
        devices=200, seed=8, time_scale=600, graph_limits=IntuneLimits(spurious_429=0.15)
    ) as emulator:
        truth = emulator.device_truth()
        with emulator.devices_client() as devices:
            report = devices.readiness()
            pauses = devices.aio.session.pacer.stats.pauses
        throttled = [r for r in emulator.graph.records if r.throttled]
    assert throttled
    assert pauses >= len(throttled)
    assert all(
        frozenset(r.rule.value for r in d.verdict.reasons) == truth[d.device.id].rules
        for d in report.devices
    )
    assert len(report.devices) == sum(
        1 for t in truth.values() if "DeviceNotWindows" not in t.rules
    )


def test_a_missing_graph_permission_names_the_permission_to_grant(tenant: Emulator) -> None:
    from azhotpatch.errors import AuthorizationError

    tenant.graph.denied.add("intune.devices.list")
    with tenant.devices_client() as devices, pytest.raises(AuthorizationError) as raised:
        devices.readiness()
    assert "DeviceManagementManagedDevices.Read.All" in str(raised.value.fix)
    assert raised.value.azure_code == "Authorization_RequestDenied"
    assert raised.value.request_id  # Graph's request-id, what support asks for


def test_an_export_job_read_wrapped_in_value_is_read_like_a_bare_one(tenant: Emulator) -> None:
    """The Graph reference's example of reading an export job wraps the job in ``value``
    (intune-reporting-devicemanagementexportjob-get.md); Graph answers it bare. Both are
    read alike, to the same report."""
    ring = groups(tenant)
    with tenant.devices_client() as devices:
        devices.enable("Hotpatch", include=ring[:3])
        bare = devices.status(today=date(2026, 6, 1))
        tenant.intune.single_items_wrapped = True
        wrapped = devices.status(today=date(2026, 6, 1))
    reads = [r for r in tenant.graph.records if r.route.startswith("intune.exports.get")]
    assert len(reads) >= 2  # the job was read (polled) both ways

    def states(report: Any) -> set[tuple[str, str, str, str]]:
        return {(r.policy_id, r.device_id, r.aggregate_state, r.update_status) for r in report.rows}

    assert states(wrapped) == states(bare)
    assert states(bare)
    assert wrapped.sources == bare.sources


def test_graph_throttling_is_said_to_be_microsoft_graph_s() -> None:
    """Past the retry budget, Graph's 429 is Microsoft Graph's in the message, not Azure's."""
    from azhotpatch.errors import ThrottledError
    from azhotpatch.testing.msgraph.front import IntuneLimits

    every = IntuneLimits(spurious_429=1.0)
    with (
        Emulator(devices=5, seed=8, time_scale=600, graph_limits=every) as emulator,
        emulator.devices_client() as devices,
        pytest.raises(ThrottledError) as raised,
    ):
        devices.readiness()
    message = str(raised.value)
    assert "Microsoft Graph answered 429" in message
    assert "Azure" not in message
