"""The public API's signatures, held together.

The synchronous clients are written out by hand (generating them would load the async
client, and with it the Azure SDKs, on ``import azhotpatch``), so this is what keeps them
from drifting: every public method of an async client has a synchronous twin with the same
parameters (names, kinds, annotations as written, defaults), overloads included. No public
method hides its keywords in ``**kwargs``, and the settings every client takes
(`azhotpatch._config.ClientOptions`) have one name, one annotation and one default in both
`Hotpatch` and `Devices`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azhotpatch import _config, aio, client
from azhotpatch.devices import aio as devices_aio
from azhotpatch.devices import client as devices_client
from azhotpatch.fleet import _engine as engine

# (async class, sync class): the pairs whose public methods must match
PAIRS = [
    (aio.Hotpatch, client.Hotpatch),
    (aio.PendingOperation, client.PendingOperation),
    (devices_aio.Devices, devices_client.Devices),
]
# Where the two sides differ on purpose: the lifecycle, the handle each side builds its
# PendingOperation from, and the object each exposes for diagnostics.
OWN_MEMBERS = {
    "close",
    "session",  # async: the session (pacer, metrics)
    "aio",  # sync: the async client it drives
}
OWN_INITS = {aio.PendingOperation}  # built by the client, from its own handle
# Return annotations that differ only as a sync call differs from its async twin
SYNC_RETURNS = {"AsyncIterator[MachineRecord]": "list[MachineRecord]"}
SYNC_RETURNS_DEVICES = {"AsyncIterator[ManagedDevice]": "list[ManagedDevice]"}


def public_members(cls: type) -> Iterator[str]:
    for name, _ in inspect.getmembers(cls):
        if name == "__init__" or not name.startswith("_"):
            yield name


def parameters(function: Callable[..., Any]) -> list[tuple[str, str, str, str]]:
    """Each parameter as (name, kind, annotation as written, default's repr)."""
    return [
        (p.name, p.kind.name, str(p.annotation), repr(p.default))
        for p in inspect.signature(function).parameters.values()
    ]


def returns(function: Callable[..., Any]) -> str:
    text = str(inspect.signature(function).return_annotation)
    return SYNC_RETURNS.get(text) or SYNC_RETURNS_DEVICES.get(text) or text


def comparable(cls: type) -> list[str]:
    return sorted(
        name
        for name in public_members(cls)
        if name not in OWN_MEMBERS and not (name == "__init__" and cls in OWN_INITS)
    )


def methods(pair: tuple[type, type]) -> list[tuple[type, type, str]]:
    async_cls, sync_cls = pair
    return [(async_cls, sync_cls, name) for name in comparable(async_cls)]


CASES = [case for pair in PAIRS for case in methods(pair)]


def test_each_client_has_the_same_public_members_on_both_sides() -> None:
    for async_cls, sync_cls in PAIRS:
        ours = set(comparable(async_cls)) - {"__init__"}
        theirs = set(comparable(sync_cls)) - {"__init__"}
        assert ours == theirs, (async_cls.__qualname__, ours ^ theirs)


@pytest.mark.parametrize(
    ("async_cls", "sync_cls", "name"),
    CASES,
    ids=[f"{a.__module__}.{a.__qualname__}.{n}" for a, _, n in CASES],
)
def test_a_sync_method_has_the_signature_of_its_async_twin(
    async_cls: type, sync_cls: type, name: str
) -> None:
    ours, theirs = getattr(async_cls, name), getattr(sync_cls, name)
    if isinstance(ours, property):
        assert isinstance(theirs, property), name
        ours, theirs = ours.fget, theirs.fget
    assert parameters(theirs) == parameters(ours)
    if name != "__init__":
        assert returns(theirs) == returns(ours)
    assert [parameters(f) for f in overloads(theirs)] == [parameters(f) for f in overloads(ours)]


def overloads(function: Callable[..., Any]) -> list[Callable[..., Any]]:
    get = getattr(typing, "get_overloads", None)  # Python 3.11 on
    return list(get(function)) if get is not None else []


def test_overloads_are_compared_where_python_keeps_them() -> None:
    if not hasattr(typing, "get_overloads"):
        pytest.skip("Python 3.10 keeps no overloads at runtime")
    assert len(overloads(aio.Hotpatch.install)) == 2
    assert len(overloads(client.Hotpatch.install)) == 2


EVERY_PUBLIC_CLASS = [cls for pair in PAIRS for cls in pair]


@pytest.mark.parametrize("cls", EVERY_PUBLIC_CLASS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_no_public_method_hides_its_keywords(cls: type) -> None:
    hidden = [
        f"{name}(**{p.name})"
        for name in public_members(cls)
        if callable(function := getattr(cls, name))
        for p in inspect.signature(function).parameters.values()
        if p.kind is inspect.Parameter.VAR_KEYWORD
    ]
    assert hidden == []


def test_every_client_takes_the_shared_settings_alike() -> None:
    shared = [
        p
        for p in inspect.signature(_config.ClientOptions.build).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert len(shared) == 10
    for cls in (aio.Hotpatch, devices_aio.Devices):
        taken = inspect.signature(cls.__init__).parameters
        for setting in shared:
            given = taken[setting.name]
            assert given.kind is inspect.Parameter.KEYWORD_ONLY, (cls, setting.name)
            assert given.annotation == setting.annotation, (cls, setting.name)
        defaults = {name: taken[name].default for name in ("deadline", "connect_timeout")}
        assert defaults == {
            "deadline": _config.DEFAULT_DEADLINE,
            "connect_timeout": _config.DEFAULT_CONNECT_TIMEOUT,
        }
    hotpatch = inspect.signature(aio.Hotpatch.__init__).parameters
    devices = inspect.signature(devices_aio.Devices.__init__).parameters
    assert [(s.name, hotpatch[s.name].default) for s in shared] == [
        (s.name, devices[s.name].default) for s in shared
    ]


def test_the_comparison_finds_a_drifted_signature() -> None:
    def asynchronous(self: object, machines: object = None, *, kinds: object = None) -> None: ...

    def synchronous(self: object, machines: object = None, *, kind: object = None) -> None: ...

    assert parameters(synchronous) != parameters(asynchronous)


def test_devices_take_the_polling_interval_by_its_one_name_and_the_old_one_warns() -> None:
    from azhotpatch.errors import InvalidArgumentError
    from azhotpatch.testing import EmulatorCredential

    credential = EmulatorCredential()
    with devices_client.Devices(credential, polling_interval=2.5) as devices:
        assert devices.aio.session.settings.polling_interval == 2.5
    with pytest.warns(DeprecationWarning, match="polling_interval"):
        old = devices_client.Devices(credential, poll_interval=4.0)
    with old:
        assert old.aio.session.settings.polling_interval == 4.0
    with pytest.raises(InvalidArgumentError, match="both are given"):
        devices_aio.Devices(credential, polling_interval=1.0, poll_interval=1.0)


def test_the_role_json_takes_what_the_role_takes() -> None:
    from azhotpatch import security

    assert parameters(security.custom_role_json) == parameters(security.custom_role)


# What the emulator wires itself (its endpoint, certificate authority and clock): every other
# setting its client factories take is the client's own, under the same name, annotation and
# default (``credential``, ``polling_interval`` and ``operation_seconds`` default to the
# emulator's where None).
WIRED = {"self", "cloud", "endpoint", "connection_verify", "time_scale", "poll_interval"}
EMULATOR_DEFAULTED = {"credential", "polling_interval", "operation_seconds"}
FACTORIES = [
    ("client", client.Hotpatch),
    ("async_client", aio.Hotpatch),
    ("devices_client", devices_client.Devices),
    ("async_devices_client", devices_aio.Devices),
]


@pytest.mark.parametrize(("factory", "cls"), FACTORIES, ids=[f for f, _ in FACTORIES])
def test_the_emulator_s_clients_take_the_client_s_settings_by_name(factory: str, cls: type) -> None:
    from azhotpatch.testing import Emulator

    made = inspect.signature(getattr(Emulator, factory)).parameters
    taken = inspect.signature(cls.__init__).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in made.items() if n != "self")
    assert set(made) - {"self"} == set(taken) - WIRED
    for name, given in made.items():
        if name == "self":
            continue
        assert given.annotation == taken[name].annotation or name == "credential", name
        if name not in EMULATOR_DEFAULTED:
            assert given.default == taken[name].default, name


def test_the_emulator_s_clients_hide_no_keywords() -> None:
    from azhotpatch.testing import Emulator

    hidden = [
        f"{name}(**{p.name})"
        for name in public_members(Emulator)
        if callable(function := getattr(Emulator, name))
        for p in inspect.signature(function).parameters.values()
        if p.kind is inspect.Parameter.VAR_KEYWORD
    ]
    assert hidden == []


# The fleet methods hand their arguments to `azhotpatch.fleet._engine` unchanged: the inventory
# filter's keywords as one `Filter`, every other one under its own name. The engine's lists
# repeat the facade's, so this is what keeps the two from drifting (a keyword added to one
# and not the other, or passed on as another argument's value).
FLEET_METHODS = ("inventory", "plan", "run", "schedule", "scheduled_status")
FILTER_KEYWORDS = {f.name for f in dataclasses.fields(engine.Filter)}


def _engine_call(method: str) -> ast.Call:
    source = Path(aio.__file__).read_text(encoding="utf-8")
    (cls,) = (
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.ClassDef) and n.name == "_FleetMethods"
    )
    (function,) = (
        n
        for n in cls.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == method
    )
    (call,) = (
        n
        for n in ast.walk(function)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "_engine"
    )
    return call


@pytest.mark.parametrize("method", FLEET_METHODS)
def test_a_fleet_method_hands_every_argument_to_the_engine_by_name(method: str) -> None:
    facade_function, engine_function = getattr(aio.Hotpatch, method), getattr(engine, method)
    facade = inspect.signature(facade_function).parameters
    positional = [n for n, p in facade.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = [n for n, p in facade.items() if p.kind is p.KEYWORD_ONLY]
    assert set(keywords) >= FILTER_KEYWORDS
    own = [n for n in keywords if n not in FILTER_KEYWORDS]
    underneath = list(inspect.signature(engine_function).parameters)
    assert underneath[0] == "session"
    assert sorted(underneath[1:]) == sorted([*positional, *own, "wanted"])
    facade_types = typing.get_type_hints(facade_function)
    engine_types = typing.get_type_hints(engine_function)
    for name in [*positional, *own]:
        assert engine_types[name] == facade_types[name], name
    call = _engine_call(method)
    passed = [a.id if isinstance(a, ast.Name) else None for a in call.args]
    assert passed[1:] == underneath[1 : len(passed)]  # each in its own place, by its own name
    by_name = {k.arg: k.value.id if isinstance(k.value, ast.Name) else None for k in call.keywords}
    assert by_name == {name: name for name in underneath[len(passed) :]}
