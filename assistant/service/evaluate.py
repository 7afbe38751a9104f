"""Re-evaluate the threads a sync touched, and store their state.

Incremental: only the threads that share a Message-ID, a reference or a (non-generic)
subject with the changed messages are loaded and re-threaded, so a new message costs its
thread, not the mailbox. A large change (a first sync) re-threads the whole mailbox, one
group of linked messages at a time (:mod:`assistant.core.components`): the same threads as
one pass over everything, in memory bounded by the group. (Round-robin owners are then dealt
group by group, so which thread gets whom differs from one pass; each still gets one.)

Every decision is the core's: :func:`assistant.core.evaluate.evaluate_thread` (state, owner,
timeline lines, first response) and the archive rule, the same a replay runs. This module
reads the rows (:mod:`.thread_rows`), hands each thread its record's earlier values, and
writes the results in one transaction per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from tortoise.transactions import in_transaction

from ..core.components import LinkGroups
from ..core.evaluate import MailboxPolicy, Prior, ThreadEvaluation, evaluate_thread
from ..core.model import Message, Thread, Verdict
from ..core.state import History, State
from ..core.threading import thread_messages
from ..store.bulk import execute_many, insert_rows, select_rows
from ..store.models import (
    Mailbox,
    StoredMessage,
    ThreadEvent,
    ThreadRecord,
)
from ..store.records import to_message
from .thread_rows import (
    CHUNK,
    Loaded,
    LoadedThread,
    archived,
    chunks,
    existing_records,
    folder_roles,
    load_group,
    related,
    stored_verdict,
)

#: Above this many changed messages, re-thread the whole mailbox in one pass.
FULL_PASS = 2000


_RECORD_FIELDS = (
    "subject",
    "state",
    "reason",
    "waiting_since",
    "client",
    "last_message_at",
    "message_count",
    "owner",
    "owner_rule",
    "assigned_to",
    "done_at",
    "snoozed_until",
    "answered_at",
    "first_response_s",
)


#: What a re-evaluation writes to an existing record: its values and the planning mark.
_WRITTEN_FIELDS = [*_RECORD_FIELDS, "revision", "unplanned", "updated_at"]


_CARRIED = ("assigned_to", "done_at", "snoozed_until", "answered_at", "first_response_s")


def _prior(before: SimpleNamespace | None) -> Prior | None:
    if before is None:
        return None
    return Prior(before.state, before.waiting_since, before.owner, before.owner_rule)


def _record_values(
    thread: Thread, before: SimpleNamespace | None, evaluation: ThreadEvaluation
) -> dict[str, object]:
    """The thread record's new values: the evaluation's, and what the record carries on."""
    carried = {name: getattr(before, name) for name in _CARRIED} if before else {}
    if evaluation.first_response is not None:
        carried["answered_at"], carried["first_response_s"] = evaluation.first_response
    state = evaluation.state
    return {
        "subject": thread.subject,
        "state": str(state.state),
        "reason": state.reason,
        "waiting_since": state.waiting_since,
        "client": state.client.email if state.client else None,
        "last_message_at": thread.last_date,
        "message_count": len(thread.messages),
        "owner": evaluation.owner,
        "owner_rule": evaluation.owner_rule,
        **carried,
    }


def _event_rows(thread: Thread, evaluation: ThreadEvaluation) -> list[dict[str, object]]:
    return [
        {"thread_id": thread.id, "at": e.at, "kind": e.kind, "rule": e.rule, "detail": e.detail}
        for e in evaluation.events(thread)
    ]


@dataclass
class Reevaluation:
    """What a re-evaluation wrote: the thread ids, and the threads left awaiting the team as
    evaluated (by thread id, with their record's revision) for the planner to take as they
    are instead of rebuilding them. A full pass hands none on: memory follows its groups."""

    written: list[str] = field(default_factory=list)
    awaiting: dict[str, LoadedThread] = field(default_factory=dict)


async def reevaluate(
    mailbox: Mailbox, changed: list[int], policy: MailboxPolicy, now: datetime
) -> Reevaluation:
    """Re-thread what ``changed`` (row ids) touches; store thread ids and thread records
    (``now`` stamps them)."""
    if not changed:
        return Reevaluation()
    full = len(changed) > FULL_PASS
    roles = await folder_roles(mailbox)
    pass_ = _Pass(mailbox, policy, mailbox.rotation_at or 0, roles, now, hand_on=not full)
    start_rotation = pass_.rotation
    if full:
        # A first sync (or any large change) re-threads the whole mailbox, one group of
        # linked messages at a time: memory follows the group, not the mailbox.
        for ids in await link_groups(mailbox):
            await pass_.rethread(await load_group(ids))
    else:
        rows = await related(mailbox, await StoredMessage.filter(id__in=changed))
        await pass_.rethread(
            (rows, [to_message(r) for r in rows], {r.message_id: stored_verdict(r) for r in rows})
        )
    if pass_.rotation != start_rotation:
        mailbox.rotation_at = pass_.rotation
        await mailbox.save(update_fields=["rotation_at"])
    return pass_.result


#: Most rows re-threaded at once in a full pass (a larger linked group is taken whole).
GROUP = 10_000
#: Rows read per query when finding the groups.
PAGE = 5_000


async def link_groups(mailbox: Mailbox) -> list[list[int]]:
    """The mailbox's row ids in groups that thread independently (see
    :mod:`assistant.core.components`), read a page at a time."""
    links = LinkGroups()
    last = 0
    columns = ("id", "message_id", "in_reply_to", "references", "subject_key")
    while True:
        where = f"mailbox_id=? AND id>? ORDER BY id LIMIT {PAGE}"
        read = 0
        for row_id, message_id, in_reply_to, references, subject_key in await select_rows(
            StoredMessage, columns, where, [mailbox.id, last]
        ):
            links.add(row_id, message_id, references + in_reply_to, subject_key)
            last, read = row_id, read + 1
        if read < PAGE:
            return links.groups(GROUP)


@dataclass
class _Group:
    """One closed group of rows, threaded, with what the rows said before re-threading."""

    verdicts: dict[str, Verdict]
    threads: list[Thread]
    by_message_id: dict[str, list[Any]]
    #: Each message's thread ids before this pass (rows are re-pointed as threads are done).
    old_ids: dict[str, list[str]]
    old_thread_ids: set[str]

    def verdict_of(self, msg: Message) -> Verdict:
        """The stored verdict of ``msg``."""
        return self.verdicts[msg.message_id]

    def rows_of(self, message_id: str) -> list[Any]:
        """The rows (one per folder copy) of ``message_id``."""
        return self.by_message_id.get(message_id, [])

    def gone(self) -> list[str]:
        """Thread ids the group's rows carried and no thread of the group has now."""
        return sorted(self.old_thread_ids - {t.id for t in self.threads})


def _thread_group(loaded: Loaded, policy: MailboxPolicy) -> _Group:
    rows, messages, verdicts = loaded
    by_message_id: dict[str, list[Any]] = {}
    for item in rows:
        by_message_id.setdefault(item.message_id, []).append(item)
    threads = thread_messages(
        messages,
        shared=policy.team.__contains__,
        eligible=lambda m: verdicts[m.message_id].human,
    )
    old_ids = {
        m.message_id: [r.thread_id for r in by_message_id.get(m.message_id, []) if r.thread_id]
        for t in threads
        for m in t.messages
    }
    old_thread_ids = {r.thread_id for r in rows if r.thread_id}
    return _Group(verdicts, threads, by_message_id, old_ids, old_thread_ids)


@dataclass
class _Batch:
    """What one group writes, in one transaction."""

    mailbox_id: int
    now: datetime
    moved: list[Any] = field(default_factory=list)
    create: list[dict[str, object]] = field(default_factory=list)
    update: list[ThreadRecord] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)

    def move_rows(self, thread: Thread, group: _Group) -> None:
        """Point the rows of ``thread``'s messages at it."""
        for m in thread.messages:
            for row in group.rows_of(m.message_id):
                if row.thread_id != thread.id:
                    row.thread_id = thread.id
                    self.moved.append(row)

    def store(self, thread_id: str, record: ThreadRecord | None, values: dict[str, object]) -> int:
        """Create or update the thread's record, marked for planning in the same transaction:
        a crash before the planner ran leaves the mark, and the next pass (any process) plans
        the thread. ``now`` is what auto_now would write, from the caller's clock. Returns
        the record's new revision."""
        if record is None:
            self.create.append(
                {"mailbox_id": self.mailbox_id, "thread_id": thread_id, "updated_at": self.now}
                | values
                | {"revision": 1, "unplanned": True}
            )
            return 1
        record.update_from_dict(values)
        record.revision, record.unplanned = (record.revision or 0) + 1, True
        record.updated_at = self.now
        self.update.append(record)
        return int(record.revision)


@dataclass
class _Pass:
    """One re-evaluation: the round-robin position and folder roles it shares between
    groups, and the threads it wrote."""

    mailbox: Mailbox
    policy: MailboxPolicy
    rotation: int
    roles: dict[int, str]
    now: datetime
    #: Whether the threads left awaiting the team are handed on (see :class:`Reevaluation`).
    hand_on: bool
    result: Reevaluation = field(default_factory=Reevaluation)
    #: Each thread record's values as this pass first read them. What a thread inherits is
    #: the state before the pass, even when an earlier group of the pass has since rewritten
    #: or deleted that record (one old thread can span two groups after an expunge).
    first_seen: dict[str, SimpleNamespace] = field(default_factory=dict)

    async def rethread(self, loaded: Loaded) -> None:
        """Thread one closed group of rows (no message outside it links to one inside),
        evaluate its threads against their records and write everything in one
        transaction."""
        group = _thread_group(loaded, self.policy)
        wanted = {t.id for t in group.threads} | {i for ids in group.old_ids.values() for i in ids}
        existing = await existing_records(self.mailbox, sorted(wanted))
        for thread_id, found in existing.items():
            if thread_id not in self.first_seen:
                values = {f: getattr(found, f) for f in _RECORD_FIELDS}
                self.first_seen[thread_id] = SimpleNamespace(**values)
        batch = _Batch(self.mailbox.id, self.now)
        for thread in group.threads:
            self._evaluate(thread, group, existing.get(thread.id), batch)
        await _write(self.mailbox, batch, group.gone())
        self.result.written += [t.id for t in group.threads]

    def _before(self, thread: Thread, group: _Group) -> SimpleNamespace | None:
        """What the thread's record held before the pass; a thread that merged or re-rooted
        keeps what its earlier record knew."""
        first = self.first_seen
        return first.get(thread.id) or next(
            (first[i] for m in thread.messages for i in group.old_ids[m.message_id] if i in first),
            None,
        )

    def _evaluate(
        self, thread: Thread, group: _Group, record: ThreadRecord | None, batch: _Batch
    ) -> None:
        """Evaluate ``thread`` (the core decides) and add its writes to ``batch``."""
        before = self._before(thread, group)
        history = History(
            done_at=before.done_at if before else None,
            assigned_to=before.assigned_to if before else None,
            archived=archived(thread, group.rows_of, self.roles, self.policy),
        )
        evaluation = evaluate_thread(
            thread, self.policy, group.verdict_of, history, self.rotation, _prior(before)
        )
        self.rotation = evaluation.rotation_next
        batch.events += _event_rows(thread, evaluation)
        batch.move_rows(thread, group)
        revision = batch.store(thread.id, record, _record_values(thread, before, evaluation))
        if self.hand_on and evaluation.state.state is State.AWAITING_TEAM:
            rows = [r for m in thread.messages for r in group.rows_of(m.message_id)]
            self.result.awaiting[thread.id] = LoadedThread(thread, evaluation.state, rows, revision)


async def _set_thread_ids(moved: list[Any]) -> None:
    """One prepared UPDATE run for every moved row (executemany), whatever the backend."""
    for start in range(0, len(moved), 5000):
        chunk = moved[start : start + 5000]
        await execute_many(
            StoredMessage,
            "UPDATE message SET thread_id=? WHERE id=?",
            [[row.thread_id, row.id] for row in chunk],
        )


async def _write(mailbox: Mailbox, batch: _Batch, gone: list[str]) -> None:
    async with in_transaction():
        await insert_rows(ThreadEvent, [{**e, "mailbox_id": mailbox.id} for e in batch.events])
        if batch.moved:
            await _set_thread_ids(batch.moved)
        await insert_rows(ThreadRecord, batch.create, batch=CHUNK)
        if batch.update:
            await ThreadRecord.bulk_update(batch.update, fields=_WRITTEN_FIELDS, batch_size=CHUNK)
        # A thread id this group no longer uses may still be another group's (its messages
        # not re-threaded yet, or re-threaded under that id): only an id no row carries any
        # more is gone.
        for chunk in chunks(gone):
            used = await StoredMessage.filter(mailbox=mailbox, thread_id__in=chunk).values_list(
                "thread_id", flat=True
            )
            dead = sorted({str(t) for t in chunk} - {str(t) for t in used})
            if dead:
                await ThreadRecord.filter(mailbox=mailbox, thread_id__in=dead).delete()
