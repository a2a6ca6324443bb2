"""Issue acceptance: waiting is bounded. An endpoint that cannot be connected to (refused, or
never answering) fails in seconds with `EndpointUnreachableError`, naming the endpoint, and
the command line exits 69; how long to try connecting is configurable."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

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


@dataclass
class Silent:
    """A port that accepts connections and never answers them; when each was opened."""

    port: int
    opened: list[float] = field(default_factory=list)


@pytest.fixture
def silent() -> Iterator[Silent]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    endpoint = Silent(listener.getsockname()[1])
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener is closed: the test is over
                return
            endpoint.opened.append(time.monotonic())
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield endpoint
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
    listener.close()
    thread.join(timeout=10)
    for connection in held:
        connection.close()


def test_a_refused_endpoint_fails_within_fifteen_seconds(closed_port: int) -> None:
    """Refused at once, retried with back-off until the next wait would pass the 10 s the
    default connect timeout gives: a promise in wall seconds, and the 5 s over it are only
    for the attempts themselves, each refused at once, not for work a busy machine does
    more slowly."""
    endpoint = f"https://127.0.0.1:{closed_port}"
    started = time.monotonic()
    with (
        Hotpatch(EmulatorCredential(), endpoint=endpoint) as client,
        pytest.raises(EndpointUnreachableError) as unreachable,
    ):
        client.check(VM)
    assert time.monotonic() - started <= 15
    assert endpoint in str(unreachable.value)
    assert unreachable.value.code == "AzureUnreachable"


def test_a_silent_endpoint_is_tried_once_for_the_connect_timeout(silent: Silent) -> None:
    """Connected, and never answered: one connection, given up at the 10 s the default
    connect timeout allows, where the whole retry budget would open six (a minute)."""
    endpoint = f"https://127.0.0.1:{silent.port}"
    with (
        Hotpatch(EmulatorCredential(), endpoint=endpoint) as client,
        pytest.raises(EndpointUnreachableError) as unreachable,
    ):
        client.check(VM)
    ended = time.monotonic()
    assert len(silent.opened) == 1
    assert ended - silent.opened[0] <= 15  # a hang guard: the budget's six take a minute
    assert endpoint in str(unreachable.value)
    assert unreachable.value.code == "AzureUnreachable"


def test_the_command_line_exits_69_naming_the_endpoint_in_the_time_it_was_given(
    silent: Silent,
) -> None:
    """``--connect-timeout 2``: one connection, and the command ends seconds after it was
    opened (timed from there, so that how long Python takes to start on a busy machine is
    not counted), where the whole retry budget would open six over half a minute."""
    url = f"https://127.0.0.1:{silent.port}"
    command = ["--emulator-url", url, "--connect-timeout", "2", "status", VM]
    done = subprocess.run(
        [sys.executable, "-m", "azhotpatch", *command],
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard
        check=False,
    )
    ended = time.monotonic()
    assert done.returncode == 69, done.stderr
    assert len(silent.opened) == 1
    assert ended - silent.opened[0] <= 8
    assert url in done.stderr
    assert "Traceback" not in done.stderr
