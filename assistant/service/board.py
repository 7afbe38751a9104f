"""The board of waiting threads (the web page's front page): every thread awaiting the team,
how long it has waited in business hours, the reply the ladder promised and whether that is
overdue, the next planned mail, and who owns it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..core.digest import business_hours
from ..core.evaluate import MailboxPolicy
from ..core.ladder import promised_reply
from ..core.ownership import Person
from ..core.state import State, ThreadState
from ..runtime import Runtime
from ..store.models import Mailbox, OutboxItem, ThreadRecord
from .people import everyone


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One waiting thread on the board."""

    mailbox: str
    record: ThreadRecord
    #: Business time waited, e.g. ``5h 30m``.
    waiting: str
    deadline: datetime | None
    overdue: bool
    #: The ladder step of the next pending mail ("" when none is planned).
    step: str
    #: The owner's name when Followup knows the person, else the address (or None).
    owner: str | None


@dataclass(frozen=True, slots=True)
class Board:
    """The rows (oldest wait first, mailbox by mailbox), every mailbox, the owners shown."""

    rows: list[BoardRow]
    boxes: list[Mailbox]
    owners: list[str]


async def board(runtime: Runtime, mailbox: str | None = None, owner: str | None = None) -> Board:
    """The threads awaiting the team now, of ``mailbox`` and ``owner`` when given."""
    now = runtime.clock.now()
    people = await everyone(runtime.config)
    boxes = await Mailbox.all().order_by("name")
    rows: list[BoardRow] = []
    for box in boxes:
        if not mailbox or box.name == mailbox:
            rows += await _rows(box, runtime.policy(box, people), people, owner, now)
    owners = sorted({str(row.record.owner) for row in rows if row.record.owner})
    return Board(rows, boxes, owners)


async def _rows(
    box: Mailbox,
    policy: MailboxPolicy,
    people: Mapping[str, Person],
    owner: str | None,
    now: datetime,
) -> list[BoardRow]:
    query = ThreadRecord.filter(mailbox=box, state=str(State.AWAITING_TEAM))
    if owner:
        query = query.filter(owner=owner)
    records = [r for r in await query.order_by("waiting_since") if r.waiting_since is not None]
    steps = await _next_steps(box) if records else {}
    return [_row(box, r, policy, people, steps.get(r.thread_id, ""), now) for r in records]


async def _next_steps(box: Mailbox) -> dict[str, str]:
    """Each thread's next planned step: the rule of its pending mail due first (one query
    for the mailbox, not one per thread)."""
    pending = (
        await OutboxItem.filter(mailbox=box, status="pending")
        .order_by("due_at", "id")
        .values_list("thread_id", "rule")
    )
    steps: dict[str, str] = {}
    for thread_id, rule in pending:
        steps.setdefault(str(thread_id), str(rule))
    return steps


def _row(
    box: Mailbox,
    record: ThreadRecord,
    policy: MailboxPolicy,
    people: Mapping[str, Person],
    step: str,
    now: datetime,
) -> BoardRow:
    since = record.waiting_since
    assert since is not None
    state = ThreadState(State.AWAITING_TEAM, waiting_since=since)
    deadline = promised_reply(state, policy.ladder, policy.calendar)
    person = people.get(record.owner) if record.owner else None
    return BoardRow(
        mailbox=box.name,
        record=record,
        waiting=business_hours(policy.calendar.elapsed(since, now)),
        deadline=deadline,
        overdue=deadline is not None and deadline < now,
        step=step,
        owner=person.label if person else record.owner,
    )
