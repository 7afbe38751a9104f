"""The whole core over one mailbox: classify, thread, state, owner, ladder. Pure.

This is what ``followup replay`` runs over a file. The service runs the same per-thread
evaluation, :func:`evaluate_thread`, over the store, so a replay and the service agree on
every thread's state and owner; the service also hands in what the thread's record held
before (:class:`Prior`), which a replay, starting from nothing, does not have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import BusinessCalendar
from .ladder import Case, Decision, Ladder, decide
from .machine import storing_verdict
from .model import Message, Thread, Verdict
from .ownership import Assignment, OwnershipRules, Person, assign_owner
from .state import History, State, ThreadState, thread_state
from .team import Team
from .threading import thread_messages


@dataclass(frozen=True)
class MailboxPolicy:
    """Everything the rules need to know about one mailbox."""

    name: str
    address: str
    team: Team
    calendar: BusinessCalendar
    ladder: Ladder = field(default_factory=Ladder)
    ownership: OwnershipRules = field(default_factory=OwnershipRules)
    people: Mapping[str, Person] = field(default_factory=dict)

    @property
    def lead(self) -> str | None:
        """The first person marked as lead."""
        return next((p.email for p in self.people.values() if p.lead), None)


@dataclass(frozen=True, slots=True)
class Prior:
    """What a thread's stored record said before this change (the service keeps records)."""

    state: str
    waiting_since: datetime | None = None
    owner: str | None = None
    owner_rule: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One line an evaluation adds to the thread's timeline, named by its rule."""

    at: datetime
    kind: str
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class ThreadEvaluation:
    """One thread's state and owner, decided from its messages and history."""

    state: ThreadState
    owner: str | None
    owner_rule: str | None
    #: The round-robin position for the next thread.
    rotation_next: int
    #: The assignment made now (a new wait), None when the owner was kept or none is due.
    chosen: Assignment | None = None
    #: Whether the state differs from the one the record held (always, without a record).
    state_changed: bool = True
    #: When a wait ended with the team's reply: the reply's time and the business seconds
    #: the client waited for it.
    first_response: tuple[datetime, int] | None = None

    def events(self, thread: Thread) -> tuple[Event, ...]:
        """The timeline lines this evaluation adds to ``thread``'s: the owner chosen for a
        new wait, and the state when it changed (built on demand: a replay needs none)."""
        state = self.state
        moved = (
            (Event(thread.last_date, "state", str(state.state), state.reason),)
            if self.state_changed
            else ()
        )
        chosen = self.chosen
        if chosen is None:
            return moved
        when = state.waiting_since or thread.last_date
        return (Event(when, "owner", chosen.rule, chosen.owner or "nobody"), *moved)


def keeps_owner(prior: Prior | None, state: ThreadState) -> bool:
    """True when the thread waits in the same episode as before and had an owner: the owner
    is fixed when the thread starts waiting, whatever the rules say later."""
    if prior is None or not prior.owner or state.state is not State.AWAITING_TEAM:
        return False
    return prior.state == State.AWAITING_TEAM and prior.waiting_since == state.waiting_since


def first_response(
    state: ThreadState, prior: Prior | None, calendar: BusinessCalendar
) -> tuple[datetime, int] | None:
    """The team's reply that ended a wait, and the business seconds the client waited."""
    if prior is None or prior.state != State.AWAITING_TEAM or prior.waiting_since is None:
        return None
    if state.state is not State.AWAITING_CLIENT or state.last_team_reply is None:
        return None
    spent = calendar.elapsed(prior.waiting_since, state.last_team_reply)
    return state.last_team_reply, int(spent.total_seconds())


def evaluate_thread(
    thread: Thread,
    policy: MailboxPolicy,
    verdict_of: Callable[[Message], Verdict],
    history: History,
    rotation: int,
    prior: Prior | None = None,
) -> ThreadEvaluation:
    """State and owner of ``thread`` (its messages classified by ``verdict_of``).

    Only a thread awaiting the team has an owner. A new wait gets one by the ownership rules
    (an explicit assignment wins), moving the round-robin ``rotation`` on; the same wait
    keeps the owner ``prior`` names.
    """
    state = thread_state(thread, policy.team, verdict_of, history)
    owner = rule = None
    chosen: Assignment | None = None
    if prior is not None and keeps_owner(prior, state):
        owner, rule = prior.owner, prior.owner_rule
    elif state.state is State.AWAITING_TEAM:
        chosen = assign_owner(
            state.client,
            thread.subject,
            policy.ownership,
            policy.people,
            history.assigned_to,
            rotation,
        )
        owner, rule, rotation = chosen.owner, chosen.rule, chosen.rotation_next
    if prior is None:  # nothing before: no wait ended, the state is new (the replay's case)
        return ThreadEvaluation(state, owner, rule, rotation, chosen)
    return ThreadEvaluation(
        state,
        owner,
        rule,
        rotation,
        chosen,
        prior.state != state.state,
        first_response(state, prior, policy.calendar),
    )


@dataclass(frozen=True, slots=True)
class ThreadReport:
    """One thread with everything decided about it at ``now``."""

    thread: Thread
    state: ThreadState
    assignment: Assignment
    decision: Decision
    waiting_business: timedelta | None
    verdicts: dict[str, Verdict]


def _classify_all(
    messages: Iterable[Message], known: Mapping[str, Verdict]
) -> tuple[list[Message], dict[str, Verdict]]:
    verdicts: dict[str, Verdict] = {}
    kept: list[Message] = []
    for msg in messages:
        verdicts[msg.message_id] = known.get(msg.message_id) or storing_verdict(msg)
        kept.append(msg)
    return kept, verdicts


_NO_HISTORY = History()


def evaluate(
    messages: Iterable[Message],
    policy: MailboxPolicy,
    now: datetime,
    histories: Mapping[str, History] | None = None,
    verdicts: Mapping[str, Verdict] | None = None,
) -> list[ThreadReport]:
    """Run every rule over ``messages`` and report each thread at ``now``.

    ``verdicts`` (by Message-ID) skips classifying messages already classified elsewhere.
    """
    histories = histories or {}
    kept, found = _classify_all(messages, verdicts or {})
    threads = thread_messages(
        kept, shared=policy.team.__contains__, eligible=lambda m: found[m.message_id].human
    )

    def verdict_of(msg: Message) -> Verdict:
        return found[msg.message_id]

    people, lead, calendar = dict(policy.people), policy.lead, policy.calendar
    rotation = 0
    reports: list[ThreadReport] = []
    for thread in threads:
        history = histories.get(thread.id, _NO_HISTORY)
        evaluation = evaluate_thread(thread, policy, verdict_of, history, rotation)
        rotation, state = evaluation.rotation_next, evaluation.state
        assignment = evaluation.chosen or Assignment(None, "not-waiting", rotation)
        case = Case(policy.name, thread.id, state, evaluation.owner, lead, people)
        decision = decide(case, now, history, policy.ladder, calendar)
        waiting = calendar.elapsed(state.waiting_since, now) if state.waiting_since else None
        thread_verdicts = {m.message_id: found[m.message_id] for m in thread.messages}
        reports.append(ThreadReport(thread, state, assignment, decision, waiting, thread_verdicts))
    return reports
