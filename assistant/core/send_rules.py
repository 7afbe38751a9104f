"""Which planned mail may go out, asked again at the moment it would be sent, and which of the
ladder's actions become outbox rows: ordered tables of named rules (:mod:`.rules`).

The deliverer gathers the facts (the thread as it is now, counts from the store, a look at
the client's body) and calls :func:`.rules.vet` with a table; the first rule that fires names
the skip on the row, in the timeline and in the audit log. The tables, in order:

- :data:`ACK_THREAD_RULES`, :data:`ACK_RULES` — an acknowledgement;
- :data:`STEP_THREAD_RULES`, :data:`STEP_RULES` — a ladder step after it (reminder,
  escalations, client update), asked of the ladder again: the thread may have been answered,
  marked done, snoozed or given to someone else since the step was planned;
- :data:`PLAN_RULES` — an action of the ladder about to be written to the outbox.

The ``*_THREAD_RULES`` read the thread's state alone, so a thread done with costs no query.
The last facts of :class:`AckFacts` cost a query or an IMAP fetch each: the deliverer gathers
them one at a time, cheapest first, and vets again after each, so a costly fact is never
gathered (nor a loop pause recorded) for a mail an earlier rule already stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .clock import BusinessCalendar
from .ladder import Action, Case, Kind, Ladder, client_address, schedule, step_key
from .model import Address
from .rules import Outcome, Postpone, Skip, team_replied
from .state import History, State, ThreadState
from .team import Team

#: The state of a thread that no longer exists (merged away, deleted): it awaits nobody.
GONE = ThreadState(State.IGNORED, reason="the thread no longer exists")


def _in_team(team: Team, *addresses: Address | None) -> bool:
    """Whether any of ``addresses`` (the recipient, the From) is the team's own."""
    return any(a is not None and a.email in team for a in addresses)


# --- an acknowledgement ------------------------------------------------------------------


def no_ack_thread_not_waiting(state: ThreadState) -> Skip | None:
    """The thread no longer awaits the team (answered, done, archived, gone)."""
    if state.state is State.AWAITING_TEAM:
        return None
    return Skip("no-ack-thread-not-waiting", "the thread no longer awaits the team")


#: From the thread's state alone, before anything is read from the store.
ACK_THREAD_RULES: tuple[Callable[[ThreadState], Skip | None], ...] = (
    no_ack_thread_not_waiting,
    team_replied,  # ``no-ack-after-human-reply``, the ladder's own rule
)


@dataclass(frozen=True, slots=True)
class AckFacts:
    """What the send-time check of an acknowledgement reads. The last three are gathered
    only while the rules before them let the mail go; their defaults let it go."""

    kind: Kind
    #: Where the row was planned to go.
    recipient: str
    state: ThreadState
    team: Team
    #: The loop rule that stops mail to the recipient now (a pause in force, too many).
    loop: str | None = None
    #: The recipient had this kind of mail from us within the per-sender window.
    recently_sent: bool = False
    #: The rule the client's body matched (an out-of-office in plain words...).
    body: str | None = None


def no_ack_recipient_changed(facts: AckFacts) -> Skip | None:
    """The client's reply address is no longer the one the row was planned for."""
    client = client_address(facts.state, facts.kind)
    if client is not None and client.email == facts.recipient:
        return None
    return Skip("no-ack-recipient-changed", "the client's reply address changed")


def no_ack_to_team(facts: AckFacts) -> Skip | None:
    """The "client" is the team itself (its reply address or its From)."""
    client = client_address(facts.state, facts.kind)
    if not _in_team(facts.team, client, facts.state.client):
        return None
    return Skip("no-ack-to-team", "the client is a team address")


def loop_paused(facts: AckFacts) -> Skip | None:
    """Loop protection (:mod:`.loops`): the rule's own name goes on the row."""
    if facts.loop is None:
        return None
    return Skip(facts.loop, "automatic mail to this address is paused")


def ack_rate_per_sender(facts: AckFacts) -> Skip | None:
    """The client was acknowledged within the per-sender window already."""
    if not facts.recently_sent:
        return None
    return Skip("ack-rate-per-sender", "acknowledged within the per-sender window")


def second_look(facts: AckFacts) -> Skip | None:
    """The client's body says a robot wrote it (:mod:`.body_signs`): the rule's own name."""
    if facts.body is None:
        return None
    return Skip(facts.body, "the message body looks machine-made")


#: Then, in this order (the facts of the last three are gathered one by one).
ACK_RULES: tuple[Callable[[AckFacts], Skip | None], ...] = (
    no_ack_recipient_changed,
    no_ack_to_team,
    loop_paused,
    ack_rate_per_sender,
    second_look,
)


# --- a ladder step -----------------------------------------------------------------------


def ladder_thread_not_waiting(state: ThreadState) -> Skip | None:
    """The thread no longer awaits the team: no step of its ladder goes out."""
    if state.state is State.AWAITING_TEAM:
        return None
    return Skip("ladder-thread-not-waiting", "the thread no longer awaits the team")


STEP_THREAD_RULES: tuple[Callable[[ThreadState], Skip | None], ...] = (ladder_thread_not_waiting,)


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What the send-time check of a ladder step reads (built by :func:`step_facts`)."""

    kind: Kind
    state: ThreadState
    now: datetime
    team: Team
    snoozed_until: datetime | None
    #: The step still exists in the mailbox's configuration.
    configured: bool
    #: The row was planned for the thread's current waiting episode.
    current: bool
    #: The ladder's plan for this step now, else the named reason it has none.
    action: Action | None
    unplanned: str | None


def step_facts(
    row: tuple[Kind, str, str],
    case: Case,
    history: History,
    ladder: Ladder,
    calendar: BusinessCalendar,
    team: Team,
    now: datetime,
) -> StepFacts:
    """The facts of :data:`STEP_RULES` for a row of ``(kind, step name, key)``
    (``history`` without that row's own key): the ladder asked again, once."""
    kind, row_step, row_key = row
    step = next((s for s in ladder.steps if s.name == row_step), None)
    current = step is not None and step_key(case, step) == row_key
    actions, skips = schedule(case, history, ladder, calendar)
    action = next((a for a in actions if a.key == row_key), None)
    unplanned = next((s.rule for s in skips if s.step == row_step), None)
    return StepFacts(
        kind, case.state, now, team, history.snoozed_until, step is not None, current, action,
        unplanned,
    )  # fmt: skip


def snoozed(facts: StepFacts) -> Postpone | None:
    """Snoozed (by a reply command or the web page): the step waits for the snooze's end."""
    until = facts.snoozed_until
    if until is None or facts.now >= until:
        return None
    return Postpone("snoozed", until, "snoozed")


def ladder_step_removed(facts: StepFacts) -> Skip | None:
    """The mailbox's configuration no longer has this step."""
    return None if facts.configured else Skip("ladder-step-removed", "the step was removed")


def ladder_episode_over(facts: StepFacts) -> Skip | None:
    """Planned for a waiting episode that has ended (the team answered, the client wrote
    again: a fresh ladder has its own keys)."""
    if facts.current:
        return None
    return Skip("ladder-episode-over", "planned for a waiting episode that has ended")


def ladder_not_planned(facts: StepFacts) -> Skip | None:
    """The ladder no longer plans the step: its own named reason (history, no recipient...)."""
    if facts.action is not None:
        return None
    rule = facts.unplanned or "ladder-episode-over"
    return Skip(rule, "the ladder no longer plans this step")


def not_due_yet(facts: StepFacts) -> Postpone | None:
    """The step's deadline moved later (business hours, a holiday added): it waits."""
    if facts.action is None or facts.action.due <= facts.now:
        return None
    return Postpone("not-due-yet", facts.action.due, "not due yet")


def no_recipient(facts: StepFacts) -> Skip | None:
    """Nobody to send the step to (no owner, no backup, no lead)."""
    if facts.action is None or facts.action.recipient is not None:
        return None
    return Skip("no-recipient", f"nobody to send {facts.kind} to")


def no_update_to_team(facts: StepFacts) -> Skip | None:
    """``no-ack-to-team``: a client update to a "client" who is the team itself."""
    if facts.kind is not Kind.CLIENT_UPDATE:
        return None
    client = facts.state.client
    if client is not None and client.email not in facts.team:
        return None
    return Skip("no-ack-to-team", "the client is a team address")


STEP_RULES: tuple[Callable[[StepFacts], Outcome | None], ...] = (
    snoozed,
    ladder_step_removed,
    ladder_episode_over,
    ladder_not_planned,
    not_due_yet,
    no_recipient,
    no_update_to_team,
)


# --- planning: which of the ladder's actions become outbox rows ---------------------------


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """One action of the ladder, and whether its conversation was acknowledged before."""

    action: Action
    #: An acknowledgement was planned for one of the thread's messages, under any thread id
    #: (threads merge and re-root as mail arrives).
    acknowledged: bool


def plan_no_recipient(facts: PlanFacts) -> Skip | None:
    """Nobody to write to (an acknowledgement with no reply address)."""
    if facts.action.recipient is not None:
        return None
    return Skip("no-recipient", f"nobody to send {facts.action.kind} to")


def ack_once_per_conversation(facts: PlanFacts) -> Skip | None:
    """At most one acknowledgement per conversation, whatever its thread id."""
    if facts.action.kind is not Kind.ACKNOWLEDGE or not facts.acknowledged:
        return None
    return Skip("ack-once-per-conversation", "acknowledged before under another thread id")


PLAN_RULES: tuple[Callable[[PlanFacts], Skip | None], ...] = (
    plan_no_recipient,
    ack_once_per_conversation,
)
