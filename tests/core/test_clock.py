"""The business-hours clock: weekends, holidays, DST, and its algebraic properties."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.clock import BusinessCalendar, CalendarError, WeeklyHours, holiday_set
from assistant.core.durations import Duration, DurationError, parse_duration

LONDON = ZoneInfo("Europe/London")
CAL = BusinessCalendar.build("Europe/London", "Mon-Fri 09:00-17:30", holiday_set("GB"))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


def test_elapsed_within_a_day() -> None:
    assert CAL.elapsed(local(2026, 11, 16, 10), local(2026, 11, 16, 12)) == timedelta(hours=2)


def test_elapsed_skips_nights_and_weekends() -> None:
    # Friday 16:30 -> Monday 10:00 = 1h Friday + 1h Monday
    assert CAL.elapsed(local(2026, 11, 20, 16, 30), local(2026, 11, 23, 10)) == timedelta(hours=2)


def test_add_rolls_over_the_weekend() -> None:
    assert CAL.add(local(2026, 11, 20, 15, 30), timedelta(hours=4)) == local(2026, 11, 23, 11)


def test_add_from_outside_hours_starts_at_next_opening() -> None:
    assert CAL.add(local(2026, 11, 21, 12), timedelta(hours=1)) == local(2026, 11, 23, 10)


def test_holidays_are_closed() -> None:
    # 25 and 26 Dec 2026 are Friday and Saturday; Monday 28 Dec is the boxing-day substitute.
    start = local(2026, 12, 24, 17)
    assert CAL.add(start, timedelta(hours=1)) == local(2026, 12, 29, 9, 30)
    extra = BusinessCalendar.build(
        "Europe/London", "Mon-Fri 09:00-17:30", holiday_set("GB", extra=(date(2026, 11, 23),))
    )
    assert extra.add(local(2026, 11, 20, 17), timedelta(hours=1)) == local(2026, 11, 24, 9, 30)


def test_dst_change_counts_real_time() -> None:
    # Open 00:00-23:59 every day; 29 Mar 2026 (UK spring forward) has 23 hours.
    cal = BusinessCalendar.build("Europe/London", "Mon-Sun 00:00-24:00")
    day = cal.elapsed(local(2026, 3, 29, 0), local(2026, 3, 29, 23, 59))
    assert day == timedelta(hours=22, minutes=59)
    autumn = cal.elapsed(local(2026, 10, 25, 0), local(2026, 10, 25, 23, 59))
    assert autumn == timedelta(hours=24, minutes=59)


def test_dst_week_office_hours_are_wall_clock() -> None:
    # Friday 27 Mar 17:00 + 1h -> Monday 30 Mar 09:30 local, though UTC offset changed.
    due = CAL.add(local(2026, 3, 27, 17), timedelta(hours=1))
    assert due == local(2026, 3, 30, 9, 30)
    assert due.astimezone(UTC).hour == 8


def test_is_open_and_next_open() -> None:
    assert CAL.is_open(local(2026, 11, 16, 9))
    assert not CAL.is_open(local(2026, 11, 16, 17, 30))
    assert CAL.next_open(local(2026, 11, 21, 12)) == local(2026, 11, 23, 9)


def test_split_day_hours() -> None:
    cal = BusinessCalendar.build("UTC", "Mon-Thu 09:00-12:00,13:00-17:00; Fri 09:00-15:00")
    monday = datetime(2026, 11, 16, 11, tzinfo=UTC)
    assert cal.add(monday, timedelta(hours=2)) == datetime(2026, 11, 16, 14, tzinfo=UTC)
    assert cal.day_length == timedelta(hours=6.8)


@pytest.mark.parametrize(
    "hours",
    [
        "",
        "Mon-Fri",
        "Mon-Fri 9-5",
        "Xyz 09:00-10:00",
        "Mon 10:00-09:00",
        "Mon 09:00-12:00,11:00-13:00",
        "Mon 25:00-26:00",
    ],
)
def test_bad_hours_are_refused_clearly(hours: str) -> None:
    with pytest.raises(CalendarError):
        WeeklyHours.parse(hours)


def test_unknown_zone_and_country() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        BusinessCalendar.build("Mars/Olympus", "Mon-Fri 09:00-17:00")
    with pytest.raises(CalendarError, match="holiday"):
        holiday_set("XX")


def test_always_closed_calendar_raises_instead_of_looping() -> None:
    cal = BusinessCalendar(
        ZoneInfo("UTC"),
        WeeklyHours.parse("Mon 09:00-10:00"),
        frozenset(date(2026, 1, 5) + timedelta(days=7 * i) for i in range(400)),
    )
    with pytest.raises(CalendarError):
        cal.add(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30s", Duration(rest=timedelta(seconds=30))),
        ("2m", Duration(rest=timedelta(minutes=2))),
        ("4h", Duration(rest=timedelta(hours=4))),
        ("1d", Duration(days=1)),
        ("1d 4h", Duration(days=1, rest=timedelta(hours=4))),
        ("0s", Duration()),
    ],
)
def test_durations(text: str, value: Duration) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "4", "4 hours", "h", "-1h", "1h x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


# --- properties -------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=6))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    zone = draw(st.sampled_from(ZONES))
    hours = draw(
        st.sampled_from(
            [
                "Mon-Fri 09:00-17:30",
                "Mon-Sun 00:00-24:00",
                "Sun-Thu 08:00-16:00",
                "Mon-Fri 09:00-12:00,13:00-17:00",
                "Mon-Sat 01:30-03:30",
            ]
        )
    )
    return BusinessCalendar.build(zone, hours, holiday_set("GB"))


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, spans)
def test_add_then_elapsed_round_trips(cal: BusinessCalendar, start: datetime, d: timedelta) -> None:
    end = cal.add(start, d)
    assert end >= start
    assert cal.elapsed(start, end) == d


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, spans, spans)
def test_elapsed_is_additive(
    cal: BusinessCalendar, a: datetime, d1: timedelta, d2: timedelta
) -> None:
    b, c = a + d1, a + d1 + d2
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert cal.elapsed(a, b) <= b - a


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, spans, spans)
def test_add_is_monotonic_and_composes(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    small, large = sorted((d1, d2))
    assert cal.add(start, small) <= cal.add(start, large)
    if d1 > timedelta(0):
        assert cal.add(cal.add(start, d1), d2) == cal.add(start, d1 + d2)


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, st.lists(spans, max_size=6))
def test_add_all_is_add_for_each(
    cal: BusinessCalendar, start: datetime, ds: list[timedelta]
) -> None:
    assert cal.add_all(start, ds) == [cal.add(start, d) for d in ds]


def _walked(cal: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """The definition, day by day: every open interval's overlap with [start, end)."""
    total, day = timedelta(0), start.astimezone(cal.zone).date() - timedelta(days=1)
    while end > start and day <= end.astimezone(cal.zone).date():
        for lo, hi in cal._open_intervals(day):
            total += max(min(hi, end) - max(lo, start), timedelta(0))
        day += timedelta(days=1)
    return total


@pytest.mark.parametrize(
    ("zone", "hours"),
    [
        ("Europe/London", "Mon-Fri 09:00-17:30"),
        ("America/New_York", "Mon-Thu 09:00-12:00,13:00-17:00; Fri 09:00-15:00"),
        ("Australia/Lord_Howe", "Mon-Sun 00:00-24:00"),  # a 30-minute DST shift
        ("Asia/Kolkata", "Sat 01:30-02:45"),
    ],
)
def test_indexed_elapsed_equals_the_day_walk(zone: str, hours: str) -> None:
    """``elapsed`` answers from an index of day totals; it must equal walking the days."""
    cal = BusinessCalendar.build(zone, hours, holiday_set("GB", extra=(date(2026, 3, 3),)))
    rng = random.Random(zone)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(1500):
        start = base + timedelta(seconds=rng.randint(-400 * 86400, 400 * 86400))
        end = start + timedelta(seconds=rng.choice((rng.randint(0, 3 * 86400), -5, 10**7)))
        assert cal.elapsed(start, end) == _walked(cal, start, end), (start, end)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # broken Date headers end up here
    assert cal.elapsed(epoch, base) == _walked(cal, epoch, base)
