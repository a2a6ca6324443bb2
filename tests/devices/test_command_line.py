"""``azhotpatch devices ...`` against an embedded emulator: JSON results and exit codes as
for servers, bad input refused before anything is sent."""

from __future__ import annotations

import json

from tests.contract.conftest import invoke

EMULATED = ["--emulator", "sample:40", "--output", "json"]


def test_check_reports_every_device_and_exits_1_when_some_are_not_ready() -> None:
    ran = invoke([*EMULATED, "devices", "check"])
    report = json.loads(ran.stdout)
    assert ran.code == 1
    assert report["not_ready"] > 0
    assert report["ready"] + report["not_ready"] == len(report["devices"])
    reasons = [r for d in report["devices"] for r in d["reasons"]]
    assert reasons
    assert all(r["fix"] for r in reasons)


def test_enable_converges_and_a_dry_run_says_what_it_would_write() -> None:
    ran = invoke([*EMULATED, "devices", "enable", "--name", "Hotpatch", "--dry-run"])
    assert ran.code == 0, ran
    plan = json.loads(ran.stdout)
    assert plan["change"] == "create"
    assert plan["writes"] == 1
    done = invoke([*EMULATED, "devices", "enable", "--name", "Hotpatch"])
    assert done.code == 0
    assert json.loads(done.stdout)["policy_id"]


def test_status_exits_0_and_says_what_graph_cannot_show() -> None:
    ran = invoke([*EMULATED, "devices", "status"])
    assert ran.code == 0
    status = json.loads(ran.stdout)
    assert status["report"] == "QualityUpdateDeviceStatusByPolicy"
    assert "opt" in status["note"]


def test_bad_input_exits_64() -> None:
    for arguments in (
        ["devices", "enable", "--include", "not-a-guid"],
        ["devices", "enable", "--name", "x" * 201],
        ["devices", "check", "not-a-device-id"],
    ):
        ran = invoke([*EMULATED, *arguments])
        assert ran.code == 64, (arguments, ran)
        assert not ran.traceback
