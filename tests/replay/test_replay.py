"""Replay the recorded cassettes with no server and no network: the library must make the
same requests and reach the same results from recorded traffic alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azhotpatch import Hotpatch
from azhotpatch.models import (
    Assessment,
    Eligibility,
    Enrollment,
    EnrollmentState,
    HotpatchStatus,
    Installation,
    OperationStatus,
    Registration,
    Rule,
)
from azhotpatch.testing import EmulatorCredential
from azhotpatch.testing.recording import CANONICAL_ENDPOINT, Scrubber, leaks, recorder

from .scenarios import NEUTRAL, SCENARIOS

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


@pytest.fixture
def replay() -> Iterator[Hotpatch]:
    """A client that can only replay: any request missing from the cassette fails."""
    with Hotpatch(EmulatorCredential(), endpoint=CANONICAL_ENDPOINT, polling_interval=0) as client:
        yield client


def run(name: str, client: Hotpatch) -> object:
    vcr = recorder(CASSETTES, Scrubber(), mode="none")
    with vcr.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as cassette:
        result = SCENARIOS[name](client, NEUTRAL)
        assert cassette.all_played, f"{name}: some recorded requests were not made"
    return result


def test_every_scenario_has_a_cassette() -> None:
    assert {p.stem for p in CASSETTES.glob("*.yaml")} == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cassettes_hold_no_secrets(name: str) -> None:
    text = (CASSETTES / f"{name}.yaml").read_text()
    assert leaks(text) == []
    assert "127.0.0.1" not in text
    assert "User-Agent" not in text


def test_vm_check(replay: Hotpatch) -> None:
    verdict = run("vm_check", replay)
    assert isinstance(verdict, Eligibility)
    assert verdict.ok
    assert verdict.rules == {Rule.PATCH_MODE, Rule.HOTPATCH_SETTING_OFF}


def test_vm_check_unsupported(replay: Hotpatch) -> None:
    verdict = run("vm_check_unsupported", replay)
    assert isinstance(verdict, Eligibility)
    assert Rule.IMAGE_NOT_SUPPORTED in {r.rule for r in verdict.blockers}


def test_vm_enable(replay: Hotpatch) -> None:
    result = run("vm_enable", replay)
    assert isinstance(result, Enrollment)
    assert (result.before, result.after) == (EnrollmentState.NOT_ENROLLED, EnrollmentState.ENROLLED)


def test_vm_status(replay: Hotpatch) -> None:
    status = run("vm_status", replay)
    assert isinstance(status, HotpatchStatus)
    assert status.enrollment is EnrollmentState.ENROLLED


def test_vm_assess(replay: Hotpatch) -> None:
    assessment = run("vm_assess", replay)
    assert isinstance(assessment, Assessment)
    assert assessment.status is OperationStatus.SUCCEEDED
    assert assessment.patches


def test_vm_install(replay: Hotpatch) -> None:
    installation = run("vm_install", replay)
    assert isinstance(installation, Installation)
    assert installation.status is OperationStatus.SUCCEEDED
    assert installation.installed >= 1


def test_vm_disable(replay: Hotpatch) -> None:
    result = run("vm_disable", replay)
    assert isinstance(result, Enrollment)
    assert result.after is EnrollmentState.NOT_ENROLLED


def test_arc_check(replay: Hotpatch) -> None:
    verdict = run("arc_check", replay)
    assert isinstance(verdict, Eligibility)
    assert verdict.ok  # not enrolled yet: enabling will set both knobs
    assert {r.rule for r in verdict.changes} == {
        Rule.ARC_LICENSE_FEATURE_OFF,
        Rule.HOTPATCH_SETTING_OFF,
    }


def test_arc_enable(replay: Hotpatch) -> None:
    result = run("arc_enable", replay)
    assert isinstance(result, Enrollment)
    assert result.after is EnrollmentState.ENROLLED
    assert "licenseProfile Hotpatch=Enabled" in result.detail


def test_arc_status(replay: Hotpatch) -> None:
    status = run("arc_status", replay)
    assert isinstance(status, HotpatchStatus)
    assert status.enablement_status == "Enabled"


def test_arc_assess(replay: Hotpatch) -> None:
    assessment = run("arc_assess", replay)
    assert isinstance(assessment, Assessment)
    assert assessment.patches is None
    assert assessment.total >= 1


def test_arc_install(replay: Hotpatch) -> None:
    installation = run("arc_install", replay)
    assert isinstance(installation, Installation)
    assert installation.status is OperationStatus.SUCCEEDED


def test_features_register(replay: Hotpatch) -> None:
    registration = run("features_register", replay)
    assert isinstance(registration, Registration)
    assert registration.complete


def test_the_leak_detector_catches_what_it_must() -> None:
    dirty = (
        "Authorization: Bearer abc\n"
        "uri: https://management.azure.com/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/x\n"
        '{"tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47"}\n'
        "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjM0NTY3OCJ9.c2lnbmF0dXJlLXZhbHVl\n"
    )
    found = " | ".join(leaks(dirty))
    for expected in ("Authorization", "token", "subscription id", "tenantId"):
        assert expected in found
    scrubbed = Scrubber(endpoint="https://127.0.0.1:8443").text(
        dirty.replace("https://management.azure.com", "https://127.0.0.1:8443")
    )
    assert "0b1f6471" not in scrubbed
    assert "72f988bf" not in scrubbed
    assert "eyJhbGci" not in scrubbed
    assert "127.0.0.1" not in scrubbed
