"""Durations written the way people write them: ``30s``, ``2m``, ``4h``, ``1d``, ``1d 4h``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from .errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
#: Longer than any setting or command needs; past it, date arithmetic would overflow.
MAX_DAYS = 3650


class DurationError(UsageError, ValueError):
    """A duration string that cannot be read."""


class DurationTooLong(DurationError):
    """A duration longer than :data:`MAX_DAYS`."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A span in days and a remainder; ``days`` becomes business days on a business clock."""

    days: float = 0.0
    rest: timedelta = timedelta(0)

    def real(self) -> timedelta:
        """As calendar time: a day is 24 hours."""
        return timedelta(days=self.days) + self.rest

    def business(self, day_length: timedelta) -> timedelta:
        """As business time: a day is one working day of ``day_length``."""
        return day_length * self.days + self.rest

    def __str__(self) -> str:
        out = []
        if self.days:
            out.append(f"{self.days:g}d")
        secs = int(self.rest.total_seconds())
        for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
            if secs >= size:
                out.append(f"{secs // size}{unit}")
                secs %= size
        return " ".join(out) or "0s"


def parse_duration(text: str) -> Duration:
    """Parse ``1d 4h``, ``90m``, ``0s``; raise :class:`DurationError` otherwise."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise DurationError("empty duration")
    pos, days, rest = 0, 0.0, 0.0
    for match in _PART.finditer(cleaned):
        if cleaned[pos : match.start()].strip():
            break
        value, unit = float(match.group(1)), match.group(2).lower()
        if unit == "d":
            days += value
        else:
            rest += value * _UNITS[unit]
        pos = match.end()
    if pos == 0 or cleaned[pos:].strip():
        raise DurationError(f"duration {text!r}: expected e.g. '30s', '2m', '4h', '1d', '1d 4h'")
    if days + rest / 86400 > MAX_DAYS:
        raise DurationTooLong(f"duration {text[:40]!r} is longer than {MAX_DAYS // 365} years")
    return Duration(days, timedelta(seconds=rest))
