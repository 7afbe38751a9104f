"""Named rules, in the shape of GNU Mailman's chains: every automatic decision is a small
function with a name, tried in order in a table; the first that says no wins, and its name
goes to the thread's timeline and the audit log.

This module holds the vocabulary (:class:`Skip`, :class:`Postpone`, :func:`vet`) and the
thread rules that both the ladder (when it plans, :mod:`.ladder`) and delivery (when a mail
would go out, :mod:`.send_rules`) apply, so each is decided in one place only: the team
already replied (:func:`team_replied`), and history rather than new mail (:func:`is_history`,
fed by :func:`new_mail`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from .cutoff import is_new_mail
from .model import Message
from .state import ThreadState

F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Skip:
    """A mail that will not go: the rule that said no, and why (for people)."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Postpone:
    """A mail that may go later, not now: it waits until ``until`` (still pending)."""

    rule: str
    until: datetime
    reason: str


Outcome = Skip | Postpone


def vet(facts: F, rules: Iterable[Callable[[F], Outcome | None]]) -> Outcome | None:
    """The first rule of ``rules`` that stops the mail ``facts`` describe; None: it may go."""
    for rule in rules:
        found = rule(facts)
        if found is not None:
            return found
    return None


def team_replied(state: ThreadState) -> Skip | None:
    """``no-ack-after-human-reply``: a human of the team already wrote in the thread, so the
    client has had an answer; an acknowledgement would come after it."""
    if state.last_team_reply is None:
        return None
    return Skip("no-ack-after-human-reply", "the team already replied in this thread")


@dataclass(frozen=True, slots=True)
class Copy:
    """One stored copy of a message in INBOX, as the server filed it."""

    message_id: str
    uid: int
    internaldate: datetime | None


def new_mail(
    start: Message | None,
    inbox_copies: Iterable[Copy],
    first_uid: int | None,
    connected_at: datetime,
) -> bool:
    """Whether the episode's first message reached INBOX after the mailbox was connected:
    one of its INBOX copies has a UID at or above ``first_uid`` (the INBOX's UIDNEXT when
    connected) and a recent INTERNALDATE (:func:`.cutoff.is_new_mail`), never its Date."""
    if start is None:
        return False
    return any(
        is_new_mail(c.uid, c.internaldate, first_uid, connected_at)
        for c in inbox_copies
        if c.message_id == start.message_id
    )


def is_history(state: ThreadState, new: bool | None, since: datetime | None) -> bool:
    """Whether the waiting episode began before the mailbox was connected: the store's
    verdict ``new`` (:func:`new_mail`) where known, else the first message's Date against
    the ladder's ``acknowledge_since`` (a replay has no store)."""
    if new is not None:
        return not new
    first = state.episode_start
    return since is not None and first is not None and first.date < since
