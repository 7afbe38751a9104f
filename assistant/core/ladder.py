"""The escalation ladder: given a thread's state and ``now``, which automatic mails are due.

Steps (configurable per mailbox, defaults below):

- ``acknowledge`` the client after a short real-time grace period, unless a human of the team
  already replied in the thread, at most once per thread ever, and only for mail that arrived
  after the mailbox was connected (``acknowledge_since``); it promises a reply by the
  deadline of the first reminder step, computed on the same business clock;
- ``remind-owner`` after 4 business hours;
- ``escalate-backup`` after 1 business day (the owner's backup, else the lead);
- ``escalate-lead`` after 2 business days;
- ``client-update`` after 3 business days ("still on it").

Business-time steps are measured from ``waiting_since`` and keyed by the waiting episode, so a
client writing again after the team answered starts a fresh ladder; the acknowledgement is
keyed by the thread alone. :func:`decide` returns what is due and not yet done, each action
carrying the name of its rule and a deterministic idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .authenticity import Trust, dmarc_failed, reply_address
from .clock import BusinessCalendar
from .durations import Duration
from .mail_kinds import MailKind, spec
from .model import Address
from .outbox import idempotency_key
from .ownership import Person
from .rules import is_history, team_replied
from .state import History, State, ThreadState


class Kind(StrEnum):
    """What an action does: the registry's ladder kinds (:data:`.mail_kinds.LADDER`, same
    values; a separate enum so a configured step cannot name a digest)."""

    ACKNOWLEDGE = MailKind.ACKNOWLEDGE.value
    REMIND_OWNER = MailKind.REMIND_OWNER.value
    ESCALATE_BACKUP = MailKind.ESCALATE_BACKUP.value
    ESCALATE_LEAD = MailKind.ESCALATE_LEAD.value
    CLIENT_UPDATE = MailKind.CLIENT_UPDATE.value


#: The ladder's mail to the client (the rest goes to the team), as the registry says.
_TO_CLIENT = frozenset(kind for kind in Kind if spec(kind).to_client)


@dataclass(frozen=True, slots=True)
class Step:
    """One rung: ``after`` is real time for the acknowledgement, business time otherwise."""

    name: str
    kind: Kind
    after: Duration


DEFAULT_STEPS: tuple[Step, ...] = (
    Step("acknowledge", Kind.ACKNOWLEDGE, Duration(rest=timedelta(minutes=2))),
    Step("remind-owner", Kind.REMIND_OWNER, Duration(rest=timedelta(hours=4))),
    Step("escalate-backup", Kind.ESCALATE_BACKUP, Duration(days=1)),
    Step("escalate-lead", Kind.ESCALATE_LEAD, Duration(days=2)),
    Step("client-update", Kind.CLIENT_UPDATE, Duration(days=3)),
)


@dataclass(frozen=True, slots=True)
class Ladder:
    """A mailbox's steps and acknowledgement cut-off."""

    steps: tuple[Step, ...] = DEFAULT_STEPS
    acknowledge_since: datetime | None = None
    #: Whose Authentication-Results to believe (a DMARC failure gets no acknowledgement).
    trust: Trust = field(default_factory=Trust)


@dataclass(frozen=True, slots=True)
class Case:
    """Everything about one thread that the ladder reads."""

    mailbox: str
    thread_id: str
    state: ThreadState
    owner: str | None = None
    lead: str | None = None
    people: dict[str, Person] = field(default_factory=dict)
    #: Whether the client's message arrived after the mailbox was connected, as the store
    #: knows it (UID and INTERNALDATE); None falls back to ``Ladder.acknowledge_since``.
    ack_eligible: bool | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """An automatic mail to send: due time, recipient, idempotency key, and the rule's name."""

    rule: str
    kind: Kind
    due: datetime
    key: str
    thread_id: str
    recipient: str | None
    promised_by: datetime | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """A step that will not run for this thread, and why (also a named rule)."""

    rule: str
    step: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Due actions, skipped steps, and the next step still to come (for display)."""

    actions: tuple[Action, ...] = ()
    skipped: tuple[Skip, ...] = ()
    upcoming: Action | None = None


def _episode(state: ThreadState) -> str:
    start = state.episode_start
    return start.message_id if start is not None else ""


def client_address(state: ThreadState, kind: Kind) -> Address | None:
    """Where a mail to the client goes: the answered message's reply address (the episode's
    first message for an acknowledgement, the client's latest for an update)."""
    about = state.episode_start
    if kind is Kind.CLIENT_UPDATE:
        about = state.last_client_message or about
    return reply_address(about) if about is not None else state.client


def _recipient(case: Case, kind: Kind) -> str | None:
    if kind in _TO_CLIENT:
        client = client_address(case.state, kind)
        return client.email if client else None
    return _team_recipient(case, kind)


def _team_recipient(case: Case, kind: Kind) -> str | None:
    """Who on the team a reminder or an escalation goes to."""
    owner = case.people.get(case.owner or "")
    if kind is Kind.REMIND_OWNER:
        if owner is not None and owner.away and owner.backup:
            return owner.backup  # the backup takes over while the owner is away
        return case.owner
    if kind is Kind.ESCALATE_BACKUP:
        return (owner.backup if owner else None) or case.lead
    return case.lead


def promised_reply(
    state: ThreadState, ladder: Ladder, calendar: BusinessCalendar
) -> datetime | None:
    """The reply time an acknowledgement promises: the first reminder's deadline."""
    if state.waiting_since is None:
        return None
    for step in ladder.steps:
        if step.kind is not Kind.ACKNOWLEDGE:
            return calendar.add(state.waiting_since, step.after.business(calendar.day_length))
    return None


def _is_history(case: Case, ladder: Ladder) -> bool:
    """History, not new mail (:func:`.rules.is_history`, the one place that decides)."""
    return is_history(case.state, case.ack_eligible, ladder.acknowledge_since)


def _ack(case: Case, step: Step, history: History, ladder: Ladder) -> Action | Skip:
    state = case.state
    first = state.episode_start
    assert first is not None and state.waiting_since is not None
    key = step_key(case, step)
    if key in history.sent:
        return Skip("ack-once-per-thread", step.name, "already acknowledged")
    replied = team_replied(state)  # decided there once, for planning and sending alike
    if replied is not None:
        return Skip(replied.rule, step.name, replied.reason)
    if _is_history(case, ladder):
        return Skip("no-ack-for-history", step.name, "arrived before the mailbox was connected")
    if dmarc_failed(first, ladder.trust):
        # Answering would send our mail to whoever the forger named in From.
        return Skip("no-ack-dmarc-fail", step.name, "the mailbox's server says DMARC failed")
    due = state.waiting_since + step.after.real()
    return Action(step.name, step.kind, due, key, case.thread_id, _recipient(case, step.kind))


def step_key(case: Case, step: Step) -> str:
    """The idempotency key of ``step`` for the thread's current waiting episode (the
    acknowledgement's is per thread: once ever)."""
    if step.kind is Kind.ACKNOWLEDGE:
        return idempotency_key(case.mailbox, case.thread_id, step.name)
    return idempotency_key(case.mailbox, case.thread_id, step.name, _episode(case.state))


def schedule(
    case: Case, history: History, ladder: Ladder, calendar: BusinessCalendar
) -> tuple[list[Action], list[Skip]]:
    """Every step still to do for one thread, with its due time (past or future)."""
    state = case.state
    if state.state is not State.AWAITING_TEAM or state.waiting_since is None:
        return [], []
    # Each business-time step's deadline, computed once (the first one is also what the
    # acknowledgement promises).
    timed = [step for step in ladder.steps if step.kind is not Kind.ACKNOWLEDGE]
    spans = [step.after.business(calendar.day_length) for step in timed]
    deadlines = dict(
        zip((s.name for s in timed), calendar.add_all(state.waiting_since, spans), strict=True)
    )
    promise = next(iter(deadlines.values()), None)
    actions: list[Action] = []
    skipped: list[Skip] = []
    for step in ladder.steps:
        result: Action | Skip
        if step.kind is Kind.ACKNOWLEDGE:
            result = _ack(case, step, history, ladder)
            if isinstance(result, Action):
                result = replace(result, promised_by=promise)
        else:
            result = _timed(case, step, history, ladder, deadlines[step.name])
        if isinstance(result, Skip):
            skipped.append(result)
        else:
            actions.append(result)
    return actions, skipped


def _timed(
    case: Case, step: Step, history: History, ladder: Ladder, when: datetime
) -> Action | Skip:
    """A business-time step due at ``when``, or why it will not run."""
    key = step_key(case, step)
    recipient = _recipient(case, step.kind)
    if key in history.sent:
        return Skip("step-once-per-episode", step.name, "already done")
    if step.kind is Kind.CLIENT_UPDATE and _is_history(case, ladder):
        # Followup never writes first to a client who wrote before it was connected.
        return Skip("no-client-mail-for-history", step.name, "history, not new mail")
    if recipient is None:
        return Skip("no-recipient", step.name, f"nobody to send {step.kind} to")
    return Action(step.name, step.kind, when, key, case.thread_id, recipient)


def decide(
    case: Case,
    now: datetime,
    history: History,
    ladder: Ladder,
    calendar: BusinessCalendar,
) -> Decision:
    """The actions due at ``now`` for one thread (empty unless it awaits the team)."""
    snoozed = history.snoozed_until is not None and now < history.snoozed_until
    if snoozed and case.state.state is State.AWAITING_TEAM:
        return Decision(skipped=(Skip("snoozed", "*", f"snoozed until {history.snoozed_until}"),))
    actions, skipped = schedule(case, history, ladder, calendar)
    due = tuple(a for a in actions if a.due <= now)
    later = [a for a in actions if a.due > now]
    upcoming = min(later, key=lambda a: a.due) if later else None
    return Decision(due, tuple(skipped), upcoming)
