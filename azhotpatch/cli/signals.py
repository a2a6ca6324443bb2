"""SIGTERM handled like SIGINT: a graceful stop, one message, the conventional exit code.

systemd, Kubernetes and CI runners stop a process with SIGTERM, a person with Ctrl-C
(SIGINT). Either one, while a command runs, interrupts it the way Ctrl-C always did: the
synchronous client cancels what it was doing and lets it unwind (`azhotpatch._sync`), so a
fleet run starts no machine after the signal and leaves what was in flight as its journal
records it (every intent and operation token is committed whole before the request it
guards is sent). Then one line says what happened and how to resume, with no traceback, and
the command exits 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.

A second signal while the first is being handled stops the process at once (the journal is
as safe as after ``kill -9``: each record is committed whole).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from azhotpatch.fleet.report import ExitCode

HANDLED = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Stop:
    """What the running command was doing, for the message after a signal."""

    signal: int | None = None
    run: bool = False  # a fleet run (machines started one after another)
    journal: str | None = None  # that run's journal


_running: list[Stop] = []  # the command running now (at most one; a stack for nested calls)


@contextmanager
def graceful() -> Iterator[Stop]:
    """Handle SIGINT and SIGTERM alike while a command runs (main thread only: Python
    delivers signals there)."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if stop.signal is not None:
            sys.stderr.write(
                f"{signal.Signals(signum).name} again: stopping at once (the journal, if any, "
                "is safe: each record is committed whole; run the same command again to "
                "resume)\n"
            )
            os._exit(128 + signum)
        stop.signal = signum
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in HANDLED}
    _running.append(stop)
    try:
        yield stop
    finally:
        _running.remove(stop)
        for number, handler in previous.items():
            signal.signal(number, handler)


def running_fleet(journal: str | None) -> None:
    """The command is starting a fleet run (with this journal, if any): a signal's message
    then says how to resume it."""
    if _running:
        _running[-1].run = True
        _running[-1].journal = journal


def stopped(stop: Stop) -> ExitCode | int:
    """Say what a stop means and how to go on (stderr); the exit code for it."""
    number = stop.signal if stop.signal is not None else signal.SIGINT
    name = signal.Signals(number).name
    if stop.run and stop.journal:
        message = (
            f"stopped by {name}: no machine was started after it, and what was in flight is "
            f"recorded in the journal {stop.journal}. Fix: run the same command again to "
            "resume: nothing the journal records as sent is sent again (`azhotpatch report "
            f"--journal {stop.journal}` shows where the run stopped)"
        )
    elif stop.run:
        message = (
            f"stopped by {name}: no machine was started after it; operations already sent go "
            "on in Azure. Fix: run the same command again (with --journal a run resumes where "
            "it stopped; `azhotpatch status` shows each machine's state)"
        )
    else:
        message = (
            f"stopped by {name} before the command finished; a request already sent may go on "
            "in Azure. Fix: run the command again (`azhotpatch status` shows a machine's state)"
        )
    sys.stderr.write(message + "\n")
    if number == signal.SIGTERM:
        return ExitCode.TERMINATED
    if number == signal.SIGINT:
        return ExitCode.INTERRUPTED
    return 128 + number
