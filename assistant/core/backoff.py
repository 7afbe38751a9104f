"""When to try a failing connection again: exponential, jittered, and patient.

A connection that fails right after it was made (a server that accepts LOGIN, then chokes on
the first command) must not be retried at full speed forever: the attempt count is forgotten
only once a connection has *worked* for :data:`HEALTHY` seconds, never merely because it was
opened. The jitter keeps half of each delay, so delays always grow ("equal jitter").
"""

from __future__ import annotations

from dataclasses import dataclass

#: Longest wait between two attempts, seconds.
CAP = 300.0
#: A connection that lived this long (seconds) counts as having worked.
HEALTHY = 60.0
#: The least wait after the server said it has too many connections of ours ([LIMIT],
#: RFC 5530): providers count them over minutes, and each refused LOGIN counts too.
LIMIT_FLOOR = 60.0
#: How servers word "too many connections" (Dovecot, Gmail, Exchange, Cyrus).
_LIMIT_SIGNS = ("[limit]", "too many", "maximum number of connections", "connection limit")


def says_limit(text: str) -> bool:
    """True when a server's refusal says we hold too many connections."""
    lowered = text.lower()
    return any(sign in lowered for sign in _LIMIT_SIGNS)


@dataclass
class Backoff:
    """The attempt count of one connection; durations in seconds (a monotonic clock's)."""

    base: float = 1.0
    cap: float = CAP
    healthy: float = HEALTHY
    attempt: int = 0
    opened_at: float | None = None

    def opened(self, now: float) -> None:
        """A connection is up (not yet proof that it works)."""
        self.opened_at = now

    def failed(self, now: float, jitter: float, limited: bool = False) -> float:
        """The delay before the next attempt; ``jitter`` in [0, 1) (the caller's random);
        ``limited``: the server refused for too many connections (at least a minute)."""
        if self.opened_at is not None and now - self.opened_at >= self.healthy:
            self.attempt = 0  # it had worked for a while: this is a new trouble
        self.opened_at = None
        span = min(self.cap, self.base * 2.0**self.attempt)
        self.attempt += 1
        delay = span / 2 + span / 2 * jitter
        return max(delay, LIMIT_FLOOR * (1 + jitter)) if limited else delay
