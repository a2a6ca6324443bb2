from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.ids import MachineKind
from azhotpatch.pricing import (
    ARC_HOTPATCH_PRICES,
    VM_HOTPATCH_PRICES,
    PricePeriod,
    estimate,
    price_on,
    prices_for,
    validate_table,
)

PRICE_START = date(2025, 7, 1)
NO_CHARGE_START = date(2026, 5, 19)


def _period(start: date, end: date | None, price: str = "1.00", label: str = "Test") -> PricePeriod:
    return PricePeriod(start, end, Decimal(price), label, "test table")


# --- acceptance facts -------------------------------------------------------------------------


def test_a_full_month_at_the_subscription_price() -> None:
    result = estimate(16, date(2025, 8, 1), date(2025, 9, 1))
    assert result.total == Decimal("24.00")
    (line,) = result.lines
    assert line.unit_price == Decimal("1.50")
    assert line.price_since == PRICE_START
    assert line.price_label == "Hotpatch subscription"
    assert (line.days, line.days_in_month, line.cores) == (31, 31, 16)


def test_no_charge_after_2026_05_19() -> None:
    result = estimate(16, date(2026, 6, 1), date(2026, 7, 1))
    assert result.total == Decimal("0.00")
    (line,) = result.lines
    assert line.price_label == "No charge"
    assert line.price_since == NO_CHARGE_START


def test_may_2026_is_split_at_the_price_change() -> None:
    result = estimate(16, date(2026, 5, 1), date(2026, 6, 1))
    paid, free = result.lines
    assert (paid.start, paid.end, paid.days, paid.days_in_month) == (
        date(2026, 5, 1),
        NO_CHARGE_START,
        18,
        31,
    )
    assert paid.unit_price == Decimal("1.50")
    assert paid.amount == Decimal("13.94")  # 16 * 1.50 * 18 / 31 = 13.935..., half up
    assert (free.start, free.end, free.days, free.days_in_month) == (
        NO_CHARGE_START,
        date(2026, 6, 1),
        13,
        31,
    )
    assert free.amount == Decimal("0.00")
    assert result.total == Decimal("13.94")


def test_half_a_month_is_pro_rated_by_day() -> None:
    result = estimate(16, date(2025, 8, 1), date(2025, 8, 16))
    (line,) = result.lines
    assert (line.days, line.days_in_month) == (15, 31)
    assert line.amount == Decimal("11.61")  # 16 * 1.50 * 15 / 31 = 11.6129...
    assert result.total == line.amount


def test_vms_are_never_charged() -> None:
    result = estimate(64, date(2020, 1, 1), date(2030, 1, 1), kind=MachineKind.VM)
    assert result.total == Decimal("0.00")
    assert {line.price_label for line in result.lines} == {"Included with Azure Edition"}
    assert result.kind is MachineKind.VM


def test_a_whole_year_2025_is_six_paid_months() -> None:
    result = estimate(8, date(2025, 1, 1), date(2026, 1, 1))
    assert len(result.lines) == 12
    assert [line.amount for line in result.lines[6:]] == [Decimal("12.00")] * 6
    assert all(line.amount == 0 for line in result.lines[:6])
    assert result.total == Decimal("72.00")


# --- money ------------------------------------------------------------------------------------


def test_every_amount_is_a_decimal_rounded_to_the_cent() -> None:
    result = estimate(7, date(2025, 6, 17), date(2026, 6, 3))
    values = [result.total]
    for line in result.lines:
        values += [line.amount, line.unit_price]
    assert all(type(value) is Decimal for value in values)
    assert all(line.amount.as_tuple().exponent == -2 for line in result.lines)
    assert result.total == sum(line.amount for line in result.lines)


def test_half_cents_round_up() -> None:
    table = [_period(date.min, None, "0.25")]
    # 0.25 * 15 / 30 = 0.125 exactly: half up gives 0.13 where banker's rounding would give 0.12.
    assert estimate(1, date(2025, 9, 1), date(2025, 9, 16), table=table).total == Decimal("0.13")
    # 0.25 * 15 / 31 = 0.1209...
    assert estimate(1, date(2025, 8, 1), date(2025, 8, 16), table=table).total == Decimal("0.12")


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    expected = estimate(16, date(2026, 5, 1), date(2026, 6, 1)).total
    with localcontext() as ctx:
        ctx.prec = 2
        assert estimate(16, date(2026, 5, 1), date(2026, 6, 1)).total == expected


def test_range_is_split_at_every_month_boundary() -> None:
    result = estimate(2, date(2025, 9, 20), date(2025, 11, 5))
    assert [(line.start, line.end) for line in result.lines] == [
        (date(2025, 9, 20), date(2025, 10, 1)),
        (date(2025, 10, 1), date(2025, 11, 1)),
        (date(2025, 11, 1), date(2025, 11, 5)),
    ]
    assert [line.days_in_month for line in result.lines] == [30, 31, 30]


def test_february_uses_its_own_length() -> None:
    (line,) = estimate(
        10, date(2028, 2, 1), date(2028, 3, 1), table=[_period(date.min, None)]
    ).lines
    assert line.days_in_month == 29
    assert line.amount == Decimal("10.00")


def test_range_crossing_the_start_of_pricing_is_split() -> None:
    result = estimate(4, date(2025, 6, 15), date(2025, 7, 15))
    assert [line.price_label for line in result.lines] == [
        "Preview (free)",
        "Hotpatch subscription",
    ]
    assert result.lines[0].price_since == date.min
    assert result.total == Decimal("2.71")  # 4 * 1.50 * 14 / 31 = 2.709...


# --- price lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "label", "price"),
    [
        (date(2025, 6, 30), "Preview (free)", "0.00"),
        (date(2025, 7, 1), "Hotpatch subscription", "1.50"),
        (date(2026, 5, 18), "Hotpatch subscription", "1.50"),
        (date(2026, 5, 19), "No charge", "0.00"),
        (date(2040, 1, 1), "No charge", "0.00"),
    ],
)
def test_price_on_finds_the_period_in_force(day: date, label: str, price: str) -> None:
    period = price_on(day)
    assert period.label == label
    assert period.usd_per_core_month == Decimal(price)
    assert period.source


def test_price_on_for_vms() -> None:
    assert price_on(date(2025, 8, 1), kind=MachineKind.VM).usd_per_core_month == 0


def test_built_in_tables_are_valid_and_cover_every_day() -> None:
    for table in (ARC_HOTPATCH_PRICES, VM_HOTPATCH_PRICES):
        validate_table(table)
        assert table[0].start == date.min
        assert table[-1].end is None
    assert prices_for(MachineKind.ARC) is ARC_HOTPATCH_PRICES
    assert prices_for(MachineKind.VM) is VM_HOTPATCH_PRICES


def test_kind_accepts_its_string_value() -> None:
    result = estimate(4, date(2025, 8, 1), date(2025, 9, 1), kind="vm")  # type: ignore[arg-type]
    assert result.kind is MachineKind.VM


# --- custom tables ----------------------------------------------------------------------------


def test_a_custom_table_replaces_the_built_in_prices() -> None:
    table = [_period(date.min, date(2025, 8, 16), "2.00"), _period(date(2025, 8, 16), None, "0")]
    result = estimate(31, date(2025, 8, 1), date(2025, 9, 1), table=table)
    assert [line.amount for line in result.lines] == [Decimal("30.00"), Decimal("0.00")]


def test_a_custom_table_need_not_start_at_date_min_but_must_cover_the_range() -> None:
    table = [_period(date(2025, 1, 1), None)]
    assert estimate(1, date(2025, 1, 1), date(2025, 2, 1), table=table).total == Decimal("1.00")
    with pytest.raises(InvalidArgumentError, match="before the first price period") as caught:
        estimate(1, date(2024, 12, 1), date(2025, 2, 1), table=table)
    assert caught.value.argument == "start"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ([], "no periods"),
        ("not a table", "expected a sequence of PricePeriod"),
        ([("2025-01-01", None, "1.00")], "not a PricePeriod"),
        ([_period(date.min, date(2025, 1, 1))], "the last period ends 2025-01-01"),
        (
            [_period(date.min, date(2025, 1, 1)), _period(date(2025, 2, 1), None)],
            "(a gap)",
        ),
        (
            [_period(date.min, date(2025, 3, 1)), _period(date(2025, 2, 1), None)],
            "(an overlap)",
        ),
        (
            [_period(date.min, None), _period(date(2025, 2, 1), None)],
            "open (end=None) but is not the last one",
        ),
        ([_period(date(2025, 2, 1), date(2025, 1, 1))], "not after its start"),
        ([PricePeriod(date.min, None, 1.5, "x", "y")], "must be a Decimal >= 0"),  # type: ignore[arg-type]
        ([_period(date.min, None, "-1")], "must be a Decimal >= 0"),
        ([_period(date.min, None, "NaN")], "must be a Decimal >= 0"),
        (
            [PricePeriod(datetime(2025, 1, 1), None, Decimal(1), "x", "y")],
            "is not a plain datetime.date",
        ),
    ],
)
def test_malformed_table_names_the_argument_and_the_fix(table: object, problem: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        estimate(1, date(2025, 8, 1), date(2025, 9, 1), table=table)  # type: ignore[arg-type]
    message = str(caught.value)
    assert caught.value.argument == "table"
    assert "malformed price table" in message
    assert problem in message
    assert "Fix:" in message
    assert "sorted by start" in message


def test_price_on_validates_a_custom_table_too() -> None:
    with pytest.raises(InvalidArgumentError, match="malformed price table"):
        price_on(date(2025, 1, 1), table=[])


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "problem"),
    [
        (0, "must be at least 1, got 0"),
        (-4, "must be at least 1, got -4"),
        (True, "must be a whole number of cores, got bool"),
        (2.5, "must be a whole number of cores, got float"),
        ("16", "must be a whole number of cores, got str"),
    ],
)
def test_bad_core_count_names_the_argument_and_the_fix(cores: object, problem: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        estimate(cores, date(2025, 8, 1), date(2025, 9, 1))  # type: ignore[arg-type]
    message = str(caught.value)
    assert caught.value.argument == "cores"
    assert "argument 'cores'" in message
    assert problem in message
    assert "Fix: pass the machine's core count" in message


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2025, 9, 1), date(2025, 9, 1)), (date(2025, 9, 1), date(2025, 8, 1))],
)
def test_empty_or_reversed_range_names_end_and_the_fix(start: date, end: date) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        estimate(16, start, end)
    message = str(caught.value)
    assert caught.value.argument == "end"
    assert "is not after start 2025-09-01" in message
    assert "Fix: pass an end later than start" in message


@pytest.mark.parametrize("argument", ["start", "end"])
def test_datetime_is_refused_with_a_clear_fix(argument: str) -> None:
    days: dict[str, date] = {"start": date(2025, 8, 1), "end": date(2025, 9, 1)}
    days[argument] = datetime(2025, 8, 15, 9, 30)
    with pytest.raises(InvalidArgumentError) as caught:
        estimate(16, days["start"], days["end"])
    message = str(caught.value)
    assert caught.value.argument == argument
    assert "is a datetime (2025-08-15T09:30:00)" in message
    assert f"Fix: pass a datetime.date, e.g. {argument}.date()" in message


def test_non_date_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"must be a datetime\.date, got str") as caught:
        estimate(16, "2025-08-01", date(2025, 9, 1))  # type: ignore[arg-type]
    assert caught.value.argument == "start"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"MachineKind\.ARC") as caught:
        estimate(16, date(2025, 8, 1), date(2025, 9, 1), kind="aks")  # type: ignore[arg-type]
    assert caught.value.argument == "kind"


# --- rendering --------------------------------------------------------------------------------


def test_text_breakdown_shows_each_line_and_the_total() -> None:
    text = str(estimate(16, date(2026, 5, 1), date(2026, 6, 1)))
    assert "16 cores" in text
    assert "18/31 days" in text
    assert "1.50 USD/core/month = 13.94 USD" in text
    assert "Hotpatch subscription, since 2025-07-01" in text
    assert "No charge, since 2026-05-19" in text
    assert text.splitlines()[-1].strip() == "Total: 13.94 USD"


def test_the_open_ended_preview_price_reads_sensibly() -> None:
    text = str(estimate(16, date(2025, 6, 1), date(2025, 7, 1)))
    assert "Preview (free), from the start" in text
    assert "0001-01-01" not in text


def test_as_dict_is_json_friendly_and_exact() -> None:
    data = estimate(16, date(2026, 5, 1), date(2026, 6, 1)).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["total"] == "13.94"
    assert data["kind"] == "arc"
    assert data["start"] == "2026-05-01"
    assert data["lines"][0]["amount"] == "13.94"
    assert data["lines"][0]["unit_price"] == "1.50"
    assert data["lines"][0]["price_since"] == "2025-07-01"


def test_html_is_a_table_with_a_row_per_line_and_a_total() -> None:
    page = estimate(16, date(2026, 5, 1), date(2026, 6, 1))._repr_html_()
    assert page.startswith("<table")
    assert page.count("<tr>") == 4  # header, two lines, total
    assert "13.94" in page
    assert "Total" in page
    assert "No charge (since 2026-05-19)" in page


# --- properties -------------------------------------------------------------------------------


@given(
    st.integers(min_value=1, max_value=100_000),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=1, max_value=800),
)
def test_lines_tile_the_range_and_add_up(cores: int, start: date, length: int) -> None:
    end = date.fromordinal(start.toordinal() + length)
    result = estimate(cores, start, end)
    assert result.lines[0].start == start
    assert result.lines[-1].end == end
    assert all(a.end == b.start for a, b in zip(result.lines, result.lines[1:], strict=False))
    assert sum(line.days for line in result.lines) == length
    assert all(0 < line.days <= line.days_in_month for line in result.lines)
    assert result.total == sum(line.amount for line in result.lines)
    assert all(type(line.amount) is Decimal for line in result.lines)
