"""Reply commands: what a team member writes at the top of a reply to a reminder or digest.

Grammar (case-insensitive; the first line of the reply that is not empty and not quoted)::

    done [#N]                    mark the thread handled
    snooze 2d [#N]               silence the ladder for a duration of business time
    snooze until monday [#N]     ... until a weekday, ``tomorrow`` or a date (YYYY-MM-DD),
                                 at that day's opening time
    assign ADDRESS [#N]          give the thread to another team member
    take [#N]                    take the thread yourself
    help

``#N`` picks the N-th thread of a digest; a reply to a reminder is about that reminder's
thread. Anything else is a :class:`CommandError` whose message is the help text's first line.
Who may act through which mail: :mod:`.command_rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .clock import BusinessCalendar
from .command_rules import TAG_LIFETIME, TAG_RULES, Tagged, TagUse
from .durations import Duration, DurationError, DurationTooLong, parse_duration
from .errors import UsageError
from .rules import vet

__all__ = [
    "HELP",
    "MAX_SNOOZE_DAYS",
    "TAG_LIFETIME",
    "VERBS",
    "WEEKDAYS",
    "Command",
    "CommandError",
    "Tagged",
    "command_line",
    "parse_command",
    "snooze_until",
    "tag_refusal",
]

HELP = (
    "Reply with one of these on the first line: done | snooze 2d | snooze until monday | "
    "assign someone@example.com | take | help  (add #N to pick a thread of a digest)"
)
VERBS = ("done", "snooze", "assign", "take", "help")
#: The longest snooze: a thread silenced for longer is a thread to mark done.
MAX_SNOOZE_DAYS = 366
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ITEM = re.compile(r"\s#(\d+)$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class CommandError(UsageError, ValueError):
    """A reply that is not a command Followup understands; the text says what is expected."""


def tag_refusal(tagged: Tagged, sender: str, now: datetime) -> tuple[str, str] | None:
    """Why a team member may not act through this mail: ``(rule, reason)``, else None
    (the rules: :data:`.command_rules.TAG_RULES`)."""
    found = vet(TagUse(tagged, sender, now), TAG_RULES)
    return (found.rule, found.reason) if found is not None else None


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command: ``verb``, its argument (duration text, ``until ...``, address)."""

    verb: str
    argument: str = ""
    item: int | None = None


def command_line(body: str) -> str:
    """The first line a person wrote: not empty, not quoted (``>``), before any signature."""
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith(">"):
            continue
        if line == "--":
            break
        return line
    return ""


def parse_command(body: str) -> Command:
    """Read the command at the top of a reply body; raise :class:`CommandError`."""
    line = " ".join(command_line(body).split())
    if not line:
        raise CommandError(f"the reply is empty. {HELP}")
    item = None
    match = _ITEM.search(" " + line)
    if match:
        item = int(match.group(1))
        line = line[: len(line) - len(match.group(0)) + 1].strip()
    verb, _, argument = line.partition(" ")
    verb, argument = verb.lower().rstrip(":.!"), argument.strip()
    if verb not in VERBS:
        raise CommandError(f"{verb[:40]!r} is not a command. {HELP}")
    if verb in ("done", "take", "help") and argument:
        raise CommandError(f"{verb!r} takes nothing after it. {HELP}")
    if verb == "assign":
        address = argument.strip("<>").lower()
        if not _EMAIL.match(address):
            raise CommandError(f"assign needs an address, e.g. 'assign bob@example.com'. {HELP}")
        argument = address
    if verb == "snooze":
        argument = argument.lower()
        if not argument:
            raise CommandError(f"snooze needs a time, e.g. 'snooze 2d'. {HELP}")
        _check_snooze(argument)
    return Command(verb, argument, item)


def _check_snooze(argument: str) -> None:
    if argument.startswith("until "):
        _target_day(argument[6:].strip(), date(2000, 1, 1))
        return
    try:
        duration = parse_duration(argument)
    except DurationTooLong:
        duration = Duration(days=MAX_SNOOZE_DAYS + 1)
    except DurationError:
        raise CommandError(
            f"cannot read {argument[:40]!r} as a time: write e.g. 'snooze 4h', 'snooze 2d' or "
            f"'snooze until monday'. {HELP}"
        ) from None
    if duration.real() > timedelta(days=MAX_SNOOZE_DAYS):
        raise CommandError(f"a snooze lasts {MAX_SNOOZE_DAYS} days at most. {HELP}")


def _target_day(word: str, today: date) -> date:
    word = word.lower()
    if word == "tomorrow":
        return today + timedelta(days=1)
    for index, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise CommandError(
            f"cannot read {word[:40]!r} as a day: write a weekday, 'tomorrow' or a date "
            f"(2026-12-01). {HELP}"
        ) from None


def snooze_until(argument: str, now: datetime, calendar: BusinessCalendar) -> datetime:
    """When a snooze ends: ``now`` plus business time, or the chosen day's first open hour."""
    if argument.startswith("until "):
        today = now.astimezone(calendar.zone).date()
        day = _target_day(argument[6:].strip(), today)
        if not today < day <= today + timedelta(days=MAX_SNOOZE_DAYS):
            raise CommandError(f"snooze until a day in the next {MAX_SNOOZE_DAYS} days. {HELP}")
        midnight = datetime.combine(day, time(0), tzinfo=calendar.zone)
        return calendar.next_open(midnight)
    duration = parse_duration(argument)
    return calendar.add(calendar.next_open(now), duration.business(calendar.day_length))
