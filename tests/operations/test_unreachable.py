"""Issue acceptance: waiting is bounded. An endpoint that cannot be connected to (refused, or
never answering) fails in seconds with `EndpointUnreachableError`, naming the endpoint, and
the command line exits 69; how long to try connecting is configurable."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from azhotpatch import Hotpatch
from azhotpatch.errors import EndpointUnreachableError
from azhotpatch.testing import EmulatorCredential

from .conftest import SUB

VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01"


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections into its backlog and never answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_an_unreachable_endpoint_fails_within_fifteen_seconds(
    kind: str, closed_port: int, silent_port: int
) -> None:
    endpoint = f"https://127.0.0.1:{closed_port if kind == 'refused' else silent_port}"
    started = time.monotonic()
    with (
        Hotpatch(EmulatorCredential(), endpoint=endpoint) as client,
        pytest.raises(EndpointUnreachableError) as unreachable,
    ):
        client.check(VM)
    assert time.monotonic() - started <= 15
    assert endpoint in str(unreachable.value)
    assert unreachable.value.code == "AzureUnreachable"


def test_the_command_line_exits_69_naming_the_endpoint_in_the_time_it_was_given(
    silent_port: int,
) -> None:
    url = f"https://127.0.0.1:{silent_port}"
    started = time.monotonic()
    command = ["--emulator-url", url, "--connect-timeout", "2", "status", VM]
    done = subprocess.run(
        [sys.executable, "-m", "azhotpatch", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 69, done.stderr
    assert time.monotonic() - started <= 10
    assert url in done.stderr
    assert "Traceback" not in done.stderr
