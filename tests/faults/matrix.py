"""The fault matrix: which faults hit where, and what each machine must end in afterwards.

A cell is one fault kind, aimed at one route (and, for a status route, the kind of operation
it reports on), hit at one position: the first request there, the first status read once
the operation is done (the read that carries the result), or every request there. Each cell
gets a subscription of its own with one machine in it, so a whole matrix runs as one fleet
run while every fault stays where its cell puts it.

Outcomes are judged against what Azure did (`Emulator.azure_record`), never against an
error type: a one-off fault must end as Azure's own result says (succeeded, or failed
with the failing operation's code when Azure's operation failed); a fault on every attempt
must end failed with the code of its cause family, within a bounded number of requests.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults, VmSpec
from azhotpatch.testing._faults import OPERATION_FAULTS, REQUEST_FAULTS

# route, the operation a status route reports on, and its shape: "write" (PUT/PATCH),
# "action" (a POST that starts an operation), "run" (a PUT that runs a script: a run
# command), "create" (a POST that makes a named object: Intune's policy), "read" (GET) or
# "status" (an operation's). For Run Command, the "operation" is the script a request
# concerns (its PUT, its reads by name, its status). A "run" or "create" that may have been
# received is settled by reading what Azure (or Intune) holds by name.
Route = tuple[str, str | None, str]

VM_FLEET_ROUTES: tuple[Route, ...] = (
    ("vm.update", None, "write"),
    ("compute.operation", "vmUpdate", "status"),
    ("vm.instanceView", None, "read"),
    ("vm.assessPatches", None, "action"),
    ("compute.operation", "assessPatches", "status"),
    ("vm.installPatches", None, "action"),
    ("compute.operation", "installPatches", "status"),
)
ARC_FLEET_ROUTES: tuple[Route, ...] = (
    ("arc.license.get", None, "read"),
    ("arc.license.put", None, "write"),
    ("arc.operationStatus", "licenseProfile", "status"),
    ("arc.update", None, "write"),
    ("arc.assessPatches", None, "action"),
    ("arc.patchOperation", "assessPatches", "status"),
    ("arc.installPatches", None, "action"),
    ("arc.patchOperation", "installPatches", "status"),
)
# An Arc machine with a license profile whose Hotpatch feature is off is changed by PATCH.
ARC_RELICENSED_ROUTES: tuple[Route, ...] = (("arc.license.patch", None, "write"),)
# What single-machine calls send besides (the fleet takes these facts from its inventory).
VM_SINGLE_ROUTES: tuple[Route, ...] = (
    ("vm.get", None, "read"),
    ("images.listSkus", None, "read"),
)
ARC_SINGLE_ROUTES: tuple[Route, ...] = (
    ("arc.get", None, "read"),
    ("graph.resources", "patchassessmentresources", "read"),
    ("graph.resources", "patchinstallationresources", "read"),
)

# Remediation through Run Command on an Arc machine whose VBS is off (a fleet run with
# remediate=True, reboot="now"): the measuring script and the restart, each by its PUT, its
# operation status and its reads by name (the SDK's final GET, and the reads that settle a
# send or follow a run command), and the list of the machine's run commands read before a
# restart (the guard across runs).
REMEDIATION_ROUTES: tuple[Route, ...] = (
    ("arc.runCommand.put", "measure", "run"),
    ("arc.operationStatus", "measure", "status"),
    ("arc.runCommand.get", "measure", "read"),
    ("arc.runCommand.list", None, "read"),
    ("arc.runCommand.put", "restart", "run"),
    ("arc.operationStatus", "restart", "status"),
    ("arc.runCommand.get", "restart", "read"),
)
RUN_COMMAND_SCRIPTS = ("measure", "restart")

REQUEST_KINDS = REQUEST_FAULTS
OPERATIONS = {
    "vm": ("vmUpdate", "assessPatches", "installPatches"),
    "arc": ("licenseProfile", "assessPatches", "installPatches"),
    "arc-vbs": RUN_COMMAND_SCRIPTS,
}


@dataclass(frozen=True)
class Cell:
    kind: str
    machine: str  # "vm" | "arc" | "arc-relicensed" | "arc-vbs" (remediated first)
    route: str | None
    operation: str | None
    shape: str
    at: str

    @property
    def name(self) -> str:
        aimed = (
            f"{self.route}[{self.operation}]"
            if self.route and self.operation
            else (self.route or self.operation)
        )
        return f"{self.kind}@{aimed}:{self.at}:{self.machine}"

    def rule(self, scope: str) -> FaultRule:
        return FaultRule(self.kind, self.route, self.operation, scope, self.at)

    @property
    def persistent_code(self) -> str | None:
        """The code a fault on every attempt must end in (None: one that a client gets
        around, which must then end as Azure's own result says)."""
        if self.at != "every" or self.kind in OPERATION_FAULTS:
            return None
        if self.kind == "conflict":
            return "Conflict"
        if self.kind == "throttle":
            return "Throttled"
        if self.shape == "action":  # the POST may have been received: settled by state
            return None if self.kind == "reset_after_commit" else "AmbiguousOperation"
        if self.shape in ("run", "create") and self.kind == "reset_after_commit":
            return None  # received every time: the read by name finds it, and it is kept
        return "AzureUnavailable"

    @property
    def azure_fails(self) -> bool:
        return self.kind == "lro_failure"

    @property
    def script_fails(self) -> bool:
        """A run command's script failed on the machine: the remediation fails with our
        code alone (Azure gives no error code for a script's exit code)."""
        return self.azure_fails and self.operation in RUN_COMMAND_SCRIPTS


def request_cells(routes: tuple[Route, ...], machine: str) -> list[Cell]:
    cells = []
    for route, operation, shape in routes:
        positions = ("first", "done", "every") if shape == "status" else ("first", "every")
        for kind in REQUEST_KINDS:
            if kind == "conflict" and shape in ("read", "status"):
                continue  # Azure answers 409 "in progress" to changes, not to reads
            cells += [Cell(kind, machine, route, operation, shape, at) for at in positions]
    return cells


def operation_cells(machine: str) -> list[Cell]:
    cells = []
    for operation in OPERATIONS[machine if machine in OPERATIONS else "arc"]:
        for kind in OPERATION_FAULTS:
            if kind == "bare_status" and machine != "vm" and operation != "licenseProfile":
                continue  # Arc patch runs are read at their Location: no status to strip
            cells.append(Cell(kind, machine, None, operation, "operation", "first"))
    return cells


def remediation_cells() -> list[Cell]:
    return [*request_cells(REMEDIATION_ROUTES, "arc-vbs"), *operation_cells("arc-vbs")]


def fleet_cells() -> list[Cell]:
    return [
        *request_cells(VM_FLEET_ROUTES, "vm"),
        *request_cells(ARC_FLEET_ROUTES, "arc"),
        *request_cells(ARC_RELICENSED_ROUTES, "arc-relicensed"),
        *operation_cells("vm"),
        *operation_cells("arc"),
    ]


def single_machine_cells() -> list[Cell]:
    return [
        *request_cells(VM_SINGLE_ROUTES + VM_FLEET_ROUTES[:2] + VM_FLEET_ROUTES[3:], "vm"),
        *request_cells(ARC_SINGLE_ROUTES + ARC_FLEET_ROUTES, "arc"),
        *operation_cells("vm"),
        *operation_cells("arc"),
    ]


def subscription_of(index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"fault-matrix/{index}"))


def build(emu: Emulator, cells: list[Cell]) -> list[str]:
    """One subscription and one machine per cell; returns the machines' ids, in order."""
    ids = []
    for index, cell in enumerate(cells):
        sub = subscription_of(index)
        emu.add_subscription(sub, groups=["rg"])
        name = f"m-{index:03d}"
        if cell.machine == "vm":
            ids.append(
                emu.add_vm(VmSpec(sub, "rg", name, "westeurope", patch_mode="AutomaticByOS"))
            )
        else:
            relicensed = cell.machine == "arc-relicensed"
            vbs_off = cell.machine == "arc-vbs"
            ids.append(
                emu.add_arc(
                    ArcSpec(
                        sub,
                        "rg",
                        name,
                        "westeurope",
                        license_disabled=relicensed,
                        vbs_running=not vbs_off,
                    )
                )
            )
    return ids


def requests_per_subscription(emu: Emulator) -> Counter[str]:
    """Requests that concern one subscription (Resource Graph sweeps serve many: left out)."""
    counts: Counter[str] = Counter()
    for record in emu.requests():
        if record.target and not record.route.startswith("graph."):
            counts[record.target.split("/")[2]] += 1
    return counts


def spans_per_subscription(emu: Emulator) -> dict[str, tuple[float, float, float | None]]:
    """Per subscription, in emulated seconds: its first request, its last, and its first
    request that a fault hit (None if none did)."""
    spans: dict[str, tuple[float, float, float | None]] = {}
    for record in emu.requests():
        if record.target and not record.route.startswith("graph."):
            sub = record.target.split("/")[2]
            first, _, faulted = spans.get(sub, (record.at, record.at, None))
            if faulted is None and record.fault is not None:
                faulted = record.at
            spans[sub] = (first, record.at, faulted)
    return spans


@dataclass(frozen=True)
class Verdict:
    cell: Cell
    problem: str


def judge(
    emu: Emulator,
    cells: list[Cell],
    ids: list[str],
    reported: dict[str, tuple[str, str | None, str | None]],
    baseline: Counter[str],
) -> list[Verdict]:
    """Every cell whose machine did not end as it must, or whose fault never fired, or
    that cost more requests than `cost_bound` times a calm run's, or restarted its machine
    more than once (or, having succeeded, not once where it was remediated), or ran its
    restart or fixing script more than once (a run command resent blindly)."""
    hits = emu.fault_hits()
    sent = requests_per_subscription(emu)
    installs = emu.install_history()
    reboots = emu.reboots()
    scripts = emu.script_runs()
    problems = []
    for index, (cell, rid) in enumerate(zip(cells, ids, strict=True)):
        sub = subscription_of(index)
        outcome, code, azure_code = reported[rid.lower()]
        record = emu.azure_record(rid)
        if not hits.get(cell.rule(f"/subscriptions/{sub}")):
            problems.append(Verdict(cell, "the fault never fired"))
            continue
        expected = _expected(cell, record.outcome())
        if (outcome, code) != expected[:2] or (expected[2] and azure_code != expected[2]):
            problems.append(
                Verdict(
                    cell,
                    f"reported {(outcome, code, azure_code)}, expected {expected} "
                    f"(Azure: {record})",
                )
            )
        if len(installs.get(rid.lower(), ())) > 1:
            problems.append(Verdict(cell, f"{len(installs[rid.lower()])} installs"))
        restarts = reboots.get(rid.lower(), 0)
        if restarts > 1 or (cell.machine == "arc-vbs" and outcome == "succeeded" and not restarts):
            problems.append(Verdict(cell, f"restarted {restarts} times"))
        ran = scripts.get(rid.lower(), Counter())
        for script in ("restart", "enable-vbs", "disable-chpe"):
            if ran[script] > 1:
                problems.append(Verdict(cell, f"ran the {script} script {ran[script]} times"))
        if sent[sub] > cost_bound(cell) * max(baseline[sub], 1):
            problems.append(Verdict(cell, f"{sent[sub]} requests, calm run {baseline[sub]}"))
    return problems


def cost_bound(cell: Cell) -> float:
    """How many times a calm run's requests a cell may cost: three, or for an operation
    slowed down, three times the slowdown: a wait polls at Azure's cadence, so an
    operation that lasts `Faults.slow_factor` times longer is read that many times more
    (and how many reads the calm one took depends on how busy the host was)."""
    return 3 * (Faults().slow_factor if cell.kind == "slow_lro" else 1)


def over_budget(
    emu: Emulator,
    cells: list[Cell],
    calm: dict[str, tuple[float, float, float | None]],
    budget: float,
) -> list[Verdict]:
    """Every cell whose machine's work took longer in Azure time than twice a calm machine's
    plus ``budget`` (emulated seconds: what the library lets failures in a row last).

    A matrix runs every cell at once, so a machine's Azure time is mostly the run's pace: at
    a high time scale, a millisecond the client spends on the others is seconds of Azure
    time. A calm machine's time is therefore the longer of the calm run's for this cell and
    the median of this run's cells (the same host's pace now), so a busy host does not fail
    a cell; a wait that runs away (a budget that never ends, a deadline of hours) does."""
    spans = spans_per_subscription(emu)
    subs = [subscription_of(index) for index in range(len(cells))]
    lengths = sorted(spans[s][1] - spans[s][0] for s in subs if s in spans)
    pace = lengths[len(lengths) // 2] if lengths else 0.0
    problems = []
    for cell, sub in zip(cells, subs, strict=True):
        first, last, _ = spans.get(sub, (0.0, 0.0, None))
        calm_first, calm_last, _ = calm.get(sub, (0.0, 0.0, None))
        allowed = 2 * max(calm_last - calm_first, pace) + budget
        if last - first > allowed:
            problems.append(
                Verdict(cell, f"took {last - first:.0f} s of Azure time, allowed {allowed:.0f} s")
            )
    return problems


def _expected(cell: Cell, azure: tuple[str, str | None]) -> tuple[str, str | None, str | None]:
    if cell.persistent_code is not None:
        return "failed", cell.persistent_code, None
    if cell.script_fails:  # the script failed on the machine: no Azure error code
        return "failed", "OperationFailed", None
    if cell.azure_fails:  # Azure's operation failed: failed, with Azure's code beside ours
        return "failed", "OperationFailed", azure[1] or "?"
    return "succeeded", None, None
