"""Reconnection delays: growing, jittered, forgotten only after a connection has worked."""

from __future__ import annotations

from assistant.core.backoff import CAP, HEALTHY, Backoff


def test_delays_grow_even_when_every_login_succeeds() -> None:
    backoff, now, delays = Backoff(), 0.0, []
    for _ in range(12):
        backoff.opened(now)  # LOGIN worked ...
        now += 0.1  # ... and the first command failed
        delays.append(backoff.failed(now, jitter=0.0))
        now += delays[-1]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays) and delays[-1] == CAP / 2


def test_a_connection_that_worked_for_a_while_starts_over() -> None:
    backoff = Backoff()
    for _ in range(6):
        backoff.failed(0.0, jitter=0.5)
    backoff.opened(100.0)
    assert backoff.failed(100.0 + HEALTHY, jitter=0.0) == 0.5


def test_jitter_keeps_half_of_the_delay() -> None:
    low = Backoff(attempt=3).failed(0.0, jitter=0.0)
    high = Backoff(attempt=3).failed(0.0, jitter=0.999)
    assert low == 4.0 and 7.9 < high < 8.0
