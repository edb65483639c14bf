"""Spec 4.5 period rules and day windows, including zone edges."""

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vats_etl import periods
from vats_etl.periods import PeriodError, Window

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def resolve(now: datetime, zone: ZoneInfo = MSK, **params: str | None) -> Window:
    return periods.resolve(
        period=params.get("period"),
        start=params.get("start"),
        end=params.get("end"),
        now=now,
        zone=zone,
    )


# 2024-01-10 (a Wednesday) 22:30 UTC is already Thursday 01:30 in Moscow (UTC+3).
LATE_EVENING_UTC = utc(2024, 1, 10, 22, 30)


def test_nothing_given_is_today_in_company_zone():
    window = resolve(LATE_EVENING_UTC)
    assert window == Window(utc(2024, 1, 10, 21), utc(2024, 1, 11, 21))


def test_today_differs_between_moscow_and_utc_near_midnight():
    assert resolve(LATE_EVENING_UTC, zone=ZoneInfo("UTC")) == Window(
        utc(2024, 1, 10), utc(2024, 1, 11)
    )


@pytest.mark.parametrize(
    ("period", "first", "after"),
    [
        ("today", date(2024, 1, 11), date(2024, 1, 12)),
        ("yesterday", date(2024, 1, 10), date(2024, 1, 11)),
        ("this_week", date(2024, 1, 8), date(2024, 1, 15)),  # Monday to Monday
        ("last_week", date(2024, 1, 1), date(2024, 1, 8)),
        ("this_month", date(2024, 1, 1), date(2024, 2, 1)),
        ("last_month", date(2023, 12, 1), date(2024, 1, 1)),  # across the year end
    ],
)
def test_named_periods_are_calendar_periods(period, first, after):
    window = resolve(LATE_EVENING_UTC, period=period)
    assert window == Window(periods.local_midnight(first, MSK), periods.local_midnight(after, MSK))


def test_period_wins_over_start_and_end():
    window = resolve(
        LATE_EVENING_UTC, period="yesterday", start="20200101T000000Z", end="20200102T000000Z"
    )
    assert window == resolve(LATE_EVENING_UTC, period="yesterday")


def test_start_and_end_are_used_as_given():
    window = resolve(LATE_EVENING_UTC, start="20240105T101010Z", end="20240106T000000Z")
    assert window == Window(utc(2024, 1, 5, 10, 10, 10), utc(2024, 1, 6))


def test_missing_end_is_today():
    window = resolve(LATE_EVENING_UTC, start="20240105T000000Z")
    assert window == Window(utc(2024, 1, 5), utc(2024, 1, 11, 21))


def test_missing_start_is_the_day_of_end():
    window = resolve(LATE_EVENING_UTC, end="20240105T120000Z")
    assert window == Window(utc(2024, 1, 4, 21), utc(2024, 1, 5, 12))


def test_end_at_local_midnight_belongs_to_the_day_it_closes():
    window = resolve(LATE_EVENING_UTC, end="20240105T210000Z")  # 00:00 MSK on Jan 6
    assert window == Window(utc(2024, 1, 4, 21), utc(2024, 1, 5, 21))


@pytest.mark.parametrize(
    "params",
    [
        {"period": "week"},
        {"start": "2024-01-05"},
        {"start": "20240105T000000"},
        {"start": "20240106T000000Z", "end": "20240105T000000Z"},
    ],
)
def test_invalid_parameters_raise(params):
    with pytest.raises(PeriodError):
        resolve(LATE_EVENING_UTC, **params)


def test_this_week_on_a_sunday_starts_the_previous_monday():
    sunday = utc(2024, 3, 3, 12)
    window = resolve(sunday, period="this_week")
    assert periods.local_date(window.start, MSK) == date(2024, 2, 26)
    assert window.seconds == 7 * 86400


def test_leap_day_is_a_day_and_february_2024_has_29():
    assert periods.days(date(2024, 2, 28), date(2024, 3, 1), MSK)[1] == Window(
        utc(2024, 2, 28, 21), utc(2024, 2, 29, 21)
    )
    feb = resolve(utc(2024, 3, 15), period="last_month")
    assert feb.seconds == 29 * 86400


def test_year_end_month():
    window = resolve(utc(2025, 1, 10), period="last_month", zone=BERLIN)
    assert window == Window(utc(2024, 11, 30, 23), utc(2024, 12, 31, 23))


def test_dst_days_in_berlin_last_23_and_25_hours():
    spring = periods.day_window(date(2024, 3, 31), BERLIN)
    autumn = periods.day_window(date(2024, 10, 27), BERLIN)
    assert spring.seconds == 23 * 3600
    assert autumn.seconds == 25 * 3600
    assert spring.start == utc(2024, 3, 30, 23)


def test_week_containing_dst_change_is_167_hours():
    window = resolve(utc(2024, 3, 28, 12), period="this_week", zone=BERLIN)
    assert window.seconds == (7 * 24 - 1) * 3600


def test_days_cover_the_range_without_gaps():
    windows = periods.days(date(2024, 3, 25), date(2024, 4, 2), BERLIN)
    assert len(windows) == 9
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_days_rejects_reversed_range():
    with pytest.raises(PeriodError, match="before"):
        periods.days(date(2024, 1, 2), date(2024, 1, 1), MSK)


def test_format_and_parse_api_round_trip():
    instant = utc(2022, 1, 20, 8, 59, 22)
    assert periods.format_api(instant) == "20220120T085922Z"
    assert periods.parse_api("20220120T085922Z") == instant
    moscow = instant.astimezone(MSK)
    assert periods.format_api(moscow) == "20220120T085922Z"


def test_split_halves_on_whole_seconds():
    window = Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 3))
    first, second = periods.split(window)
    assert first == Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 1))
    assert second.end == window.end
    with pytest.raises(PeriodError):
        periods.split(Window(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 1)))


def test_pieces_cover_window():
    window = periods.day_window(date(2024, 1, 1), MSK)
    parts = list(periods.pieces(window, timedelta(hours=5)))
    assert len(parts) == 5 and parts[0].start == window.start and parts[-1].end == window.end


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1)),
    st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_today_always_contains_now(naive_now, tz):
    now = naive_now.replace(tzinfo=UTC)
    zone = ZoneInfo(tz)
    for period in ("today", "this_week", "this_month"):
        assert periods.period_window(period, now, zone).contains(now)
    assert (
        periods.period_window("yesterday", now, zone).end
        == periods.period_window("today", now, zone).start
    )
