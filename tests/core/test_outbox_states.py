"""The outbox lifecycle: one enum with the stored strings, one transition table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.core.errors import FollowupError
from assistant.core.outbox_states import (
    ACTIVE,
    COUNTED,
    SENT,
    TRANSITIONS,
    Status,
    TransitionError,
    advance,
    is_final,
    retry_delay,
)

#: What the database has always stored (no migration).
STORED = {"pending", "retry", "sending", "accepted", "sent", "dry_run", "skipped", "failed"}

#: Every change the deliverer makes, as the delivery docstring tells it.
LEGAL = [
    ("pending", Status.SENDING),  # claimed
    ("retry", Status.SENDING),
    ("sending", Status.SENDING),  # re-taken after a crash, once the lease ran out
    ("sending", Status.ACCEPTED),  # SMTP 250
    ("accepted", Status.SENT),  # Sent copy settled
    ("sending", Status.SENT),  # found in Sent after a crash
    ("sending", Status.RETRY),  # 4xx
    ("sending", Status.FAILED),  # 5xx, or the row raised
    ("pending", Status.SKIPPED),
    ("retry", Status.SKIPPED),
    ("sending", Status.SKIPPED),  # re-vetted after a crash
    ("pending", Status.DRY_RUN),
    ("retry", Status.DRY_RUN),
    ("pending", Status.FAILED),  # a row that raised before it was claimed
    ("retry", Status.FAILED),
]


def test_the_values_are_the_stored_strings() -> None:
    assert {str(s) for s in Status} == STORED
    assert set(TRANSITIONS) == set(Status)
    assert set(ACTIVE) | {"sent", "dry_run", "skipped", "failed"} == STORED
    assert set(SENT) < set(COUNTED) < set(ACTIVE) | {"sent"}
    # The groups are plain strings, as the store's queries were always given.
    assert all(type(s) is str for s in (*ACTIVE, *SENT, *COUNTED))


@pytest.mark.parametrize(("current", "to"), LEGAL)
def test_legal_changes(current: str, to: Status) -> None:
    assert advance(current, to) is to


def test_every_other_change_is_refused() -> None:
    legal = set(LEGAL)
    for current in STORED:
        for to in Status:
            if (current, to) in legal:
                continue
            with pytest.raises(TransitionError, match=f"from '{current}' to '{to}'"):
                advance(current, to)


def test_an_accepted_row_never_goes_back_to_smtp() -> None:
    for to in (Status.SENDING, Status.RETRY, Status.PENDING, Status.FAILED):
        with pytest.raises(TransitionError):
            advance("accepted", to)


def test_final_statuses_and_unknown_ones() -> None:
    assert {s for s in STORED if is_final(s)} == {"sent", "dry_run", "skipped", "failed"}
    assert not is_final("bogus")
    with pytest.raises(TransitionError):
        advance("bogus", Status.SENT)
    assert issubclass(TransitionError, FollowupError)


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (0, 1, 2, 3)] == [
        timedelta(seconds=30),
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
    ]
    assert retry_delay(9) == retry_delay(20) == timedelta(hours=1)
