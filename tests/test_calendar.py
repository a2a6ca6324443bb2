from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azhotpatch.calendar import (
    MonthKind,
    Release,
    month_kind,
    next_release,
    patch_tuesday,
    planned_kind,
    releases,
    year_plan,
)
from azhotpatch.errors import InvalidArgumentError

LAST_MONTH_WITH_A_NEXT_RELEASE = date(9999, 12, 1)


# --- acceptance facts -------------------------------------------------------------------------


def test_quarterly_baselines_and_hotpatch_months_in_2026() -> None:
    assert month_kind(2026, 1) is MonthKind.BASELINE
    assert month_kind(2026, 4) is MonthKind.BASELINE
    assert month_kind(2026, 2) is MonthKind.HOTPATCH
    assert month_kind(2026, 11) is MonthKind.HOTPATCH


def test_patch_tuesday_is_the_second_tuesday() -> None:
    assert patch_tuesday(2026, 11) == date(2026, 11, 10)
    assert patch_tuesday(2025, 1) == date(2025, 1, 14)
    # A month that starts on a Tuesday: the 1st is the first Tuesday, the 8th the second.
    assert patch_tuesday(2025, 4) == date(2025, 4, 8)


def test_unplanned_baseline_adds_a_reboot_month() -> None:
    assert year_plan(2026, unplanned=["2026-03"]).reboot_months == 5


def test_year_plan_renders_compactly() -> None:
    plan = year_plan(2026)
    assert plan.render_text() == "2026  B H H B H H B H H B H H"
    assert str(plan) == plan.render_text()


def test_next_release_is_exclusive_unless_asked() -> None:
    assert next_release(date(2026, 11, 10)).date == date(2026, 12, 8)
    assert next_release(date(2026, 11, 10), inclusive=True).date == date(2026, 11, 10)


# --- kinds ------------------------------------------------------------------------------------


def test_only_baselines_need_a_reboot() -> None:
    assert MonthKind.BASELINE.reboot_required
    assert MonthKind.UNPLANNED_BASELINE.reboot_required
    assert not MonthKind.HOTPATCH.reboot_required


def test_month_kind_values_are_the_one_letter_codes() -> None:
    assert [kind.value for kind in MonthKind] == ["B", "H", "U"]
    assert MonthKind("U") is MonthKind.UNPLANNED_BASELINE


@pytest.mark.parametrize(("month", "kind"), [(1, "B"), (3, "H"), (7, "B"), (10, "B"), (12, "H")])
def test_planned_kind_follows_the_quarter(month: int, kind: str) -> None:
    assert planned_kind(2027, month) is MonthKind(kind)


@pytest.mark.parametrize("month", [date(2026, 3, 31), (2026, 3), "2026-03", " 2026-03 "])
def test_unplanned_months_accept_every_documented_form(month: date | tuple[int, int] | str) -> None:
    assert month_kind(2026, 3, unplanned=[month]) is MonthKind.UNPLANNED_BASELINE


def test_unplanned_baseline_in_a_planned_baseline_month_stays_a_baseline() -> None:
    assert month_kind(2026, 4, unplanned=["2026-04"]) is MonthKind.BASELINE
    assert year_plan(2026, unplanned=["2026-04"]).reboot_months == 4


def test_unplanned_months_of_other_years_are_ignored() -> None:
    plan = year_plan(2026, unplanned=["2025-11", (2027, 2), "2026-08"])
    assert plan.render_text() == "2026  B H H B H H B U H B H H"


def test_unplanned_accepts_any_iterable() -> None:
    months = (m for m in ["2026-05", "2026-06"])
    assert year_plan(2026, unplanned=months).reboot_months == 6


# --- releases ---------------------------------------------------------------------------------


def test_release_carries_its_month_kind_and_date() -> None:
    release = next_release(date(2026, 2, 20), unplanned=["2026-03"])
    assert release == Release(2026, 3, MonthKind.UNPLANNED_BASELINE, date(2026, 3, 10))
    assert release.reboot_required
    assert "2026-03-10" in str(release)
    assert "reboot" in str(release)


def test_next_release_crosses_the_year_end() -> None:
    release = next_release(date(2026, 12, 31))
    assert (release.year, release.month, release.kind) == (2027, 1, MonthKind.BASELINE)


def test_next_release_before_patch_tuesday_is_the_same_month() -> None:
    assert next_release(date(2026, 11, 1)).date == date(2026, 11, 10)


def test_releases_covers_a_half_open_range() -> None:
    found = list(releases(date(2026, 1, 13), date(2026, 4, 14)))
    assert [r.date for r in found] == [date(2026, 1, 13), date(2026, 2, 10), date(2026, 3, 10)]
    assert [r.kind.value for r in found] == ["B", "H", "H"]


def test_releases_of_an_empty_range_is_empty() -> None:
    assert list(releases(date(2026, 5, 1), date(2026, 5, 1))) == []


def test_releases_applies_unplanned_months() -> None:
    found = releases(date(2026, 1, 1), date(2027, 1, 1), unplanned=["2026-11"])
    assert sum(r.reboot_required for r in found) == 5


def test_releases_checks_arguments_at_the_call() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        releases(date(2026, 5, 1), date(2026, 4, 1))
    assert caught.value.argument == "end"
    assert "before start" in str(caught.value)


def test_no_release_after_the_end_of_the_calendar() -> None:
    with pytest.raises(InvalidArgumentError, match="no Patch Tuesday after 9999-12-20"):
        next_release(date(9999, 12, 20))


# --- the year plan ----------------------------------------------------------------------------


def test_year_plan_has_twelve_releases_in_order() -> None:
    plan = year_plan(2026)
    assert [r.month for r in plan.months] == list(range(1, 13))
    assert all(r.year == 2026 for r in plan.months)
    assert plan.months[10].date == date(2026, 11, 10)
    assert (plan.reboot_months, plan.hotpatch_months) == (4, 8)


def test_year_plan_html_is_a_self_contained_table() -> None:
    page = year_plan(2026, unplanned=["2026-03"])._repr_html_()
    assert page.startswith("<table")
    assert page.count("<td") == 12
    for abbreviation in ("Jan", "Jun", "Dec"):
        assert f">{abbreviation}</th>" in page
    assert "2026-11-10" in page
    assert "<b>U</b>" in page
    assert "background:" in page
    assert "Unplanned baseline (reboot)" in page
    assert "Hotpatch (no reboot)" in page


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument", "text"),
    [
        (lambda: patch_tuesday(2026, 13), "month", "month 13 does not exist"),
        (lambda: patch_tuesday(2026, 0), "month", "month 0 does not exist"),
        (lambda: planned_kind(0, 1), "year", "outside the calendar"),
        (lambda: year_plan(10_000), "year", "outside the calendar"),
        (lambda: year_plan(True), "year", "must be an int"),
        (lambda: month_kind(2026, "3"), "month", "must be an int"),  # type: ignore[arg-type]
    ],
)
def test_invalid_year_or_month_is_named_with_a_fix(call: object, argument: str, text: str) -> None:
    assert callable(call)
    with pytest.raises(InvalidArgumentError) as caught:
        call()
    assert caught.value.argument == argument
    assert text in str(caught.value)
    assert "Fix:" in str(caught.value)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("2026/03", "'2026/03'"),
        ("2026-3", "'2026-3'"),
        ("2026-13", "'2026-13'"),
        ((2026, 0), "(2026, 0)"),
        ((2026, 3, 1), "(2026, 3, 1)"),
        (202603, "202603"),
        (None, "None"),
    ],
)
def test_garbage_unplanned_month_names_the_value_and_the_accepted_forms(
    bad: object, shown: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        year_plan(2026, unplanned=[bad])  # type: ignore[list-item]
    message = str(caught.value)
    assert caught.value.argument == "unplanned"
    assert shown in message
    assert "'YYYY-MM'" in message
    assert "(year, month)" in message


@pytest.mark.parametrize("single", ["2026-03", (2026, 3), date(2026, 3, 1)])
def test_a_single_unplanned_month_must_be_wrapped_in_a_list(
    single: date | tuple[int, int] | str,
) -> None:
    with pytest.raises(InvalidArgumentError, match="wrap it in a list") as caught:
        month_kind(2026, 3, unplanned=single)  # type: ignore[arg-type]
    assert caught.value.argument == "unplanned"


def test_datetime_is_refused_where_a_date_is_expected() -> None:
    with pytest.raises(InvalidArgumentError, match=r"after\.date\(\)") as caught:
        next_release(datetime(2026, 11, 10, 12, 0))
    assert caught.value.argument == "after"


def test_non_date_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"must be a datetime\.date, got str"):
        next_release("2026-11-10")  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

years = st.integers(min_value=date.min.year, max_value=date.max.year)
months = st.integers(min_value=1, max_value=12)


@given(years, months)
def test_patch_tuesday_is_a_tuesday_in_the_second_week(year: int, month: int) -> None:
    day = patch_tuesday(year, month)
    assert day.weekday() == 1
    assert 8 <= day.day <= 14
    assert (day.year, day.month) == (year, month)


@given(years, st.lists(st.tuples(st.integers(-1, 1), months), max_size=12))
def test_reboots_are_planned_baselines_plus_unplanned_hotpatch_months(
    year: int, offsets: list[tuple[int, int]]
) -> None:
    unplanned = [
        (year + offset, month)
        for offset, month in offsets
        if date.min.year <= year + offset <= date.max.year
    ]
    plan = year_plan(year, unplanned=unplanned)
    displaced = {(y, m) for y, m in unplanned if y == year and m not in (1, 4, 7, 10)}
    planned = sum(r.kind is MonthKind.BASELINE for r in plan.months)
    assert planned == 4
    assert plan.reboot_months == 4 + len(displaced)
    assert plan.hotpatch_months == 8 - len(displaced)


@given(st.dates(max_value=LAST_MONTH_WITH_A_NEXT_RELEASE))
def test_next_release_is_after_the_day(day: date) -> None:
    release = next_release(day)
    assert release.date > day
    assert release.date == patch_tuesday(release.year, release.month)
    assert next_release(day, inclusive=True).date >= day


@given(st.dates(max_value=LAST_MONTH_WITH_A_NEXT_RELEASE))
def test_no_release_is_skipped(day: date) -> None:
    release = next_release(day)
    assert list(releases(day + timedelta(days=1), release.date)) == []
