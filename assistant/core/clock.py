"""The business-hours clock: elapsed and added time counted only inside working hours.

A :class:`BusinessCalendar` knows an IANA time zone, weekly opening hours and holidays. Opening
hours are local wall-clock times; each day's intervals are turned into UTC instants through
the zone, so a DST change (a 23- or 25-hour day) is counted exactly, and arithmetic on the
instants is plain UTC arithmetic. Nothing here reads the clock: every function takes the times.

Weekly hours are written like ``Mon-Fri 09:00-17:30`` or ``Mon-Thu 09:00-12:00,13:00-17:00;
Fri 09:00-15:00``.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigurationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ``add`` looks for open hours before deciding the calendar is always closed.
SEARCH_LIMIT_DAYS = 3 * 366
#: The longest run of days ``elapsed`` indexes (a century and more: 1970 to today fits).
MAX_INDEXED_DAYS = 40_000


class CalendarError(ConfigurationError, ValueError):
    """A calendar that cannot be built: unknown zone, malformed hours, no open time at all."""


Interval = tuple[time, time]


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Opening intervals for each weekday (Monday = 0); times are local wall-clock times."""

    days: tuple[tuple[Interval, ...], ...]

    @classmethod
    def parse(cls, text: str) -> WeeklyHours:
        """Parse ``Mon-Fri 09:00-17:30; Sat 10:00-12:00``."""
        days: list[list[Interval]] = [[] for _ in DAYS]
        for part in filter(None, (p.strip() for p in text.split(";"))):
            indexes, intervals = _parse_part(part)
            for idx in indexes:
                days[idx].extend(intervals)
        for day in days:
            day.sort()
            for (_, end_a), (start_b, _) in pairwise(day):
                if start_b < end_a:
                    raise CalendarError(f"hours {text!r}: overlapping intervals")
        if not any(days):
            raise CalendarError(f"hours {text!r}: no open time in the week")
        return cls(tuple(tuple(d) for d in days))


def _parse_part(part: str) -> tuple[list[int], list[Interval]]:
    """``Mon-Fri 09:00-12:00,13:00-17:00``: the weekday indexes and their intervals."""
    match = re.fullmatch(r"([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?\s+(.+)", part)
    if not match:
        raise CalendarError(f"hours {part!r}: expected e.g. 'Mon-Fri 09:00-17:30'")
    first = match.group(1).lower()
    last = (match.group(2) or match.group(1)).lower()
    if first not in DAYS or last not in DAYS:
        raise CalendarError(f"hours {part!r}: unknown day name")
    start, end = DAYS.index(first), DAYS.index(last)
    # A range may wrap over the weekend: "Sat-Mon".
    indexes = [*range(start, end + 1)] if start <= end else [*range(start, 7), *range(end + 1)]
    intervals = [_parse_interval(span.strip(), part) for span in match.group(3).split(",")]
    return indexes, intervals


def _parse_interval(span: str, part: str) -> Interval:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", span)
    if not match:
        raise CalendarError(f"hours {part!r}: expected HH:MM-HH:MM, got {span!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59  # "until midnight"; the last minute is not worth a special case
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise CalendarError(f"hours {part!r}: {exc}") from None
    if end <= start:
        raise CalendarError(f"hours {part!r}: {span} ends before it starts")
    return start, end


@dataclass(frozen=True)
class BusinessCalendar:
    """Working time in one zone. ``holidays`` is any container of dates (``holidays`` package)."""

    zone: ZoneInfo
    hours: WeeklyHours
    holidays: Container[date] = field(default_factory=frozenset)
    # Memo of each day's open intervals in UTC: the zone and holiday lookups dominate
    # otherwise (every elapsed() walks its days). A pure function's cache, bounded.
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    # Open time from an anchor day's start to each known day's start (negative before the
    # anchor), over one contiguous run of days: elapsed() is then two lookups, not a day walk.
    _starts: dict[date, timedelta] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _run: list[date] = field(
        default_factory=list, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def build(
        cls, zone: str, hours: str, holidays: Container[date] | None = None
    ) -> BusinessCalendar:
        """Build from a zone name and an hours string; raise :class:`CalendarError`."""
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"unknown time zone {zone!r}") from None
        return cls(tz, WeeklyHours.parse(hours), holidays if holidays is not None else frozenset())

    def _open_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        found: list[tuple[datetime, datetime]] = []
        if day not in self.holidays:
            for start, end in self.hours.days[day.weekday()]:
                # fold=0 both sides; astimezone(UTC) resolves a time in a DST gap consistently.
                lo = datetime.combine(day, start, tzinfo=self.zone).astimezone(UTC)
                hi = datetime.combine(day, end, tzinfo=self.zone).astimezone(UTC)
                if hi > lo:
                    found.append((lo, hi))
        if len(self._days) > 50_000:
            self._days.clear()
        self._days[day] = result = tuple(found)
        return result

    def _local_day(self, instant: datetime) -> date:
        return _aware(instant).astimezone(self.zone).date()

    def is_open(self, instant: datetime) -> bool:
        """True when ``instant`` falls inside working hours."""
        instant = _aware(instant)
        return any(lo <= instant < hi for lo, hi in self._open_intervals(self._local_day(instant)))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (zero when ``end`` is not after ``start``)."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return timedelta(0)
        first, last = self._local_day(start), self._local_day(end)
        if (last - first).days > MAX_INDEXED_DAYS:
            return self._walk(start, end, first, last)
        # A day's intervals lie inside that local day, so whole days between are their totals.
        since = self._start_of(last) - self._start_of(first)
        return since + self._open_before(end, last) - self._open_before(start, first)

    def _walk(self, start: datetime, end: datetime, first: date, last: date) -> timedelta:
        """``elapsed`` day by day, for spans too long to index (nonsense dates)."""
        total, day = timedelta(0), first
        while day <= last:
            for lo, hi in self._open_intervals(day):
                overlap = min(hi, end) - max(lo, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def _open_before(self, instant: datetime, day: date) -> timedelta:
        """Working time on ``day`` (``instant``'s local day) before ``instant``."""
        return sum(
            (min(hi, instant) - lo for lo, hi in self._open_intervals(day) if instant > lo),
            timedelta(0),
        )

    def _day_total(self, day: date) -> timedelta:
        return sum((hi - lo for lo, hi in self._open_intervals(day)), timedelta(0))

    def _start_of(self, day: date) -> timedelta:
        """Working time from the anchor day's start to ``day``'s start, extending the index."""
        starts, run = self._starts, self._run
        known = starts.get(day)
        if known is not None:
            return known
        if not run or abs((day - run[0]).days) > MAX_INDEXED_DAYS:
            starts.clear()  # first use, or a day far from the run: start a new run here
            starts[day] = timedelta(0)
            run[:] = [day, day]
            return timedelta(0)
        one = timedelta(days=1)
        low, high = run
        while high < day:
            starts[high + one] = starts[high] + self._day_total(high)
            high += one
        while low > day:
            starts[low - one] = starts[low] - self._day_total(low - one)
            low -= one
        run[:] = [low, high]
        return starts[day]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant ``t`` with ``elapsed(start, t) == duration``.

        ``add(start, 0)`` is ``start``. A positive duration started outside hours begins to
        count at the next opening.
        """
        start = _aware(start)
        if duration <= timedelta(0):
            return start
        remaining = duration
        day = self._local_day(start) - timedelta(days=1)
        for _ in range(SEARCH_LIMIT_DAYS):
            for lo, hi in self._open_intervals(day):
                begin = max(lo, start)
                if hi <= begin:
                    continue
                if remaining <= hi - begin:
                    return begin + remaining
                remaining -= hi - begin
            day += timedelta(days=1)
        raise CalendarError(f"no working time within {SEARCH_LIMIT_DAYS} days of {start}")

    def add_all(self, start: datetime, durations: Sequence[timedelta]) -> list[datetime]:
        """``[add(start, d) for d in durations]`` in one walk over the days (a ladder's
        deadlines all count from the same ``waiting_since``)."""
        start = _aware(start)
        out = [start] * len(durations)
        pending = sorted((d, i) for i, d in enumerate(durations) if d > timedelta(0))
        if not pending:
            return out
        at, consumed = 0, timedelta(0)
        day = self._local_day(start) - timedelta(days=1)
        for _ in range(SEARCH_LIMIT_DAYS):
            for lo, hi in self._open_intervals(day):
                begin = max(lo, start)
                if hi <= begin:
                    continue
                span = hi - begin
                while at < len(pending) and pending[at][0] - consumed <= span:
                    out[pending[at][1]] = begin + (pending[at][0] - consumed)
                    at += 1
                if at == len(pending):
                    return out
                consumed += span
            day += timedelta(days=1)
        raise CalendarError(f"no working time within {SEARCH_LIMIT_DAYS} days of {start}")

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` itself when open, else the start of the next working interval."""
        instant = _aware(instant)
        day = self._local_day(instant) - timedelta(days=1)
        for _ in range(SEARCH_LIMIT_DAYS):
            for lo, hi in self._open_intervals(day):
                if hi > instant:
                    return max(lo, instant)
            day += timedelta(days=1)
        raise CalendarError(f"no working time within {SEARCH_LIMIT_DAYS} days of {instant}")

    @cached_property
    def day_length(self) -> timedelta:
        """The mean length of an open weekday: what "1 business day" means in durations."""
        spans = [
            sum(
                (datetime.combine(date.min, e) - datetime.combine(date.min, s) for s, e in day),
                timedelta(0),
            )
            for day in self.hours.days
            if day
        ]
        return sum(spans, timedelta(0)) / len(spans)


def _aware(instant: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are kept as they are."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


class _Holidays:
    """A country's public holidays (``holidays`` package) plus extra dates, as a container."""

    def __init__(self, country: str | None, subdiv: str | None, extra: frozenset[date]) -> None:
        self._extra = extra
        self._country = None
        if country:
            import holidays as holidays_lib  # pure data; imported lazily to keep startup quick

            try:
                self._country = holidays_lib.country_holidays(country, subdiv=subdiv)
            except NotImplementedError:
                raise CalendarError(
                    f"unknown holiday country/subdivision {country!r}/{subdiv!r}"
                ) from None

    def __contains__(self, day: object) -> bool:
        if day in self._extra:
            return True
        return self._country is not None and day in self._country


def holiday_set(
    country: str | None = None, subdiv: str | None = None, extra: tuple[date, ...] = ()
) -> Container[date]:
    """Public holidays of ``country`` (ISO code, e.g. ``GB``, ``DE`` with ``subdiv`` ``BY``)
    plus ``extra`` dates."""
    return _Holidays(country, subdiv, frozenset(extra))
