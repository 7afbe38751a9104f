"""The guards at send time: gather the facts the rule tables of
:mod:`assistant.core.send_rules` read (the thread as it is now, counts from the store, a look
at the client's body) and vet a due row with them. The rules decide; this module only reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from ..core.durations import parse_duration
from ..core.evaluate import MailboxPolicy
from ..core.ladder import Kind
from ..core.loops import LoopLimits
from ..core.mail_kinds import LATER_STEPS
from ..core.outbox_states import COUNTED, Status
from ..core.rules import Outcome, vet
from ..core.send_rules import (
    ACK_RULES,
    ACK_THREAD_RULES,
    GONE,
    STEP_RULES,
    STEP_THREAD_RULES,
    AckFacts,
    step_facts,
)
from ..mail.imap import ImapSession
from ..store.models import Mailbox, OutboxItem, StoredMessage, ThreadRecord
from .body_look import second_look
from .loops import loop_rule
from .outbox import thread_case, thread_history
from .thread_rows import LoadedThread

#: Ladder steps after the acknowledgement: re-decided by the core at send time.
LADDER_KINDS = LATER_STEPS

#: Gathers one costly fact of an acknowledgement's check.
Gather = Callable[[OutboxItem, LoadedThread, AckFacts, datetime], Awaitable[AckFacts]]


class Guards:
    """Vets one mailbox's due rows for a delivery pass (``session``: the pass's IMAP
    session, opened only if a body must be looked at)."""

    def __init__(
        self,
        mailbox: Mailbox,
        policy: MailboxPolicy,
        limits: LoopLimits,
        per_sender_window: str,
        session: Callable[[], Awaitable[ImapSession]],
    ) -> None:
        self.mailbox, self.policy, self.limits = mailbox, policy, limits
        self.per_sender_window = per_sender_window
        self._session = session

    async def check(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime
    ) -> Outcome | None:
        """The rule that stops (or postpones) ``row`` now, its thread being ``loaded``."""
        if row.kind in LADDER_KINDS:
            return await self.ladder_step(row, loaded, now)
        return await self.acknowledgement(row, loaded, now)

    async def ladder_step(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime
    ) -> Outcome | None:
        """Ask the core again at send time (:data:`STEP_RULES`): the thread may have been
        answered, marked done, snoozed or given to someone else since the step was planned.
        On a go, the step goes to whoever the ladder names now (owner, backup, lead)."""
        outcome = vet(loaded.state if loaded is not None else GONE, STEP_THREAD_RULES)
        if outcome is not None or loaded is None:
            return outcome
        record = await ThreadRecord.get_or_none(mailbox=self.mailbox, thread_id=row.thread_id)
        history = await thread_history(self.mailbox, row.thread_id, record, exclude=row.key)
        case = await thread_case(self.mailbox, loaded, self.policy, record)
        policy, row_step = self.policy, (Kind(row.kind), row.rule, row.key)
        facts = step_facts(
            row_step, case, history, policy.ladder, policy.calendar, policy.team, now
        )
        outcome = vet(facts, STEP_RULES)
        if outcome is None and facts.action is not None and facts.action.recipient is not None:
            row.recipient = facts.action.recipient
        return outcome

    async def acknowledgement(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime
    ) -> Outcome | None:
        """An acknowledgement's rules (:data:`ACK_THREAD_RULES`, :data:`ACK_RULES`); each
        costly fact is gathered only while the rules before it let the mail go."""
        outcome = vet(loaded.state if loaded is not None else GONE, ACK_THREAD_RULES)
        if outcome is not None or loaded is None:
            return outcome
        facts = AckFacts(Kind(row.kind), row.recipient, loaded.state, self.policy.team)
        gatherers: tuple[Gather, ...] = (self._loop, self._rate, self._body)
        for gather in gatherers:
            outcome = vet(facts, ACK_RULES)
            if outcome is not None:
                return outcome
            facts = await gather(row, loaded, facts, now)
        return vet(facts, ACK_RULES)

    async def _loop(
        self, row: OutboxItem, loaded: LoadedThread, facts: AckFacts, now: datetime
    ) -> AckFacts:
        """The loop rule in force for the recipient (too many mails to it pauses it)."""
        return replace(facts, loop=await loop_rule(self.mailbox, row.recipient, now, self.limits))

    async def _rate(
        self, row: OutboxItem, loaded: LoadedThread, facts: AckFacts, now: datetime
    ) -> AckFacts:
        """Whether the sender had this kind of mail from us within the per-sender window."""
        window = parse_duration(self.per_sender_window).real()
        earlier = OutboxItem.filter(
            mailbox=self.mailbox,
            recipient=row.recipient,
            kind=row.kind,
            status__in=(*COUNTED, str(Status.DRY_RUN)),
            due_at__gte=now - window,  # the store's times, never the wall clock's
        ).exclude(id=row.id)
        return replace(facts, recently_sent=await earlier.exists())

    async def _body(
        self, row: OutboxItem, loaded: LoadedThread, facts: AckFacts, now: datetime
    ) -> AckFacts:
        """Last, and only for what would go out now: a look at the client's body."""
        verdict = await second_look(self._session, _client_row(loaded))
        return replace(facts, body=verdict.rule if verdict is not None else None)


def _client_row(loaded: LoadedThread) -> StoredMessage | None:
    """The stored row of the client message the acknowledgement answers."""
    last = loaded.state.last_client_message
    if last is None:
        return None
    return next((r for r in loaded.rows if r.message_id == last.message_id), None)
