"""Reply commands: parsing, and when a snooze ends on the business clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from assistant.core.clock import BusinessCalendar
from assistant.core.commands import (
    TAG_LIFETIME,
    Command,
    CommandError,
    Tagged,
    parse_command,
    snooze_until,
    tag_refusal,
)

CAL = BusinessCalendar.build("Europe/London", "Mon-Fri 09:00-17:00")
# Wednesday 21 October 2026, 15:00 London (BST, UTC+1)
WED = datetime(2026, 10, 21, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("done", Command("done")),
        ("Done.\n\nThanks!", Command("done")),
        ("\n\n  take  \n> quoted reminder text", Command("take")),
        ("snooze 2d", Command("snooze", "2d")),
        ("Snooze until Monday #3", Command("snooze", "until monday", 3)),
        ("assign <Bob@Example.com>", Command("assign", "bob@example.com")),
        ("done #2\n-- \nsignature", Command("done", "", 2)),
        ("help", Command("help")),
    ],
)
def test_commands_people_write(body: str, expected: Command) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "empty"),
        ("> only quoted", "empty"),
        ("please close this", "'please' is not a command"),
        ("done now", "takes nothing"),
        ("assign bob", "needs an address"),
        ("snooze", "needs a time"),
        ("snooze a while", "cannot read"),
        ("snooze until someday", "cannot read 'someday'"),
        ("snooze 99999999999999999999h", "366 days at most"),
        ("snooze 367d", "366 days at most"),
        ("x" * 100_000, "is not a command"),
    ],
)
def test_anything_else_gets_a_reason_and_the_help(body: str, says: str) -> None:
    with pytest.raises(CommandError, match=says) as err:
        parse_command(body)
    assert "done | snooze" in str(err.value)


def test_snooze_durations_count_business_time() -> None:
    # 2h from Wed 15:00 London -> Wed 17:00; 4h -> Thu 11:00 (the evening does not count).
    assert snooze_until("2h", WED, CAL) == datetime(2026, 10, 21, 16, 0, tzinfo=UTC)
    assert snooze_until("4h", WED, CAL) == datetime(2026, 10, 22, 10, 0, tzinfo=UTC)
    # 2d = two 8-hour days: Friday 15:00 London.
    assert snooze_until("2d", WED, CAL) == datetime(2026, 10, 23, 14, 0, tzinfo=UTC)


def test_snooze_until_a_day_wakes_at_its_opening_across_dst() -> None:
    # Monday 26 October: clocks went back on Sunday 25th, 09:00 London is 09:00 UTC.
    assert snooze_until("until monday", WED, CAL) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    assert snooze_until("until tomorrow", WED, CAL) == datetime(2026, 10, 22, 8, 0, tzinfo=UTC)
    # A Saturday date wakes at the next opening: Monday.
    assert snooze_until("until 2026-10-24", WED, CAL) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    # "until wednesday" on a Wednesday means next week's.
    assert snooze_until("until wed", WED, CAL) == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("day", ["9999-12-31", "2000-01-01", "2026-11-24"])
def test_snooze_until_a_day_out_of_range_is_refused(day: str) -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    calendar = BusinessCalendar.build("UTC", "Mon-Fri 09:00-17:00")
    with pytest.raises(CommandError, match="in the next 366 days"):
        snooze_until(parse_command(f"snooze until {day}").argument, now, calendar)


def test_a_tag_is_bound_to_its_addressee_expires_and_dies_with_its_episode() -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    fresh = Tagged("ann@example.com", now - TAG_LIFETIME + timedelta(minutes=1))
    assert tag_refusal(fresh, "Ann@Example.com", now) is None
    refused = {
        "command-not-yours": tag_refusal(fresh, "bob@example.com", now),
        "command-expired": tag_refusal(
            replace(fresh, sent_at=now - TAG_LIFETIME * 2), "ann@example.com", now
        ),
        "command-stale-episode": tag_refusal(replace(fresh, stale=True), "ann@example.com", now),
    }
    assert {rule: (got or ("", ""))[0] for rule, got in refused.items()} == {
        rule: rule for rule in refused
    }
    assert tag_refusal(replace(fresh, sent_at=None), "ann@example.com", now) is not None
