"""Open-ended inputs, property-based: ids, KB ids, dates, durations, time zones and tags.

Whatever hypothesis generates is either accepted (and means what it says) or refused with an
`InvalidArgumentError`/`InvalidResourceIdError` before anything is sent, never a crash; and
the valid-but-unusual spellings people really type are accepted.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from azhotpatch import Hotpatch, _validation
from azhotpatch._timezones import WINDOWS_ZONES, to_windows_zone
from azhotpatch.errors import InvalidArgumentError, InvalidResourceIdError
from azhotpatch.ids import parse_resource_id
from azhotpatch.models import InstallOptions
from azhotpatch.testing import Emulator
from tests.contract.conftest import ARC, GROUP_ID, SUB, VM, invoke, target

FIXTURES = settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def client(world: Emulator) -> Iterator[Hotpatch]:
    with world.client() as hotpatch:
        yield hotpatch


# --- resource ids -------------------------------------------------------------------------------

guids = st.uuids().map(str)
groups = st.from_regex(r"[A-Za-z0-9_\-.()]{0,20}[A-Za-z0-9_\-()]", fullmatch=True)
vm_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9_])?", fullmatch=True)
# Characters no segment may hold; inserted inside a segment, never at either end of the id
# (surrounding whitespace is forgiven, as pasted ids often carry it).
BAD = ["\n", "\r", "\t", " ", "?", "#", "%", "\x00", "é/", "\\", "*", "&"]


@st.composite
def broken_ids(draw: st.DrawFn) -> str:
    parts = ["subscriptions", draw(guids), "resourceGroups", draw(groups), "providers"]
    parts += ["Microsoft.Compute", "virtualMachines", draw(vm_names)]
    index = draw(st.sampled_from([1, 3, 7]))  # the subscription, the group or the name
    segment = parts[index]
    last = len(segment) - 1 if index == 7 else len(segment)  # not after the id's last letter
    assume(last >= 1)
    at = draw(st.integers(min_value=1, max_value=last))
    parts[index] = segment[:at] + draw(st.sampled_from(BAD)) + segment[at:]
    return "/" + "/".join(parts)


@FIXTURES
@given(text=broken_ids())
def test_a_damaged_id_is_refused_by_the_command_line_before_sending(
    world: Emulator, text: str
) -> None:
    with pytest.raises(InvalidResourceIdError):
        parse_resource_id(text)
    ran = invoke([*target(world), "check", VM, text], world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False)


def _shuffle_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, flips, strict=True))


@st.composite
def respelt_ids(draw: st.DrawFn) -> tuple[str, str]:
    """(an existing machine's id, the same id in another casing and wrapping)."""
    original = draw(st.sampled_from([VM, ARC]))
    words = original.strip("/").split("/")
    for index in (0, 2, 4, 5, 6):  # keywords, provider namespace and type: any case
        words[index] = _shuffle_case(draw, words[index])
    words[1] = draw(st.sampled_from([words[1].upper(), words[1].lower()]))
    text = "/".join(words)
    if draw(st.booleans()):
        text = "/" + text
    return original, draw(st.sampled_from(["", " ", "\n", "\t "])) + text + draw(
        st.sampled_from(["", "\n", "  "])
    )


@settings(max_examples=200, deadline=None)
@given(pair=respelt_ids())
def test_ids_are_case_insensitive_and_forgive_surrounding_whitespace(
    pair: tuple[str, str],
) -> None:
    original, respelt = pair
    assert parse_resource_id(respelt) == parse_resource_id(original)


def test_a_lower_case_provider_is_accepted_and_acted_on(world: Emulator) -> None:
    lower = VM.replace("Microsoft.Compute/virtualMachines", "microsoft.compute/virtualmachines")
    upper_arc = ARC.replace("resourceGroups", "RESOURCEGROUPS").replace(SUB, SUB.upper())
    ran = invoke([*target(world), "-o", "json", "check", lower, upper_arc], world)
    assert ran.code == 0, ran
    assert ran.sent > 0
    assert "Microsoft.Compute/virtualMachines/web-01" in ran.stdout  # the canonical spelling


# --- KB ids -------------------------------------------------------------------------------------

_KB_RULE = re.compile(r"(?:KB)?(\d{6,8})", re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.from_regex(r"(?i:kb)?\d{4,10}", fullmatch=True),
        st.text(alphabet="KBkb0123456789 -\n", max_size=12),
        st.text(max_size=12),
    )
)
def test_kb_ids_follow_one_rule(text: str) -> None:
    wanted = _KB_RULE.fullmatch(text.strip())
    if wanted is None:
        with pytest.raises(InvalidArgumentError):
            InstallOptions.build(kb_include=[text])
    else:
        built = InstallOptions.build(kb_include=[text])
        assert built.kb_include == (f"KB{wanted.group(1)}",)


def test_kb_written_either_way_is_the_same_kb() -> None:
    both = InstallOptions.build(kb_include=["KB5034441", "5034441", "kb5034441"])
    assert both.kb_include == ("KB5034441",)


@FIXTURES
@given(kb=st.text(alphabet="KB0123456789x-", min_size=1, max_size=11))
def test_a_bad_kb_reaches_no_machine(world: Emulator, client: Hotpatch, kb: str) -> None:
    assume(_KB_RULE.fullmatch(kb.strip()) is None)
    before = len(world.requests())
    with pytest.raises(InvalidArgumentError):
        client.install(VM, kb_include=[kb])
    assert len(world.requests()) == before


# --- dates --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.dates().map(date.isoformat),
        st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),
        st.from_regex(r"\d{4}-?W?\d{2}-?\d{1,2}", fullmatch=True),
        st.text(max_size=12),
    )
)
def test_a_date_is_yyyy_mm_dd_of_a_real_day_or_refused(text: str) -> None:
    try:
        parsed = _validation.iso_date(text, "--start")
    except InvalidArgumentError:
        real = re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is None or not _exists(text)
        assert real, text
    else:
        assert parsed.isoformat() == text


def _exists(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@FIXTURES
@given(day=st.integers(min_value=29, max_value=99), month=st.sampled_from(["02", "04", "13"]))
def test_an_impossible_date_on_the_command_line_is_a_usage_error(day: int, month: str) -> None:
    assume(not _exists(f"2026-{month}-{day:02d}"))
    ran = invoke(
        ["cost", "--cores", "4", "--start", f"2026-{month}-{day:02d}", "--end", "2027-01-01"]
    )
    assert (ran.code, ran.traceback) == (64, False)


# --- durations and other numbers ----------------------------------------------------------------


@FIXTURES
@given(minutes=st.one_of(st.integers(max_value=0), st.integers(min_value=241)))
def test_install_minutes_out_of_range_never_overflow_or_send(world: Emulator, minutes: int) -> None:
    ran = invoke([*target(world), "install", VM, "--max-duration", str(minutes)], world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False)


@FIXTURES
@given(
    length=st.one_of(
        st.timedeltas(max_value=timedelta(0)),
        st.timedeltas(min_value=timedelta(hours=4, seconds=1)),
        st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=4)).filter(
            lambda d: d.microseconds != 0
        ),
    )
)
def test_an_install_window_outside_azure_s_is_refused(
    world: Emulator, client: Hotpatch, length: timedelta
) -> None:
    before = len(world.requests())
    with pytest.raises(InvalidArgumentError):
        client.install(VM, max_duration=length)
    assert len(world.requests()) == before


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers()))
def test_a_deadline_is_positive_and_finite(value: float) -> None:
    """And at most a year: a longer wait overflows timers and socket timeouts (1e308 s)."""
    try:
        seconds = _validation.optional_seconds(value, "deadline")
    except InvalidArgumentError:
        assert not (0 < value <= _validation.MAX_SECONDS)
    else:
        assert seconds == float(value) > 0
        assert seconds <= _validation.MAX_SECONDS


@FIXTURES
@given(deadline=st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf"))))
def test_a_run_with_a_bad_deadline_sends_nothing(
    world: Emulator, client: Hotpatch, deadline: float
) -> None:
    before = len(world.requests())
    with pytest.raises(InvalidArgumentError):
        client.run(subscriptions=[SUB], deadline=deadline)
    assert len(world.requests()) == before


# --- time zones ---------------------------------------------------------------------------------

IANA = sorted(zoneinfo.available_timezones())


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(IANA))
def test_an_iana_zone_is_accepted_as_the_windows_zone_keeping_its_clock(name: str) -> None:
    try:
        windows = to_windows_zone(name)
    except InvalidArgumentError:
        assert name == "Antarctica/Troll"  # +00/+02 switching: no Windows zone keeps it
        return
    zone, theirs = ZoneInfo(name), ZoneInfo(WINDOWS_ZONES[windows])
    for month in range(1, 13):
        noon = datetime(2027, month, 15, 12, tzinfo=timezone.utc)
        assert noon.astimezone(zone).utcoffset() == noon.astimezone(theirs).utcoffset()


KNOWN_ZONES = {z.casefold() for z in [*WINDOWS_ZONES, *IANA]}


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=30))
def test_any_other_zone_name_is_refused_with_a_fix(name: str) -> None:
    assume(name.strip().casefold() not in KNOWN_ZONES)
    with pytest.raises(InvalidArgumentError, match="Fix: "):
        to_windows_zone(name)


def test_a_schedule_in_an_iana_zone_is_accepted(world: Emulator) -> None:
    ran = invoke(
        [
            *target(world),
            "schedule",
            "--subscription",
            SUB,
            "--config-group",
            GROUP_ID,
            "--config-location",
            "West Europe",
            "--time-zone",
            "Europe/Amsterdam",
            "--dry-run",
        ],
        world,
    )
    assert ran.code in (0, 1), ran  # machines may be skipped for the schedule's own rules
    assert "W. Europe Standard Time" in ran.stdout


# --- tags ---------------------------------------------------------------------------------------

FORBIDDEN = set("<>%&\\?/")


@settings(max_examples=300, deadline=None)
@given(tags=st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers())))
def test_tags_are_names_without_forbidden_characters_and_string_values(
    tags: dict[str, object],
) -> None:
    broken = any(
        not name.strip() or FORBIDDEN & set(name) or not isinstance(value, str)
        for name, value in tags.items()
    )
    if broken:
        with pytest.raises(InvalidArgumentError):
            _validation.tags(tags)  # type: ignore[arg-type]
    else:
        assert _validation.tags(tags) == tags  # type: ignore[arg-type]


@FIXTURES
@given(name=st.text(alphabet="ab<>%&\\?/ ", min_size=1, max_size=6))
def test_a_bad_tag_filter_sends_nothing(world: Emulator, name: str) -> None:
    assume(not name.strip() or FORBIDDEN & set(name))
    ran = invoke([*target(world), "plan", "--tag", f"{name}=x"], world)
    assert (ran.code, ran.sent, ran.traceback) == (64, 0, False)
