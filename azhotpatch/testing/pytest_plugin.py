"""pytest plugin: an `emulator` fixture, configured per test with a marker.

    def test_enrolment(emulator):                      # an empty emulator
        sub = emulator.add_subscription()
        ...

    @pytest.mark.emulator(fleet="sample:50", time_scale=600)
    def test_fleet(emulator):
        ...

The marker takes any `Emulator` keyword argument. The plugin is registered through the
``pytest11`` entry point, so installing azhotpatch is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from azhotpatch.testing.emulator import Emulator

_DEFAULTS: dict[str, Any] = {"time_scale": 600.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator(**options): options for the azhotpatch `emulator` fixture"
    )


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running `azhotpatch.testing.Emulator` (time runs 600x faster by default)."""
    from azhotpatch.testing.emulator import Emulator

    marker = request.node.get_closest_marker("emulator")
    options = {**_DEFAULTS, **(marker.kwargs if marker else {})}
    with Emulator(**options) as running:
        yield running
