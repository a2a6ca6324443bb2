"""`Emulator`: a local HTTPS stand-in for Azure Resource Manager.

    with Emulator(fleet="sample:200", time_scale=600) as emu:
        client = ComputeManagementClient(emu.credential(), sub, base_url=emu.endpoint,
                                         connection_verify=emu.ca_path)
        ...

It serves the Compute, HybridCompute, Maintenance, Features, Resources and Resource Graph
operations that azhotpatch uses, faithfully enough that the unmodified azure-mgmt SDK clients
work against it: same paths, api-versions, JSON shapes, ARM errors, LRO protocol and
throttling headers. Time runs ``time_scale`` times faster than the wall clock. Everything
random is seeded.

Microsoft Graph (Intune: Windows quality update policies, assignments, groups, managed
devices, report exports) is served on the same server under ``/graph`` (`graph_endpoint`),
behind Graph's own front door (``msgraph.front.GraphFront``); ``devices=N`` generates that
many managed devices with their ground truth (`device_truth`).

Inside, each service is a folder (``compute/``, ``hybrid/``, ``maintenance/``, ``graph/``,
``features/``: models, responses, routes, and the documents of what it creates) over one
shared `world`; ``services.Services`` builds them, and ``arm.dispatch.Dispatcher`` is ARM's
front door to their routes. This class is the facade over them: it starts and stops the
server, wires clients to it and hands machines to the services that build them. Beside it,
``conditions`` sets an estate's conditions (faults, locks, revoked roles...), ``records``
reads what Azure did and what was served, ``credentials`` holds the tokens it accepts, and
``admin`` is the one table of ``/_emulator/`` endpoints that drive it from another process.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azhotpatch.testing import admin, records
from azhotpatch.testing._faults import Faults
from azhotpatch.testing._server import Server, Tls
from azhotpatch.testing.arm.dispatch import Dispatcher, RequestRecord
from azhotpatch.testing.arm.throttling import Limits
from azhotpatch.testing.conditions import EstateConditions
from azhotpatch.testing.credentials import AsyncEmulatorCredential, EmulatorCredential
from azhotpatch.testing.estate import ArcSpec, Estate, FleetSpec, MachineTruth, VmSpec, generate
from azhotpatch.testing.histories import PostureTruth
from azhotpatch.testing.msgraph.front import PREFIX as GRAPH_PREFIX
from azhotpatch.testing.msgraph.front import GraphFront, IntuneLimits
from azhotpatch.testing.msgraph.models import DeviceTruth, IntuneBackend
from azhotpatch.testing.records import AzureRecord, EmulatorStats, OperationRecord
from azhotpatch.testing.services import Services
from azhotpatch.testing.wiring import ClientWiring
from azhotpatch.testing.world.clock import Clock
from azhotpatch.testing.world.operations import InstallRecord
from azhotpatch.testing.world.regions import default_region_skus
from azhotpatch.testing.world.state import Durations, World

__all__ = [
    "AsyncEmulatorCredential",
    "AzureRecord",
    "Emulator",
    "EmulatorCredential",
    "EmulatorStats",
    "OperationRecord",
]


class Emulator(EstateConditions, ClientWiring):
    """A local Azure Resource Manager. Use as a context manager, or `start`/`stop`."""

    def __init__(
        self,
        *,
        fleet: FleetSpec | str | None = None,
        seed: int = 0,
        time_scale: float = 1.0,
        start: datetime | None = None,
        limits: Limits | None = None,
        faults: Faults | None = None,
        durations: Durations | None = None,
        regions: Iterable[str] | None = None,
        regions_without_2025: Iterable[str] | None = None,
        pending_features: Iterable[str] = (),
        roles: Mapping[str, list[str]] | None = None,
        page_size: int = 50,
        record_requests: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        ca_path: str | Path | None = None,
        token_lifetime: float | None = None,
        devices: int | None = None,
        graph_limits: IntuneLimits | None = None,
        graph_lag: float = 0.0,
    ) -> None:
        self.clock = Clock(time_scale, start)
        # Azure seconds an access token from `credential` lives (None: an hour of wall time)
        self.token_lifetime = token_lifetime
        self.world = _world(
            self.clock,
            seed=seed,
            faults=faults,
            durations=durations,
            regions=regions,
            regions_without_2025=regions_without_2025,
            pending_features=pending_features,
            page_size=page_size,
            graph_lag=graph_lag,
        )
        self.limits = limits or Limits()
        self.services = Services.over(self.world)
        self.dispatcher = Dispatcher(
            self.world,
            self.limits,
            self.services.routes(),
            roles=roles,
            record_requests=record_requests,
        )
        # Microsoft Graph (Intune) behind its own front door under /graph, on the same clock
        self.graph = GraphFront(
            self.clock,
            self.services.graph_routes(),
            graph_limits or IntuneLimits(enabled=self.limits.enabled),
            seed=seed,
            faults=self.world,
        )
        if devices:
            self.load_devices(devices)
        self.fleet: Estate | None = None
        if fleet is not None:
            spec = FleetSpec.parse(fleet, seed=seed) if isinstance(fleet, str) else fleet
            self.load_fleet(spec)
        self._host, self._port = host, port
        self._ca_path = Path(ca_path) if ca_path else None
        self._tls: Tls | None = None
        self._server: Server | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._tls = Tls.create(self._ca_path)
        self._server = Server(
            self.dispatcher,
            self._admin,
            host=self._host,
            port=self._port,
            tls=self._tls,
            fronts={f"{GRAPH_PREFIX}/": self.graph.handle},
        )
        self._server.start_in_thread()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop_thread()
            self._server = None
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- building the world ---------------------------------------------------------------

    def add_subscription(
        self, subscription_id: str | None = None, *, groups: Iterable[str] = ("rg-hotpatch",)
    ) -> str:
        with self.dispatcher.lock:
            sub_id = (subscription_id or str(uuid.uuid4())).lower()
            self.world.subscription(sub_id, create=True)
            for group in groups:
                self.world.ensure_group(sub_id, group)
            self.world.changed()
            return sub_id

    def add_vm(self, spec: VmSpec) -> str:
        """Add a VM as `VmSpec` describes it; returns its resource id."""
        with self.dispatcher.lock:
            return self.services.compute.add_vm(spec).id

    def add_scale_set(
        self,
        subscription: str,
        group: str,
        name: str,
        location: str,
        *,
        mode: str = "Flexible",
        hotpatch: bool = True,
        sku: str = "2025-datacenter-azure-edition",
    ) -> str:
        """Add a VM scale set (``mode`` Flexible or Uniform) whose model has Hotpatch on or
        off; returns its id. A Flexible one's instances are VMs added with
        ``scale_set=<name>``."""
        with self.dispatcher.lock:
            added = self.services.compute.add_scale_set(
                subscription, group, name, location, mode=mode, hotpatch=hotpatch, sku=sku
            )
            return added.id

    def add_arc(self, spec: ArcSpec) -> str:
        """Add an Arc-enabled server as `ArcSpec` describes it; returns its resource id."""
        with self.dispatcher.lock:
            return self.services.hybrid.add_arc(spec).id

    @property
    def intune(self) -> IntuneBackend:
        """Intune's state behind Microsoft Graph (policies, groups, devices, writes)."""
        return self.services.intune

    def load_devices(self, count: int, *, groups: int = 8) -> None:
        """``count`` generated Windows 11 (and a few other) managed devices in ``groups``
        Entra groups, built against the baseline of the emulator's date."""
        from azhotpatch.devices.readiness import baseline_on

        baseline = baseline_on(self.clock.now().date())
        with self.graph.lock:
            self.services.intune.load_devices(count, baseline.revision, groups=groups)

    def device_truth(self) -> dict[str, DeviceTruth]:
        """Each generated device's ground truth (the readiness rules it was built to show),
        keyed by device id."""
        with self.graph.lock:
            return dict(self.services.intune.truth)

    def load_fleet(self, spec: FleetSpec) -> Estate:
        estate = generate(spec)
        for sub, groups in estate.groups.items():
            self.add_subscription(sub, groups=groups)
        for vm in estate.vms:
            self.add_vm(vm)
        for arc in estate.arcs:
            self.add_arc(arc)
        with self.dispatcher.lock:
            for group, subs in estate.management_groups.items():
                self.world.management_groups[group] = {s.lower() for s in subs}
        self.fleet = estate
        return estate

    # --- time -----------------------------------------------------------------------------

    def advance(self, delta: timedelta | float) -> None:
        """Move the emulated clock forward (operations finish, registrations complete)."""
        self.clock.advance(delta)
        with self.dispatcher.lock:
            self.world.settle()

    # --- observability --------------------------------------------------------------------

    def stats(self) -> EmulatorStats:
        """What the emulator has served so far (requests by route and status, throttling,
        faults, installs) and how far its clock has run."""
        with self.dispatcher.lock:
            self.world.settle()
            return records.stats(self.world, self.dispatcher)

    def requests(self) -> list[RequestRecord]:
        """Every request served, in order (method, route, status, principal, RBAC action...)."""
        with self.dispatcher.lock:
            return list(self.dispatcher.records)

    def install_history(self) -> dict[str, list[InstallRecord]]:
        """Accepted installPatches POSTs per machine id (lower-cased)."""
        with self.dispatcher.lock:
            return {k: list(v) for k, v in self.world.install_requests.items()}

    def reboots(self) -> dict[str, int]:
        """Restarts per Arc machine that has had any (lower-cased id -> count)."""
        with self.dispatcher.lock:
            self.world.settle()
            return {
                k: len(m.hardware.boots) for k, m in self.world.arcs.items() if m.hardware.boots
            }

    def script_runs(self) -> dict[str, Counter[str]]:
        """Run command PUTs Azure accepted per Arc machine (lower-cased id), counted by the
        script each ran (``measure``, ``enable-vbs``, ``restart``...): each one ran the
        script on the machine, whoever sent it and whatever became of its answer."""
        with self.dispatcher.lock:
            runs = self.services.hybrid.run_commands.runs
            return {machine: Counter(scripts) for machine, scripts in runs.items()}

    def azure_record(self, resource_id: str) -> AzureRecord:
        """What Azure did to the machine, from the emulator's own state: the ground truth a
        client's report must agree with, whatever the transport did on the way."""
        with self.dispatcher.lock:
            self.world.settle()
            return records.azure_record(self.world, resource_id.lower())

    def truth(self) -> dict[str, MachineTruth]:
        """The generated fleet's ground truth, keyed by lower-cased resource id; where an
        assigned Azure Policy definition vouches (Compliant) for a setting the machine no
        longer has, its posture is ``policy-mismatch`` (unless nothing makes it eligible)."""
        truth = dict(self.fleet.truth) if self.fleet else {}
        with self.dispatcher.lock:
            mismatched = self.services.graph.policy.mismatched()
        for key in mismatched & truth.keys():
            if truth[key].posture.verdict != "not-eligible":
                truth[key] = replace(truth[key], posture=PostureTruth("policy-mismatch"))
        return truth

    def machine(self, resource_id: str) -> Any:
        """The emulated machine behind an id (for tests that inspect or alter its state)."""
        return self.world.find_machine(resource_id.lower())

    def _admin(self, method: str, path: str, payload: dict[str, Any]) -> Any:
        """``/_emulator/<path>``: answered from the one admin table (`admin.ROUTES`)."""
        return admin.answer(self, method, path, payload)


def _world(
    clock: Clock,
    *,
    seed: int,
    faults: Faults | None,
    durations: Durations | None,
    regions: Iterable[str] | None,
    regions_without_2025: Iterable[str] | None,
    pending_features: Iterable[str],
    page_size: int,
    graph_lag: float,
) -> World:
    """The world an `Emulator`'s arguments describe: its faults, durations and regions (by
    default Azure's, with Windows Server 2025 images where Azure offers them)."""
    region_args: dict[str, tuple[str, ...]] = {}
    if regions is not None:
        region_args["regions"] = tuple(regions)
    if regions_without_2025 is not None:
        region_args["without_2025"] = tuple(regions_without_2025)
    world = World(
        clock,
        seed=seed,
        faults=faults or Faults(seed=seed),
        durations=durations or Durations(),
        region_skus=default_region_skus(**region_args),
        pending_features=pending_features,
        page_size=page_size,
    )
    # Azure seconds Resource Graph's patch tables trail the machines by (see World)
    world.graph_lag = float(graph_lag)
    return world
