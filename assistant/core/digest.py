"""Daily digests: who gets one today, and what is in it. Pure: ``now`` and the threads come in.

A person's digest lists the waiting threads they own or that were escalated to them, most
overdue first (earliest promised reply), each with the client, subject, waiting time in
business hours and deadline. A lead's digest adds team counts and the median first-response
time of the last seven days. A person gets it once per local working day, at their chosen
local time (default 08:30).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .clock import DAYS, BusinessCalendar
from .errors import UsageError
from .ownership import Person


class DigestError(UsageError, ValueError):
    """A person's digest settings that cannot be used (zone, days or time)."""


@dataclass(frozen=True, slots=True)
class OpenThread:
    """A thread awaiting the team, as a digest shows it."""

    mailbox: str
    thread_id: str
    subject: str
    client: str | None
    owner: str | None
    waiting_since: datetime
    deadline: datetime | None = None
    escalated_to: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One numbered line of a digest (the number is what ``#N`` in a reply refers to)."""

    number: int
    thread: OpenThread
    role: str
    waiting: timedelta
    overdue: timedelta


@dataclass(frozen=True, slots=True)
class TeamSummary:
    """What a lead's digest adds."""

    waiting: int
    overdue: int
    by_owner: tuple[tuple[str, int], ...]
    answered: int
    median_first_response: timedelta | None


def working_days(text: str) -> frozenset[int]:
    """``Mon-Fri``, ``Sun-Thu`` or ``Mon,Wed,Fri`` as weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in filter(None, (p.strip().lower() for p in text.replace(";", ",").split(","))):
        first, _, last = (x.strip()[:3] for x in part.partition("-"))
        last = last or first
        if first not in DAYS or last not in DAYS:
            raise DigestError(f"working days {text!r}: expected e.g. 'Mon-Fri' or 'Mon,Wed'")
        start, end = DAYS.index(first), DAYS.index(last)
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    if not days:
        raise DigestError(f"working days {text!r}: no day given")
    return frozenset(days)


def digest_time(text: str) -> time:
    """``08:30`` as a time."""
    try:
        hours, minutes = (int(x) for x in text.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise DigestError(f"digest time {text!r}: expected HH:MM, e.g. 08:30") from None


def person_zone(person: Person) -> ZoneInfo:
    """The person's time zone."""
    try:
        return ZoneInfo(person.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DigestError(f"{person.email}: unknown time zone {person.timezone!r}") from None


def digest_day(person: Person, now: datetime) -> date | None:
    """The local date whose digest is due for ``person`` at ``now``, else None."""
    if person.digest_paused:
        return None
    local = now.astimezone(person_zone(person))
    if local.weekday() not in working_days(person.working_days):
        return None
    at = digest_time(person.digest_at)
    if (local.hour, local.minute) < (at.hour, at.minute):
        return None
    return local.date()


def digest_lines(
    person: str,
    threads: Iterable[OpenThread],
    now: datetime,
    calendar_of: Callable[[str], BusinessCalendar],
) -> list[DigestLine]:
    """The threads waiting on ``person`` (owned or escalated to them), most overdue first."""
    mine = [t for t in threads if t.owner == person or person in t.escalated_to]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    mine.sort(key=lambda t: (t.deadline or far, t.waiting_since, t.thread_id))
    lines = []
    for number, thread in enumerate(mine, start=1):
        waiting = calendar_of(thread.mailbox).elapsed(thread.waiting_since, now)
        overdue = max(timedelta(0), now - thread.deadline) if thread.deadline else timedelta(0)
        role = "owner" if thread.owner == person else "escalated"
        lines.append(DigestLine(number, thread, role, waiting, overdue))
    return lines


def team_summary(
    threads: Iterable[OpenThread], first_responses: Iterable[timedelta], now: datetime
) -> TeamSummary:
    """Counts for a lead: waiting, overdue, per owner; median first response."""
    items = list(threads)
    owners: dict[str, int] = {}
    for t in items:
        owners[t.owner or "(nobody)"] = owners.get(t.owner or "(nobody)", 0) + 1
    responses = sorted(first_responses)
    median = (
        timedelta(seconds=statistics.median(r.total_seconds() for r in responses))
        if responses
        else None
    )
    return TeamSummary(
        waiting=len(items),
        overdue=sum(1 for t in items if t.deadline is not None and t.deadline < now),
        by_owner=tuple(sorted(owners.items(), key=lambda kv: (-kv[1], kv[0]))),
        answered=len(responses),
        median_first_response=median,
    )


def business_hours(span: timedelta) -> str:
    """``5h 30m`` (business time reads best in hours)."""
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h {minutes:02d}m"
    return f"{hours}h" if hours else f"{minutes}m"
