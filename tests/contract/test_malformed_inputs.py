"""Malformed input is refused before anything is sent, with the input, the rule and the fix.

Every command line below exits 64 with one error line and no traceback, and the Python calls
raise the named `HotpatchError` subclass without a chained internal traceback; the
emulator's request log shows that none of them sent a single request. Property-based tests
for ids, KB ids, dates, durations, time zones and tags are in ``test_input_properties``.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from azhotpatch import Hotpatch, calendar, pricing
from azhotpatch.errors import (
    HotpatchError,
    InvalidArgumentError,
    InvalidResourceIdError,
)
from azhotpatch.testing import Emulator
from tests.contract.conftest import ARC, GROUP_ID, SUB, VM, invoke, target

# Lines run with the test emulator's --emulator-url in front, unless they start with "@"
# (those are about the target options themselves). {NAMES} are filled in per test.
CLI_CASES = r"""
# --- global options, before or after the command
--output yaml plan
plan --output yaml
-o xml calendar 2026
check {VM} -o csv
--time-scale -1 plan
plan --time-scale 0
--time-scale nan plan
--time-scale inf plan
--time-scale abc plan
status {VM} --time-scale -3
--time-scale 1e-308 plan
--time-scale 1e308 plan
--connect-timeout 1e308 plan
plan --connect-timeout 0
--connect-timeout inf status {VM}
--ca-bundle {MISSING} status {VM}
--ca-bundle {DIR} status {VM}
--ca-bundle {NOTPEM} status {VM}
--ca-bundle "" status {VM}
--cloud Mars status {VM}
--bogus-option plan
plan --bogus-option
nosuchcommand
@ --emulator bogus:12 plan
@ --emulator sample:-5 plan
@ --emulator sample:0@0 plan
@ --emulator sample:200000 plan
@ --emulator sample:10@5000 plan
@ --emulator "" plan
@ plan --emulator sample:12x
@ --time-scale 5 status {VM}
@ --endpoint not-a-url status {VM}
@ --endpoint http://management.azure.com status {VM}
@ --endpoint https:// status {VM}
@ --endpoint https://management.azure.com:99999 status {VM}
@ --endpoint ftp://management.azure.com status {VM}
@ --endpoint https://management.azure.com/?x=1 status {VM}
@ --emulator-url not-a-url status {VM}
@ --emulator-url http://127.0.0.1:8443 status {VM}
@ --emulator sample:10 --endpoint https://example.com status {VM}
@ --emulator sample:10 --emulator-url https://127.0.0.1:8443 status {VM}
@
# --- resource ids (all ids of a command are checked before the first is sent)
check not-an-id
check {VM} not-an-id
check {VM} {ARC} {VM_NL}
status {VM} /subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a
check /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app
check {VM}/extensions/x
check /subscriptions/{SUB}//providers/Microsoft.Compute/virtualMachines/a
check {SUB_NL}
check {GROUP_NL}
check {NAME_NL}
check {NAME_SPACE}
check /subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Compute/virtualMachines/a
check /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{LONG_NAME}
check /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-
check /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/srv?1
check /subscription/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a
check ""
enable {VM} bad
disable bad {ARC}
assess {ARC} not/an/id
install {VM} {NAME_NL}
status --stale-after 0
status --stale-after 1e308
status --since {NOTSQLITE}
status --since {DIR}
status --save {DIR}
status --html {DIR}
status --builds {NOTSQLITE}
status --location Mars
status {VM} {SUB_NL}
plan {VM} --subscription {SUB}
enable {VM} --tag env=prod
# --- fleet filters
plan --tag env
plan --tag =prod
plan --tag "a<b=c"
plan --tag
plan --subscription not-a-guid
plan --subscription {SUB}-0
plan --subscription {SUB} --management-group mg-1
plan --management-group bad/mg
plan --management-group mg.
plan --resource-group /bad/id
plan --resource-group rg.
plan --resource-group ""
plan --location Mars
plan --location "west europe!"
plan --location ""
plan --kind bogus
plan --kind ""
check --location Mars
run --tag "=x"
status --scheduled --location Mars
status --scheduled --tag team
status --scheduled --kind desktop
# --- actions, journal, concurrency
plan --actions bogus
plan --actions enable,disable
plan --actions ""
plan --actions install,install
run --actions deploy
run --concurrency 0
run --concurrency -5
run --concurrency abc
run --journal {DIR}
run --journal {MISSING}
run --journal {NOTSQLITE}
run --journal ""
enable {VM} --journal {DIR}
assess {VM} {ARC} --journal {NOTSQLITE}
install {VM} {ARC} --concurrency 0
disable --subscription {SUB} --concurrency 0
# --- install options
install {VM} --max-duration 99999999999999999999
install {VM} --max-duration 0
install {VM} --max-duration 241
install {VM} --max-duration -1
install {VM} --max-duration 1.5
install {VM} --classification Bogus
install {VM} --reboot Sometimes
install {VM} --kb-include 12345
install {VM} --kb-include KB123456789
install {VM} --kb-include KBABC
install {VM} --kb-include KB-5034441
install {VM} --kb-include 5034441 --kb-exclude KB5034441
install --subscription {SUB} --classification Bogus
# --- schedules
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location Mars
schedule --subscription {SUB} --config-group /bad --config-location westeurope
schedule --subscription {SUB} --config-group {GROUP_ID_NL} --config-location westeurope
schedule --subscription {SUB}
schedule --subscription {SUB} --config-group {GROUP_ID}
schedule --subscription {SUB} --config-location westeurope
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --mode weekly
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --time-zone Mars/Olympus
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --time-zone ""
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --start-time 25:00
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --start-time 3pm
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --days-after-patch-tuesday 7
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --days-after-patch-tuesday -1
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --hotpatch-window 60
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --hotpatch-window 99999999999999999999
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --baseline-window 236
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --assign-by tags
schedule --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope --conflicts ignore
schedule {VM} --subscription {SUB} --config-group {GROUP_ID} --config-location westeurope
# --- preview features
features register not-a-guid
features register {SUB_AND_MORE}
features register {SUB} --timeout 0
features register {SUB} --timeout 99999999999999999999
features register
# --- no Azure needed
calendar 0
calendar -1
calendar 10000
calendar abc
calendar 2026 --unplanned 2027-03
calendar 2026 --unplanned 2026-13
calendar 2026 --unplanned march
calendar 2026 --unplanned 2026-3
cost --cores 0 --start 2025-08-01 --end 2025-09-01
cost --cores -1 --start 2025-08-01 --end 2025-09-01
cost --cores 16 --start 2026-02-30 --end 2026-03-01
cost --cores 16 --start 20260201 --end 2026-03-01
cost --cores 16 --start 2026-W05-1 --end 2026-03-01
cost --cores 16 --start 2026-03-01 --end 2026-02-01
cost --cores 16 --start 2025-08-01 --end 2025-09-01 --kind desktop
cost --start 2025-08-01 --end 2025-09-01
# --- remediation (Run Command): restart times, months, ids, before any script is sent
remediate
remediate not-an-id
remediate {ARC} --reboot sometime
remediate {ARC} --fix --reboot 2027-01-16T02:00:00
remediate {ARC} --fix --reboot 2027-13-16T02:00:00Z
remediate {ARC} --fix --reboot baseline --unplanned 2027-13
remediate {ARC} --fix --reboot baseline --unplanned march
remediate {ARC} {VM_NL} --fix
run --remediate --reboot sometime
run --remediate --reboot 2027-01-16T02:00
run --remediate --reboot baseline --unplanned 2026-3
run --reboot now
run --retry-failed
# --- the guard across runs: an out-of-band release's day
run --released 2026-13-01
run --released yesterday
run --released 2999-01-01
install {VM} --released 2026-02-30
install {VM} {ARC} --released 26-10-16
# --- the HTML report and its rebuilding from a journal
run --html {DIR}
run --html {MISSING}
run --html ""
report
report --journal {MISSING}
report --journal {DIR}
report --journal {NOTSQLITE}
report --journal ""
report --journal {NOTSQLITE} --html {DIR}
# --- the emulator and the demo
emulator --port 70000
emulator --port -1
emulator --time-scale 0
emulator --faults 2
emulator --fleet bogus
demo
@ demo --fleet bogus
@ demo --fleet sample:-5
@ demo --journal {DIR}
@ --output json demo --fleet sample:5 --journal {NOTSQLITE}
"""

SPECIAL = {
    "VM_NL": VM.replace("/web-01", "/web\n01"),
    "SUB_NL": VM.replace(SUB, SUB + "\n"),
    "GROUP_NL": VM.replace("rg-contract", "rg-contract\n"),
    "NAME_NL": VM.replace("web-01", "web-01\n/x"),
    "NAME_SPACE": VM.replace("web-01", "web 01"),
    "LONG_NAME": "a" * 65,
    "SUB_AND_MORE": SUB + "\nx",
    "GROUP_ID_NL": GROUP_ID.replace("rg-contract", "rg\ncontract"),
}


def cli_cases() -> list[tuple[bool, str]]:
    """(with the emulator's target options, the line) for every case."""
    found = []
    for line in CLI_CASES.splitlines():
        text = line.strip()
        if not text or text.startswith("#") or text == "@":
            continue
        raw = text.startswith("@ ")
        found.append((not raw, text.removeprefix("@ ")))
    return found


def arguments(line: str, files: dict[str, str]) -> list[str]:
    values = {"VM": VM, "ARC": ARC, "SUB": SUB, "GROUP_ID": GROUP_ID, **SPECIAL, **files}
    return [word.format(**values) for word in shlex.split(line)]


@pytest.mark.parametrize(("targeted", "line"), cli_cases(), ids=lambda v: str(v)[:70])
def test_the_command_line_refuses_before_sending(
    world: Emulator, files: dict[str, str], targeted: bool, line: str
) -> None:
    given = arguments(line, files)
    ran = invoke([*target(world), *given] if targeted else given, world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False), (line, ran)
    message = ran.stderr.strip()
    assert message, line
    if message.startswith("error:"):  # ours; the parser's own usage errors say "Error:"
        assert message.count("\n") == 0, message  # one line
        assert "Fix:" in message, message


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("--time-scale 1e-308 plan", "'--time-scale'"),
        ("--connect-timeout 1e308 plan", "'--connect-timeout'"),
    ],
)
def test_a_number_out_of_range_is_refused_naming_what_was_typed(
    world: Emulator, line: str, named: str
) -> None:
    """Not a value derived from it (the polling interval of a time scale) nor an overflow
    deep inside (a socket timeout of 1e308 seconds)."""
    ran = invoke([*target(world), *shlex.split(line)], world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False), ran
    assert named in ran.stderr
    assert "polling_interval" not in ran.stderr


@pytest.mark.parametrize(
    ("line", "typed", "not_python"),
    [
        ("run --retry-failed", ("'--retry-failed'", "pass --journal"), ("_", "journal=")),
        ("run --reboot now", ("'--reboot'", "pass --remediate", "--reboot out"), ("=True",)),
        ("run --concurrency 0", ("'--concurrency'",), ("'concurrency'",)),
    ],
)
def test_the_librarys_refusal_is_worded_in_the_command_lines_terms(
    world: Emulator, line: str, typed: tuple[str, ...], not_python: tuple[str, ...]
) -> None:
    """The command line does not check again what the library checks before any request:
    the library's error is what the user sees, its argument the option as typed and its fix
    asking for options, not for Python's keyword arguments."""
    ran = invoke([*target(world), *shlex.split(line)], world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False), ran
    said = ran.stderr.strip()
    assert said.startswith("error:"), said  # one line, no progress bar above it
    assert said.count("\n") == 0, said
    assert all(words in said for words in typed), said
    assert not any(words in said for words in not_python), said


# --- the Python API -------------------------------------------------------------------------

Call = Callable[[Hotpatch], Any]
SCOPE = {"subscriptions": [SUB]}
SCHEDULE = {"resource_group": GROUP_ID, "location": "westeurope", "subscriptions": [SUB]}


def _inventory(**scope: Any) -> Call:
    return lambda client: client.inventory(**scope)


def _schedule(**changes: Any) -> Call:
    return lambda client: client.schedule(**{**SCHEDULE, **changes})


API_CASES: dict[str, tuple[Call, type[HotpatchError]]] = {
    "check not an id": (lambda c: c.check("not-an-id"), InvalidResourceIdError),
    "check newline in a name": (lambda c: c.check(SPECIAL["VM_NL"]), InvalidResourceIdError),
    "check newline after the subscription": (
        lambda c: c.check(SPECIAL["SUB_NL"]),
        InvalidResourceIdError,
    ),
    "check a number": (lambda c: c.check(123), InvalidResourceIdError),
    "status None": (lambda c: c.status(None), InvalidResourceIdError),
    "enable a web app": (
        lambda c: c.enable(VM.replace("Microsoft.Compute/virtualMachines", "Microsoft.Web/sites")),
        InvalidResourceIdError,
    ),
    "enable negative deadline": (lambda c: c.enable(VM, deadline=-5), InvalidArgumentError),
    "enable nan deadline": (
        lambda c: c.enable(VM, deadline=float("nan")),
        InvalidArgumentError,
    ),
    "disable zero deadline": (lambda c: c.disable(ARC, deadline=0), InvalidArgumentError),
    "assess zero deadline": (lambda c: c.assess(VM, deadline=0), InvalidArgumentError),
    "assess deadline text": (lambda c: c.assess(VM, deadline="soon"), InvalidArgumentError),
    "install 5 hours": (
        lambda c: c.install(VM, max_duration=timedelta(hours=5)),
        InvalidArgumentError,
    ),
    "install no time": (lambda c: c.install(VM, max_duration=timedelta(0)), InvalidArgumentError),
    "install minutes as int": (lambda c: c.install(VM, max_duration=90), InvalidArgumentError),
    "install bogus class": (
        lambda c: c.install(VM, classifications=["Bogus"]),
        InvalidArgumentError,
    ),
    "install no class": (lambda c: c.install(VM, classifications=[]), InvalidArgumentError),
    "install reboot sometimes": (
        lambda c: c.install(VM, reboot="Sometimes"),
        InvalidArgumentError,
    ),
    "install short KB": (lambda c: c.install(VM, kb_include=["123"]), InvalidArgumentError),
    "install KB newline": (
        lambda c: c.install(VM, kb_include=["KB5034441\nKB1"]),
        InvalidArgumentError,
    ),
    "install KB in and out": (
        lambda c: c.install(VM, kb_include=["KB5034441"], kb_exclude=["5034441"]),
        InvalidArgumentError,
    ),
    "install naive date": (
        lambda c: c.install(VM, max_patch_publish_date=datetime(2026, 1, 1)),
        InvalidArgumentError,
    ),
    "install date text": (
        lambda c: c.install(VM, max_patch_publish_date="2026-01-01"),
        InvalidArgumentError,
    ),
    "resume garbage": (lambda c: c.resume("garbage"), InvalidArgumentError),
    "resume a number": (lambda c: c.resume(42), InvalidArgumentError),
    "inventory bad subscription": (_inventory(subscriptions=["nope"]), InvalidArgumentError),
    "inventory bare subscription": (_inventory(subscriptions=SUB), InvalidArgumentError),
    "inventory empty tag name": (_inventory(tags={"": "x"}), InvalidArgumentError),
    "inventory tags as a list": (_inventory(tags=["env=prod"]), InvalidArgumentError),
    "inventory tag value a number": (_inventory(tags={"env": 1}), InvalidArgumentError),
    "inventory tag name with slash": (_inventory(tags={"a/b": "x"}), InvalidArgumentError),
    "inventory region with bang": (
        _inventory(locations=["west europe!"]),
        InvalidArgumentError,
    ),
    "inventory region Mars": (_inventory(locations=["Mars"]), InvalidArgumentError),
    "inventory group id": (_inventory(resource_groups=["/bad/id"]), InvalidArgumentError),
    "inventory group dot": (_inventory(resource_groups=["rg."]), InvalidArgumentError),
    "inventory group newline": (
        _inventory(resource_groups=["rg\nx"]),
        InvalidArgumentError,
    ),
    "inventory management group": (
        _inventory(management_groups=["mg/x"]),
        InvalidArgumentError,
    ),
    "inventory bogus kind": (_inventory(kinds=["bogus"]), InvalidArgumentError),
    "inventory no kind": (_inventory(kinds=[]), InvalidArgumentError),
    "inventory subscriptions and groups": (
        _inventory(subscriptions=[SUB], management_groups=["mg"]),
        InvalidArgumentError,
    ),
    "inventory no machines": (lambda c: c.inventory([]), InvalidArgumentError),
    "inventory bad machine": (lambda c: c.inventory([VM, "x"]), InvalidResourceIdError),
    "plan months ahead -1": (lambda c: c.plan(months_ahead=-1, **SCOPE), InvalidArgumentError),
    "plan months ahead 0": (lambda c: c.plan(months_ahead=0, **SCOPE), InvalidArgumentError),
    "plan months ahead 1.5": (lambda c: c.plan(months_ahead=1.5, **SCOPE), InvalidArgumentError),
    "plan unknown action": (lambda c: c.plan(actions=["deploy"], **SCOPE), InvalidArgumentError),
    "plan no action": (lambda c: c.plan(actions=[], **SCOPE), InvalidArgumentError),
    "plan ids and filter": (lambda c: c.plan([VM], **SCOPE), InvalidArgumentError),
    "run ids and filter": (lambda c: c.run(machines=[VM], kinds=["vm"]), InvalidArgumentError),
    "inventory ids and filter": (lambda c: c.inventory([VM], tags={}), InvalidArgumentError),
    "scheduled status ids and filter": (
        lambda c: c.scheduled_status([VM], locations=["westeurope"]),
        InvalidArgumentError,
    ),
    "plan bad region": (lambda c: c.plan(locations=["Mars"], **SCOPE), InvalidArgumentError),
    "run negative deadline": (lambda c: c.run(deadline=-5, **SCOPE), InvalidArgumentError),
    "run concurrency 0": (lambda c: c.run(concurrency=0, **SCOPE), InvalidArgumentError),
    "run install_again not a bool": (
        lambda c: c.run(install_again="no", **SCOPE),
        InvalidArgumentError,
    ),
    "run released a datetime": (
        lambda c: c.run(released=datetime(2026, 10, 16, tzinfo=timezone.utc), **SCOPE),
        InvalidArgumentError,
    ),
    "install released not a date": (
        lambda c: c.install(VM, released="16/10/2026"),
        InvalidArgumentError,
    ),
    "install install_again not a bool": (
        lambda c: c.install(VM, install_again=1),
        InvalidArgumentError,
    ),
    "run concurrency True": (lambda c: c.run(concurrency=True, **SCOPE), InvalidArgumentError),
    "run bad filter": (lambda c: c.run(tags={"": "x"}, **SCOPE), InvalidArgumentError),
    "schedule group not an id": (_schedule(resource_group="/bad"), InvalidResourceIdError),
    "schedule region Mars": (_schedule(location="Mars"), InvalidArgumentError),
    "schedule zone Mars": (_schedule(time_zone="Mars/Olympus"), InvalidArgumentError),
    "schedule 25 o'clock": (_schedule(start_time="25:00"), InvalidArgumentError),
    "schedule 9 days": (_schedule(days_after_patch_tuesday=9), InvalidArgumentError),
    "schedule 5 hour window": (
        _schedule(hotpatch_window=timedelta(hours=5)),
        InvalidArgumentError,
    ),
    "schedule weekly": (_schedule(mode="weekly"), InvalidArgumentError),
    "schedule by tags": (_schedule(assign_by="tags"), InvalidArgumentError),
    "schedule ignore conflicts": (_schedule(conflicts="ignore"), InvalidArgumentError),
    "schedule bogus kind": (_schedule(kinds=["bogus"]), InvalidArgumentError),
    "schedule bad name": (_schedule(name="bad name!"), InvalidArgumentError),
    "scheduled status empty tag": (
        lambda c: c.scheduled_status(tags={"": "x"}),
        InvalidArgumentError,
    ),
    "features bad subscription": (
        lambda c: c.register_preview_features("nope"),
        InvalidArgumentError,
    ),
    "features negative timeout": (
        lambda c: c.register_preview_features(SUB, timeout=-1),
        InvalidArgumentError,
    ),
    "remediate not an id": (lambda c: c.remediate("not-an-id"), InvalidResourceIdError),
    "remediate an unknown restart time": (
        lambda c: c.remediate(ARC, fix=True, reboot="sometime"),
        InvalidArgumentError,
    ),
    "remediate a restart time without a zone": (
        lambda c: c.remediate(ARC, fix=True, reboot=datetime(2027, 1, 16, 2)),
        InvalidArgumentError,
    ),
    "remediate an unplanned month 13": (
        lambda c: c.remediate(ARC, fix=True, reboot="baseline", unplanned=["2027-13"]),
        InvalidArgumentError,
    ),
    "plan remediate with an unknown restart time": (
        lambda c: c.plan(remediate=True, reboot="later", **SCOPE),
        InvalidArgumentError,
    ),
    "run remediate with a restart time without a zone": (
        lambda c: c.run(remediate=True, reboot="2027-01-16T02:00", **SCOPE),
        InvalidArgumentError,
    ),
    "run report_html a directory": (
        lambda c: c.run(report_html=".", **SCOPE),
        InvalidArgumentError,
    ),
    "run report_html in a missing directory": (
        lambda c: c.run(report_html="no-such-folder/report.html", **SCOPE),
        InvalidArgumentError,
    ),
    "run report_html not a path": (lambda c: c.run(report_html=42, **SCOPE), InvalidArgumentError),
}


@pytest.fixture(scope="module")
def client(world: Emulator) -> Iterator[Hotpatch]:
    with world.client() as hotpatch:
        yield hotpatch


def assert_refused(error: BaseException, expected: type[HotpatchError]) -> None:
    assert type(error) is expected, repr(error)
    assert error.__cause__ is None, repr(error.__cause__)
    assert error.__context__ is None or error.__suppress_context__, repr(error.__context__)
    assert isinstance(error, HotpatchError)
    assert error.fix, error  # the rule's fix


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_the_api_refuses_before_sending(world: Emulator, client: Hotpatch, name: str) -> None:
    call, expected = API_CASES[name]
    before = len(world.requests())
    with pytest.raises(HotpatchError) as raised:
        call(client)
    assert_refused(raised.value, expected)
    assert len(world.requests()) == before, name


# A misspelt keyword is Python's own TypeError (and mypy's error before that): every public
# method spells its keywords out. Nothing is sent.
MISSPELT: dict[str, Call] = {
    "plan kind=": lambda c: c.plan(kind=["vm"]),
    "run subscription=": lambda c: c.run(subscription=[SUB]),
    "inventory tag=": lambda c: c.inventory(tag={"env": "prod"}),
    "schedule location_filter=": _schedule(location_filter=["x"]),
    "scheduled status resource_group=": lambda c: c.scheduled_status(resource_group=["rg"]),
    "remediate restart=": lambda c: c.remediate(ARC, restart="now"),
    "aio plan kind=": lambda c: asyncio.run(c.aio.plan(kind=["vm"])),
}


@pytest.mark.parametrize("name", sorted(MISSPELT))
def test_a_misspelt_keyword_is_refused_before_sending(
    world: Emulator, client: Hotpatch, name: str
) -> None:
    before = len(world.requests())
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        MISSPELT[name](client)
    assert len(world.requests()) == before, name


ASYNC_CASES: dict[str, tuple[Call, type[HotpatchError]]] = {
    "aio check": (lambda c: c.aio.check(VM + "\n/x"), InvalidResourceIdError),
    "aio install": (lambda c: c.aio.install(VM, reboot="Maybe"), InvalidArgumentError),
    "aio run": (lambda c: c.aio.run(deadline=-5, **SCOPE), InvalidArgumentError),
    "aio plan": (lambda c: c.aio.plan(months_ahead=-1, **SCOPE), InvalidArgumentError),
}


@pytest.mark.parametrize("name", sorted(ASYNC_CASES))
def test_the_async_api_refuses_before_sending(world: Emulator, client: Hotpatch, name: str) -> None:
    call, expected = ASYNC_CASES[name]
    before = len(world.requests())
    with pytest.raises(HotpatchError) as raised:
        asyncio.run(call(client))
    assert_refused(raised.value, expected)
    assert len(world.requests()) == before


CLIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "endpoint not a URL": {"endpoint": "not-a-url"},
    "endpoint plain http": {"endpoint": "http://management.azure.com"},
    "time scale -1": {"time_scale": -1},
    "time scale infinite": {"time_scale": float("inf")},
    "time scale 1e-308": {"time_scale": 1e-308},
    "connect timeout 1e308": {"connect_timeout": 1e308},
    "read timeout 1e308": {"read_timeout": 1e308},
    "deadline a thousand years": {"deadline": timedelta(days=365_000)},
    "CA bundle missing": {"connection_verify": "/no/such/ca.pem"},
    "cloud Mars": {"cloud": "Mars"},
    "no connections": {"connections": 0},
    "deadline -1": {"deadline": -1},
    "polling -1": {"polling_interval": -1},
    "pacing not a bool": {"pacing": "no"},
    "retry not a policy": {"retry": 6},
    "unknown operation": {"operation_seconds": {"bogus": 1}},
    "credential without get_token": {"credential": object()},
}


@pytest.mark.parametrize("name", sorted(CLIENT_OPTIONS))
def test_a_client_with_bad_options_is_refused(name: str) -> None:
    options = dict(CLIENT_OPTIONS[name])
    credential = options.pop("credential", None)
    with pytest.raises(InvalidArgumentError) as raised:
        Hotpatch(credential, **options)
    assert_refused(raised.value, InvalidArgumentError)


PURE_CASES: dict[str, Callable[[], Any]] = {
    "year 0": lambda: calendar.year_plan(0),
    "unplanned month 13": lambda: calendar.year_plan(2026, unplanned=["2026-13"]),
    "unplanned bare string": lambda: calendar.year_plan(2026, unplanned="2026-03"),
    "no cores": lambda: pricing.estimate(
        0, datetime(2026, 1, 1).date(), datetime(2026, 2, 1).date()
    ),
}


@pytest.mark.parametrize("name", sorted(PURE_CASES))
def test_the_domain_modules_refuse_too(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        PURE_CASES[name]()
    assert_refused(raised.value, InvalidArgumentError)


def test_the_corpus_is_large() -> None:
    total = (
        len(cli_cases())
        + len(API_CASES)
        + len(MISSPELT)
        + len(ASYNC_CASES)
        + len(CLIENT_OPTIONS)
        + len(PURE_CASES)
    )
    assert total >= 150, total
