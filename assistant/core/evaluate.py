"""The whole core over one mailbox: classify, thread, state, owner, ladder. Pure.

This is what ``followup replay`` runs over a file, and what the service runs over the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import BusinessCalendar
from .ladder import Case, Decision, Ladder, decide
from .machine import classify
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
class ThreadReport:
    """One thread with everything decided about it at ``now``."""

    thread: Thread
    state: ThreadState
    assignment: Assignment
    decision: Decision
    waiting_business: timedelta | None
    verdicts: dict[str, Verdict]


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
    known = verdicts or {}
    verdicts = {}
    kept: list[Message] = []
    for msg in messages:
        verdicts[msg.message_id] = known.get(msg.message_id) or classify(msg)
        kept.append(msg)
    threads = thread_messages(
        kept,
        shared=policy.team.__contains__,
        eligible=lambda m: verdicts[m.message_id].human,
    )

    def verdict_of(msg: Message) -> Verdict:
        return verdicts[msg.message_id]

    people = dict(policy.people)
    lead = policy.lead
    rotation = 0
    reports: list[ThreadReport] = []
    for thread in threads:
        history = histories.get(thread.id, History())
        state = thread_state(thread, policy.team, verdict_of, history)
        if state.state in (State.AWAITING_TEAM, State.HANDLED):
            assignment = assign_owner(
                state.client,
                thread.subject,
                policy.ownership,
                people,
                history.assigned_to,
                rotation,
            )
            rotation = assignment.rotation_next
        else:
            assignment = Assignment(None, "not-waiting", rotation)
        case = Case(policy.name, thread.id, state, assignment.owner, lead, people)
        decision = decide(case, now, history, policy.ladder, policy.calendar)
        waiting = policy.calendar.elapsed(state.waiting_since, now) if state.waiting_since else None
        thread_verdicts = {m.message_id: verdicts[m.message_id] for m in thread.messages}
        reports.append(ThreadReport(thread, state, assignment, decision, waiting, thread_verdicts))
    return reports
