"""Digests: when a person's is due, what it lists and in which order, the lead's summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assistant.core.clock import BusinessCalendar
from assistant.core.digest import (
    DigestError,
    OpenThread,
    business_hours,
    digest_day,
    digest_lines,
    team_summary,
    working_days,
)
from assistant.core.ownership import Person

CAL = BusinessCalendar.build("UTC", "Mon-Fri 09:00-17:00")
MON = datetime(2026, 10, 19, 9, 0, tzinfo=UTC)


def test_due_at_the_persons_local_time_on_their_working_days() -> None:
    ny = Person("ann@t.test", timezone="America/New_York", digest_at="08:30")
    # 08:30 in New York on Monday 19 Oct (EDT, UTC-4) is 12:30 UTC.
    assert digest_day(ny, datetime(2026, 10, 19, 12, 29, tzinfo=UTC)) is None
    assert digest_day(ny, datetime(2026, 10, 19, 12, 30, tzinfo=UTC)) == MON.date()
    # After the DST change (EST, UTC-5) the same local time is 13:30 UTC.
    assert digest_day(ny, datetime(2026, 11, 2, 13, 29, tzinfo=UTC)) is None
    assert digest_day(ny, datetime(2026, 11, 2, 13, 30, tzinfo=UTC)) is not None
    # Saturday is not a working day; Sun-Thu weeks are supported.
    assert digest_day(ny, datetime(2026, 10, 24, 15, 0, tzinfo=UTC)) is None
    gulf = Person("bob@t.test", timezone="Asia/Dubai", working_days="Sun-Thu")
    assert digest_day(gulf, datetime(2026, 10, 25, 6, 0, tzinfo=UTC)) is not None
    assert digest_day(gulf, datetime(2026, 10, 23, 6, 0, tzinfo=UTC)) is None
    paused = Person("cy@t.test", digest_paused=True)
    assert digest_day(paused, MON + timedelta(hours=3)) is None


def test_bad_settings_are_named() -> None:
    assert working_days("Mon,Wed;Fri") == frozenset({0, 2, 4})
    with pytest.raises(DigestError, match="working days"):
        working_days("weekdays")
    with pytest.raises(DigestError, match="unknown time zone"):
        digest_day(Person("x@t.test", timezone="Mars/Base"), MON)
    with pytest.raises(DigestError, match="HH:MM"):
        digest_day(Person("x@t.test", digest_at="8.30"), MON)


def thread(
    tid: str, owner: str, since: datetime, deadline: datetime | None, **kw: object
) -> OpenThread:
    return OpenThread("support", tid, f"About {tid}", f"{tid}@c.test", owner, since, deadline, **kw)  # type: ignore[arg-type]


def test_lines_are_mine_or_escalated_to_me_most_overdue_first() -> None:
    now = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)  # Wednesday noon
    threads = [
        thread("a", "ann@t.test", MON, MON + timedelta(hours=4)),
        thread("b", "ann@t.test", MON + timedelta(days=1), MON + timedelta(days=1, hours=4)),
        thread(
            "c", "bob@t.test", MON, MON + timedelta(hours=2), escalated_to=frozenset({"ann@t.test"})
        ),
        thread("d", "bob@t.test", MON, None),
        thread("e", "ann@t.test", now - timedelta(hours=1), None),
    ]
    lines = digest_lines("ann@t.test", threads, now, lambda _: CAL)
    assert [(line.number, line.thread.thread_id, line.role) for line in lines] == [
        (1, "c", "escalated"),
        (2, "a", "owner"),
        (3, "b", "owner"),
        (4, "e", "owner"),
    ]
    # Monday 09:00 to Wednesday 12:00 is 8 + 8 + 3 business hours.
    assert lines[1].waiting == timedelta(hours=19) and business_hours(lines[1].waiting) == "19h"
    assert lines[1].overdue == now - (MON + timedelta(hours=4))
    assert lines[3].overdue == timedelta(0)


def test_team_summary() -> None:
    now = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)
    threads = [
        thread("a", "ann@t.test", MON, MON + timedelta(hours=4)),
        thread("b", "ann@t.test", MON, now + timedelta(hours=1)),
        thread("c", "bob@t.test", MON, None),
    ]
    got = team_summary(threads, [timedelta(hours=1), timedelta(hours=3), timedelta(hours=8)], now)
    assert (got.waiting, got.overdue, got.answered) == (3, 1, 3)
    assert got.by_owner == (("ann@t.test", 2), ("bob@t.test", 1))
    assert got.median_first_response == timedelta(hours=3)
    assert team_summary([], [], now).median_first_response is None
    assert business_hours(timedelta(hours=5, minutes=30)) == "5h 30m"
    assert business_hours(timedelta(minutes=7)) == "7m"
