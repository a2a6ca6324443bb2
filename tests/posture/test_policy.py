"""Azure Policy beside the machines' own settings: where the estate assigns the built-in patch
orchestration definitions, a machine Policy calls compliant whose settings say otherwise is
``policy-mismatch``, judged against the emulator's truth (its Policy states and the machines'
settings), with the reason naming the definition and the setting, and the fix."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from azhotpatch.cli.errors import COMMAND_LINE
from azhotpatch.errors import PYTHON
from azhotpatch.fleet.posture import Posture
from azhotpatch.posture_rules import Verdict
from azhotpatch.testing import Emulator
from azhotpatch.testing.graph.policy import ASSESSMENT, HOTPATCH, ORCHESTRATION
from tests.posture.test_estate import builds

START = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _verdicts(posture: Posture) -> dict[str, str]:
    return {m.resource.lower(): m.verdict.value for m in posture.machines}


def _truth(emu: Emulator) -> dict[str, str]:
    return {rid: t.posture.verdict for rid, t in emu.truth().items()}


def _assess_by_platform(emu: Emulator, rid: str, mode: str) -> None:
    """The machine's patchSettings.assessmentMode, set in Azure behind azhotpatch's back."""
    machine = emu.machine(rid)
    if hasattr(machine, "patch_settings"):
        machine.patch_settings["assessmentMode"] = mode
    else:
        machine.assessment_mode = mode
    emu.world.changed()


def test_policy_compliant_but_not_configured_is_a_verdict_of_its_own() -> None:
    with Emulator(fleet="sample:300", start=START, time_scale=2400) as emu:
        fleet = emu.fleet
        assert fleet is not None
        truth = emu.truth()
        eligible = sorted(r for r, t in truth.items() if t.posture.verdict != "not-eligible")
        vms = {vm.id.lower(): vm for vm in fleet.vms}
        arcs = {arc.id.lower() for arc in fleet.arcs}
        # a few machines the platform assesses, so the assessment definition finds them
        # Compliant; then Policy is assigned across the estate and evaluates it
        assessed_vm = next(r for r in eligible if r in vms)
        assessed_arc = next(r for r in eligible if r in arcs)
        for rid in (assessed_vm, assessed_arc):
            _assess_by_platform(emu, rid, "AutomaticByPlatform")
        for subscription in fleet.subscriptions:
            for definition in (ASSESSMENT, ORCHESTRATION, HOTPATCH):
                emu.assign_policy(definition, f"/subscriptions/{subscription}")
        table = builds(emu)
        with emu.client() as client:
            clean = client.posture(builds=table)
            assert "policy-mismatch" not in clean.counts  # states agree with the settings
            # since Policy's evaluation: two enrolled Azure Edition VMs leave Hotpatch and
            # the two machines stop being assessed by the platform
            enrolled = [
                r
                for r in eligible
                if r in vms
                and truth[r].posture.verdict in ("current", "behind", "stale")
                and "azure-edition" in vms[r].sku
            ][:2]
            for rid in enrolled:
                client.disable(vms[rid].id)
            for rid in (assessed_vm, assessed_arc):
                _assess_by_platform(emu, rid, "ImageDefault")
            before = len(emu.requests())
            posture = client.posture(builds=table)
            sent = Counter(r.route for r in emu.requests()[before:])
        expected = _truth(emu)
        mismatched = {r for r, word in expected.items() if word == "policy-mismatch"}
        assert mismatched == set(enrolled) | {assessed_vm, assessed_arc}
        assert _verdicts(posture) == expected
        assert set(sent) == {"graph.resources"}  # no machine read on its own
        # the reason names the definition that says Compliant and the setting that disagrees
        hotpatch_off = posture.of(vms[enrolled[0]].id)
        assert hotpatch_off is not None
        assert hotpatch_off.verdict is Verdict.POLICY_MISMATCH
        messages = " ".join(r.message for r in hotpatch_off.reasons)
        assert "Hotpatch should be enabled for Windows Server Azure Edition VMs" in messages
        assert "enableHotpatching is false, not true" in messages
        assert hotpatch_off.fix is not None
        assert "enable()" in hotpatch_off.fix.render(PYTHON)
        assert "azhotpatch enable" in hotpatch_off.fix.render(COMMAND_LINE)
        arc = posture.of(assessed_arc)
        assert arc is not None
        assert [r.rule.value for r in arc.reasons] == ["PolicyMismatch"]
        assert "assessmentMode is ImageDefault, not AutomaticByPlatform" in arc.reasons[0].message
        # a compliance scan brings Policy up to date: no mismatch is left; the VMs taken out
        # of Hotpatch are not enrolled, every other machine is what it was
        emu.evaluate_policies()
        with emu.client() as client:
            rescanned = client.posture(builds=table)
        after = _truth(emu)
        assert "policy-mismatch" not in after.values()
        after.update(dict.fromkeys(enrolled, "not-enrolled"))
        after.update({rid: truth[rid].posture.verdict for rid in (assessed_vm, assessed_arc)})
        assert _verdicts(rescanned) == after
