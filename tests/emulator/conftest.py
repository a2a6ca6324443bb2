from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azhotpatch.testing import Emulator

# A license profile that enrolls an Arc machine in Hotpatch (PUT spells states Enabled/Disabled).
LICENSE_PUT = {
    "location": "westeurope",
    "properties": {
        "productProfile": {
            "productType": "WindowsServer",
            "subscriptionStatus": "Enabled",
            "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Enabled"}],
        }
    },
}


def sdk_options(emu: Emulator) -> dict[str, Any]:
    """How any azure-mgmt client is pointed at the emulator: endpoint, CA, fast polling."""
    return {
        "base_url": emu.endpoint,
        "connection_verify": emu.ca_path,
        "polling_interval": emu.polling_interval,
        "retry_total": 0,
    }


@pytest.fixture(scope="module")
def fleet_emulator() -> Iterator[Emulator]:
    with Emulator(fleet="sample:60@2", seed=7, time_scale=1200, page_size=10) as emu:
        yield emu
