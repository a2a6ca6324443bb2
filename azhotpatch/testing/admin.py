"""The emulator's admin endpoints, ``/_emulator/<name>``, as one table.

An emulator serving in another process (``python -m azhotpatch.testing``, the command-line
tests, the benchmarks) is inspected and driven over HTTP: GET its ground truth, request log
and counters, POST a clock step or the conditions of a real estate (faults, a revoked role,
a lock, a deny policy, a disabled subscription, a busy or deleted machine). Each row is a
thin skin over the `Emulator` method of the same meaning, so what works on the object works
the same over HTTP, and adding an endpoint is adding a row (and naming it in the emulator
how-to).

Answers: the row's result as JSON; an unknown ``(method, name)`` is a 404 (`KeyError`); a
body without a field the row needs, or naming what the emulator does not have (a machine to
delete), a 400 that says which (`ValueError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from azhotpatch.testing._faults import FaultRule, Faults

if TYPE_CHECKING:
    from azhotpatch.testing.emulator import Emulator

__all__ = ["ROUTES", "answer"]

AdminRoute = Callable[["Emulator", "Body"], Any]


class MissingFieldError(LookupError):
    """A field the endpoint needs is not in the request's body."""


class Body(dict[str, Any]):
    """A request's JSON body. A field it lacks is the caller's mistake, told apart from any
    other lookup that fails, so it is answered 400 and never taken for an unknown route."""

    def __missing__(self, key: str) -> Any:
        raise MissingFieldError(key)


def answer(emulator: Emulator, method: str, name: str, payload: Mapping[str, Any]) -> Any:
    """What ``method /_emulator/<name>`` with ``payload`` answers."""
    route = ROUTES.get((method, name))
    if route is None:
        raise KeyError(f"{method} {name}")
    try:
        return route(emulator, Body(payload))
    except MissingFieldError as missing:
        raise ValueError(f"{name} needs the field {missing.args[0]!r}") from None
    except KeyError as unknown:  # the body names something this emulator does not have
        raise ValueError(f"{name}: {unknown.args[0]}") from None


# --- observing ----------------------------------------------------------------------------


def _info(emu: Emulator, body: Body) -> dict[str, Any]:
    """How to connect to this emulator and how its time runs (what `connect` reads)."""
    return {
        "endpoint": emu.endpoint,
        "graph_endpoint": emu.graph_endpoint,
        "ca_path": emu.ca_path,
        "time_scale": emu.clock.time_scale,
        "subscriptions": sorted(emu.world.subscriptions),
        "operation_seconds": emu.operation_seconds,
        "token_lifetime": emu.token_wall_lifetime,
    }


def _requests(emu: Emulator, body: Body) -> list[dict[str, Any]]:
    """The request log from ``offset`` on, so a poller reads only what is new."""
    offset = int(body.get("offset", 0))
    return [asdict(record) for record in emu.requests()[offset:]]


def _installs(emu: Emulator, body: Body) -> dict[str, list[dict[str, Any]]]:
    return {rid: [asdict(r) for r in runs] for rid, runs in emu.install_history().items()}


def _truth(emu: Emulator, body: Body) -> dict[str, dict[str, Any]]:
    """The generated fleet's ground truth, with the sets and derived outcome JSON lacks."""
    return {
        rid: {
            **asdict(truth),
            "blockers": sorted(truth.blockers),
            "inventory_blockers": sorted(truth.visible_blockers),
            "full_run_outcome": truth.full_run_outcome,
        }
        for rid, truth in emu.truth().items()
    }


def _advance(emu: Emulator, body: Body) -> dict[str, float]:
    emu.advance(float(body["seconds"]))
    return {"emulated_seconds": emu.clock.seconds()}


# --- the conditions of a real estate --------------------------------------------------------


def _condition(set_it: Callable[[Emulator, Body], None]) -> AdminRoute:
    """A row that sets a condition and answers ``{"ok": true}``."""

    def route(emu: Emulator, body: Body) -> dict[str, bool]:
        set_it(emu, body)
        return {"ok": True}

    return route


def _set_faults(emu: Emulator, body: Body) -> None:
    """``{"rate": r}`` spreads faults at that rate (`Faults.chaos`); ``{"rules": [...]}``
    aims them (each a `FaultRule`'s fields: kind, route, operation, scope, at); neither
    ends them."""
    rate = float(body.get("rate", 0.0))
    seed = int(body.get("seed", emu.world.seed))
    rules = tuple(FaultRule(**rule) for rule in body.get("rules") or ())
    if rules:
        emu.set_faults(Faults.aimed(*rules, seed=seed))
    else:
        emu.set_faults(Faults.chaos(rate, seed=seed) if rate else None)


def _revoke(emu: Emulator, body: Body) -> None:
    emu.revoke(body["scope"], body.get("actions", ("*",)), principal=body.get("principal", "*"))


def _lock(emu: Emulator, body: Body) -> None:
    emu.lock(
        body["scope"], name=body.get("name", "do-not-change"), level=body.get("level", "ReadOnly")
    )


def _deny_by_policy(emu: Emulator, body: Body) -> None:
    emu.deny_by_policy(body["scope"], name=body.get("name", "deny-patch-settings-changes"))


# (method, name) -> the row that answers it: every admin endpoint there is.
ROUTES: Mapping[tuple[str, str], AdminRoute] = {
    ("GET", "info"): _info,
    ("GET", "stats"): lambda emu, body: asdict(emu.stats()),
    ("GET", "requests"): _requests,
    ("GET", "installs"): _installs,
    ("GET", "reboots"): lambda emu, body: emu.reboots(),
    ("GET", "truth"): _truth,
    ("POST", "advance"): _advance,
    ("POST", "faults"): _condition(_set_faults),
    ("POST", "revoke"): _condition(_revoke),
    ("POST", "lock"): _condition(_lock),
    ("POST", "policy"): _condition(_deny_by_policy),
    ("POST", "disable-subscription"): _condition(
        lambda emu, body: emu.disable_subscription(body["subscription"])
    ),
    ("POST", "occupy"): _condition(
        lambda emu, body: emu.occupy(body["resource_id"], float(body["seconds"]))
    ),
    ("POST", "delete"): _condition(lambda emu, body: emu.delete(body["resource_id"])),
}
