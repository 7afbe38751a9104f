"""Thread state: is the last human word the client's, and since when has the client waited?

States:

- ``awaiting_team``: the last human message is a client's; ``waiting_since`` is the first
  client message after the team's last reply (a client's nudge does not reset the clock).
- ``awaiting_client``: the team spoke last (a reply that reached someone outside the team).
- ``handled``: marked done after the client's last message, or archived (the client's
  messages moved out of INBOX into the archive).
- ``ignored``: nothing but machine mail (bounces, lists, auto-replies, our own mail).

A team message whose recipients are all team addresses (an internal forward, "FW: client
mail") is not an answer to the client and does not stop the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from .model import Address, Message, Thread, Verdict
from .team import Team


class State(StrEnum):
    """The four states a thread can be in."""

    AWAITING_TEAM = "awaiting_team"
    AWAITING_CLIENT = "awaiting_client"
    HANDLED = "handled"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class History:
    """What happened to a thread outside its messages: sends done, commands applied."""

    sent: frozenset[str] = frozenset()
    done_at: datetime | None = None
    snoozed_until: datetime | None = None
    assigned_to: str | None = None
    #: The client's messages were moved out of INBOX into the archive (the team filed it).
    archived: bool = False


@dataclass(frozen=True, slots=True)
class ThreadState:
    """The state of one thread at the time of its newest message."""

    state: State
    waiting_since: datetime | None = None
    episode_start: Message | None = None
    last_client_message: Message | None = None
    client: Address | None = None
    last_team_reply: datetime | None = None
    human_count: int = 0
    machine_rules: tuple[str, ...] = field(default_factory=tuple)
    reason: str = ""


def _is_team_reply(msg: Message, team: Team) -> bool:
    recipients = msg.recipients
    return not recipients or any(a.email not in team for a in recipients)


def is_archived(thread: Thread, team: Team, places_of: Callable[[str], Iterable[str]]) -> bool:
    """The archive rule: True when the client's messages are no longer in INBOX but are in
    the archive, so the team filed the conversation (a reply from the client lands in INBOX
    again). ``places_of`` names the folder roles (``inbox``, ``archive``...) holding a
    Message-ID's copies."""
    places = {
        place
        for m in thread.messages
        if m.sender is not None and m.sender.email not in team
        for place in places_of(m.message_id)
    }
    return "archive" in places and "inbox" not in places


#: What one walk over a thread's messages found: waiting since, the message that started the
#: wait, the client's last message, the team's last reply, human messages, machine rules.
_Walk = tuple[datetime | None, Message | None, Message | None, datetime | None, int, list[str]]


def _walk(thread: Thread, team: Team, verdict_of: Callable[[Message], Verdict]) -> _Walk:
    # Locals, not attributes, in the loop: this runs once per message of the mailbox.
    waiting_since: datetime | None = None
    episode_start: Message | None = None
    last_client: Message | None = None
    last_team: datetime | None = None
    humans = 0
    rules: list[str] = []
    for msg in thread.messages:
        verdict = verdict_of(msg)
        if verdict.machine:
            rules.append(verdict.rule or "machine")
            continue
        humans += 1
        sender = msg.sender.email if msg.sender else ""
        if sender in team:
            if _is_team_reply(msg, team):
                last_team = msg.date
                waiting_since, episode_start = None, None
            continue
        last_client = msg
        if waiting_since is None:
            waiting_since, episode_start = msg.date, msg
    return waiting_since, episode_start, last_client, last_team, humans, rules


def thread_state(
    thread: Thread,
    team: Team,
    verdict_of: Callable[[Message], Verdict],
    history: History | None = None,
) -> ThreadState:
    """Decide the state of ``thread``; ``verdict_of`` tells machine mail from human mail."""
    history = history or History()
    waiting_since, episode_start, last_client, last_team, humans, rules = _walk(
        thread, team, verdict_of
    )
    if humans == 0:
        reason = f"only machine mail ({', '.join(sorted(set(rules)))})"
        return ThreadState(State.IGNORED, machine_rules=tuple(rules), reason=reason)
    base = ThreadState(
        State.AWAITING_CLIENT,
        last_client_message=last_client,
        client=last_client.sender if last_client else None,
        last_team_reply=last_team,
        human_count=humans,
        machine_rules=tuple(rules),
        reason="the team spoke last",
    )
    if waiting_since is None or last_client is None:
        return base
    if history.done_at is not None and history.done_at >= last_client.date:
        return replace(base, state=State.HANDLED, reason="marked done")
    if history.archived:
        return replace(base, state=State.HANDLED, reason="archived")
    return replace(
        base,
        state=State.AWAITING_TEAM,
        waiting_since=waiting_since,
        episode_start=episode_start,
        reason="the client spoke last",
    )
