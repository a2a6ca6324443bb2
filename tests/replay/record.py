"""Re-record the cassettes: ``nox -s record``.

By default the scenarios run against a fresh emulator. With ``AZHOTPATCH_RECORD_LIVE=1`` they
run against live Azure with DefaultAzureCredential instead; name the machines with
``AZHOTPATCH_LIVE_VM``, ``AZHOTPATCH_LIVE_OLD_VM`` (on an unsupported image) and
``AZHOTPATCH_LIVE_ARC`` (resource ids). The same scrubber runs either way: tokens,
subscription and tenant ids, and the real group and machine names never reach the files.
Each scenario gets a fresh client, as the replay does, so caches cannot skew the exchanges.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from azhotpatch import Hotpatch, parse_resource_id  # noqa: E402
from azhotpatch.testing import ArcSpec, Emulator, VmSpec  # noqa: E402
from azhotpatch.testing.recording import Scrubber, recorder  # noqa: E402
from tests.replay.scenarios import GROUP, NEUTRAL, SCENARIOS, SUBSCRIPTION  # noqa: E402

CASSETTES = ROOT / "cassettes"


def record(new_client: Callable[[], Hotpatch], ids: Mapping[str, str], scrubber: Scrubber) -> None:
    vcr = recorder(CASSETTES, scrubber, mode="all")
    for name, scenario in SCENARIOS.items():
        with vcr.use_cassette(f"{name}.yaml"), new_client() as client:
            print(f"{name}: {scenario(client, ids)!r:.90}")


def from_emulator() -> None:
    with Emulator(seed=7, time_scale=3600) as emulator:
        emulator.add_subscription(SUBSCRIPTION, groups=[GROUP])
        for key, spec in (
            ("VM", {"patch_mode": "AutomaticByOS", "months_behind": 1}),
            ("OLD_VM", {"sku": "2019-datacenter"}),
        ):
            emulator.add_vm(
                VmSpec(
                    subscription=SUBSCRIPTION,
                    group=GROUP,
                    name=parse_resource_id(NEUTRAL[key]).name,
                    location="westeurope",
                    **spec,
                )
            )  # type: ignore[arg-type]
        emulator.add_arc(
            ArcSpec(
                subscription=SUBSCRIPTION,
                group=GROUP,
                name=parse_resource_id(NEUTRAL["ARC"]).name,
                location="westeurope",
                months_behind=1,
            )
        )
        record(emulator.client, NEUTRAL, Scrubber(endpoint=emulator.endpoint))


def from_azure() -> None:
    live = {key: os.environ[f"AZHOTPATCH_LIVE_{key}"] for key in ("VM", "OLD_VM", "ARC")}
    renames: dict[str, str] = {}
    for key, rid in live.items():
        real, neutral = parse_resource_id(rid), parse_resource_id(NEUTRAL[key])
        renames[real.resource_group] = neutral.resource_group
        renames[real.name] = neutral.name
    ids = {**live, "SUBSCRIPTION": parse_resource_id(live["VM"]).subscription_id}
    record(Hotpatch, ids, Scrubber(renames=renames))


if __name__ == "__main__":
    if os.environ.get("AZHOTPATCH_RECORD_LIVE") == "1":
        from_azure()
    else:
        from_emulator()
