"""The one clock of a process: created by the entry point, handed down, moved by tests.

Service code never reads the wall clock itself (DESIGN.md: time is a parameter). An entry
point (the ``followup`` command, the arq worker's startup, the web server) builds one
:class:`SystemClock` or, with ``--now``, a :class:`FixedClock`, and passes it down with the
:class:`~assistant.runtime.Runtime`; tests hand in a clock they move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where a process gets the current time (always timezone-aware UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...


@dataclass(frozen=True)
class SystemClock:
    """The real time: the only wall-clock read of the service."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved (``--now``, tests, replays)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware time")

    def now(self) -> datetime:
        """The time it was set to."""
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta``; return the new time."""
        self.at += delta
        return self.at

    def set(self, at: datetime) -> None:
        """Move to ``at``."""
        self.at = at
