"""The lifecycle of an outbox row: one enum and one transition table (the shape of h11's
``_state.py``). The values are the strings stored in ``outbox.status``.

::

    pending ─┬─▶ sending ──SMTP 250──▶ accepted ──Sent copy──▶ sent
    retry  ──┤     │ ▲  └─ 4xx ─▶ retry      (found in Sent after a crash) ─▶ sent
             │     └─┘ re-taken after a crash (its lease ran out)
             ├─▶ dry_run      (the mailbox only pretends)
             ├─▶ skipped      (a named rule said no; also from sending, re-vetted)
             └─▶ failed       (5xx, or a row that raised; also from sending)

A row is created ``pending`` (or ``skipped``, a digest with nothing in it). ``sent``,
``dry_run``, ``skipped`` and ``failed`` are final. An ``accepted`` row is never sent by
SMTP again: only its Sent copy is settled.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from .errors import FollowupError


class Status(StrEnum):
    """Where an outbox row is in its life (stored as these strings)."""

    PENDING = "pending"
    RETRY = "retry"
    SENDING = "sending"
    ACCEPTED = "accepted"
    SENT = "sent"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    FAILED = "failed"


_BEFORE_SMTP = frozenset({Status.SENDING, Status.DRY_RUN, Status.SKIPPED, Status.FAILED})

#: Every legal change of status: ``TRANSITIONS[now]`` is where a row may go next.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: _BEFORE_SMTP,
    Status.RETRY: _BEFORE_SMTP,
    Status.SENDING: frozenset(
        {
            Status.SENDING,  # re-taken once a crashed sender's lease ran out
            Status.ACCEPTED,
            Status.RETRY,
            Status.FAILED,
            Status.SENT,  # found in Sent after a crash
            Status.SKIPPED,  # re-vetted after a crash: the thread moved on
        }
    ),
    Status.ACCEPTED: frozenset({Status.SENT}),
    Status.SENT: frozenset(),
    Status.DRY_RUN: frozenset(),
    Status.SKIPPED: frozenset(),
    Status.FAILED: frozenset(),
}

# The groups as plain strings: what the store's queries are given, exactly as before.
#: Rows a delivery pass still has work for.
ACTIVE: tuple[str, ...] = ("pending", "retry", "sending", "accepted")
#: Rows the SMTP server took.
SENT: tuple[str, ...] = ("accepted", "sent")
#: Rows that went (or may have gone) out: what the throttle and the recipient rule count.
COUNTED: tuple[str, ...] = ("sending", "accepted", "sent")

#: The first wait after a transient SMTP failure; it doubles with each attempt, up to
#: :data:`RETRY_MAX`.
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


class TransitionError(FollowupError):
    """A change of status the lifecycle does not allow (a bug, never a person's input)."""


def advance(current: str, to: Status) -> Status:
    """``to``, when a row in status ``current`` may move there; else raise
    :class:`TransitionError`."""
    try:
        allowed = to in TRANSITIONS[Status(current)]
    except ValueError:
        allowed = False  # a status this version does not know
    if not allowed:
        raise TransitionError(f"an outbox row cannot go from {current!r} to {str(to)!r}")
    return to


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its ``attempts``-th send failed for a transient reason."""
    return min(RETRY_MAX, RETRY_BASE * (1 << max(0, attempts - 1)))


def is_final(status: str) -> bool:
    """Whether a row in ``status`` is done with (nothing will change it again)."""
    return status in TRANSITIONS and not TRANSITIONS[Status(status)]
