"""Re-evaluate the threads a sync touched, and store their state.

Incremental: only the threads that share a Message-ID, a reference or a (non-generic)
subject with the changed messages are loaded and re-threaded, so a new message costs its
thread, not the mailbox. A large change (a first sync) re-threads the whole mailbox, one
group of linked messages at a time (:mod:`assistant.core.components`): the same threads as
one pass over everything, in memory bounded by the group. (Round-robin owners are then dealt
group by group, so which thread gets whom differs from one pass; each still gets one.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

from tortoise.transactions import in_transaction

from ..core.components import LinkGroups
from ..core.evaluate import MailboxPolicy
from ..core.model import Address, Message, Thread, Verdict
from ..core.ownership import assign_owner
from ..core.state import History, State, thread_state
from ..core.subject import is_generic
from ..core.threading import thread_messages
from ..store.bulk import execute_many, insert_rows, select_rows
from ..store.models import (
    Folder,
    Mailbox,
    MessageRef,
    StoredMessage,
    ThreadEvent,
    ThreadRecord,
)
from ..store.records import to_message

#: Above this many changed messages, re-thread the whole mailbox in one pass.
FULL_PASS = 2000
CHUNK = 500


def _chunks(values: list[str] | list[int]) -> Iterable[list[str] | list[int]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


async def _related(mailbox: Mailbox, seeds: list[StoredMessage]) -> list[StoredMessage]:
    ids = {r.message_id for r in seeds}
    linked = set(ids)
    for r in seeds:
        linked.update(r.references)
        linked.update(r.in_reply_to)
    subjects = sorted({r.subject_key for r in seeds if not is_generic(r.subject_key)})
    found: dict[int, StoredMessage] = {r.id: r for r in seeds}
    for chunk in _chunks(sorted(linked)):
        for row in await StoredMessage.filter(mailbox=mailbox, message_id__in=chunk):
            found[row.id] = row
    for chunk in _chunks(sorted(ids)):
        ref_rows = await MessageRef.filter(mailbox=mailbox, ref_id__in=chunk).values_list(
            "message_id", flat=True
        )
        for row in await StoredMessage.filter(id__in=list(ref_rows)):
            found[row.id] = row
    for chunk in _chunks(subjects):
        for row in await StoredMessage.filter(mailbox=mailbox, subject_key__in=chunk):
            found[row.id] = row
    thread_ids = sorted({r.thread_id for r in found.values() if r.thread_id})
    for chunk in _chunks(thread_ids):
        for row in await StoredMessage.filter(mailbox=mailbox, thread_id__in=chunk):
            found[row.id] = row
    return list(found.values())


class _Row(NamedTuple):
    """A stored row as a full pass reads it: what threading and thread state read, not the
    raw signal headers (verdicts are stored), which stay empty."""

    id: int
    message_id: str
    synthetic_id: bool
    in_reply_to: list[str]
    references: list[str]
    sender: str | None
    sender_name: str
    to: list[list[str]]
    cc: list[list[str]]
    reply_to: list[list[str]]
    date: datetime
    date_source: str
    subject: str
    subject_key: str
    uid: int
    machine_rule: str | None
    thread_id: str | None
    folder_id: int
    headers: dict[str, str]
    issues: tuple[str, ...]


#: The columns a full pass reads (every :class:`_Row` field but the two left empty).
ROW_COLUMNS = _Row._fields[:-2]
_EMPTY: tuple[dict[str, str], tuple[str, ...]] = ({}, ())


@dataclass(slots=True)
class _Slim:
    """What the write-back needs of a row read in a full pass."""

    id: int
    message_id: str
    thread_id: str | None
    folder_id: int


def _verdict(row: Any) -> Verdict:
    return Verdict(machine=True, rule=row.machine_rule) if row.machine_rule else Verdict(False)


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


async def _existing(mailbox: Mailbox, thread_ids: list[str]) -> dict[str, ThreadRecord]:
    found: dict[str, ThreadRecord] = {}
    for chunk in _chunks(thread_ids):
        for record in await ThreadRecord.filter(mailbox=mailbox, thread_id__in=chunk):
            found[record.thread_id] = record
    return found


_CARRIED = ("assigned_to", "done_at", "snoozed_until", "answered_at", "first_response_s")


@dataclass
class _Evaluation:
    """A thread's new record values, and the timeline lines the change adds."""

    values: dict[str, object]
    events: list[dict[str, object]]


def archived(
    thread: Thread,
    rows_of: Callable[[str], Iterable[Any]],
    roles: dict[int, str],
    policy: MailboxPolicy,
) -> bool:
    """True when the client's messages are no longer in INBOX but are in the archive: the
    team filed the conversation (a reply from the client lands in INBOX again)."""
    places = {
        roles.get(row.folder_id, "other")
        for m in thread.messages
        if m.sender is not None and m.sender.email not in policy.team
        for row in rows_of(m.message_id)
    }
    return "archive" in places and "inbox" not in places


async def folder_roles(mailbox: Mailbox) -> dict[int, str]:
    """Each folder's role (inbox, sent, archive...) by id."""
    return {f.id: f.role for f in await Folder.filter(mailbox=mailbox)}


def _evaluate_thread(
    thread: Thread,
    policy: MailboxPolicy,
    verdicts: dict[str, Verdict],
    before: ThreadRecord | SimpleNamespace | None,
    rotation: list[int],
    filed: bool = False,
) -> _Evaluation:
    """State and owner of ``thread``, given its record ``before`` this change (if any).

    The owner is fixed when the thread starts waiting (the same ``waiting_since``
    keeps the same owner, whatever the rules say later); an explicit assignment wins.
    """
    carried = {name: getattr(before, name) for name in _CARRIED} if before else {}
    history = History(done_at=before.done_at if before else None, archived=filed)
    state = thread_state(thread, policy.team, lambda m: verdicts[m.message_id], history)
    owner = rule = None
    events: list[dict[str, object]] = []
    was_waiting = before is not None and before.state == str(State.AWAITING_TEAM)
    if state.state is State.AWAITING_TEAM:
        same_episode = (
            was_waiting and before is not None and before.waiting_since == state.waiting_since
        )
        if same_episode and before is not None and before.owner:
            owner, rule = before.owner, before.owner_rule
        else:
            assignment = assign_owner(
                state.client,
                thread.subject,
                policy.ownership,
                dict(policy.people),
                before.assigned_to if before else None,
                rotation[0],
            )
            rotation[0] = assignment.rotation_next
            owner, rule = assignment.owner, assignment.rule
            when = state.waiting_since or thread.last_date
            events.append(_event(thread.id, when, "owner", rule, owner or "nobody"))
    if before is None or before.state != str(state.state):
        events.append(_event(thread.id, thread.last_date, "state", str(state.state), state.reason))
    if was_waiting and state.state is State.AWAITING_CLIENT and state.last_team_reply:
        assert before is not None and before.waiting_since is not None
        carried["answered_at"] = state.last_team_reply
        spent = policy.calendar.elapsed(before.waiting_since, state.last_team_reply)
        carried["first_response_s"] = int(spent.total_seconds())
    values: dict[str, object] = {
        "subject": thread.subject,
        "state": str(state.state),
        "reason": state.reason,
        "waiting_since": state.waiting_since,
        "client": state.client.email if state.client else None,
        "last_message_at": thread.last_date,
        "message_count": len(thread.messages),
        "owner": owner,
        "owner_rule": rule,
        **carried,
    }
    return _Evaluation(values, events)


def _event(
    thread_id: str, at: object, kind: str, rule: str | None, detail: str
) -> dict[str, object]:
    return {"thread_id": thread_id, "at": at, "kind": kind, "rule": rule or "", "detail": detail}


async def reevaluate(
    mailbox: Mailbox, changed: list[int], policy: MailboxPolicy, now: datetime
) -> list[str]:
    """Re-thread what ``changed`` (row ids) touches; store thread ids and thread records
    (``now`` stamps them).

    Returns the ids of the threads whose records were written."""
    if not changed:
        return []
    pass_ = _Pass(mailbox, policy, [mailbox.rotation_at or 0], await folder_roles(mailbox), now)
    start_rotation = pass_.rotation[0]
    if len(changed) > FULL_PASS:
        # A first sync (or any large change) re-threads the whole mailbox, one group of
        # linked messages at a time: memory follows the group, not the mailbox.
        for ids in await link_groups(mailbox):
            await pass_.rethread(await _load_group(ids))
    else:
        rows = await _related(mailbox, await StoredMessage.filter(id__in=changed))
        await pass_.rethread(
            (rows, [to_message(r) for r in rows], {r.message_id: _verdict(r) for r in rows})
        )
    if pass_.rotation[0] != start_rotation:
        mailbox.rotation_at = pass_.rotation[0]
        await mailbox.save(update_fields=["rotation_at"])
    return pass_.written


Loaded = tuple[list[Any], list[Message], dict[str, Verdict]]

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


async def _load_group(ids: list[int]) -> Loaded:
    """Rows ``ids`` as slim rows, messages and verdicts: each row is turned into its message
    as it is read, keeping only what the write-back needs."""
    rows: list[Any] = []
    messages: list[Message] = []
    verdicts: dict[str, Verdict] = {}
    addresses: dict[tuple[str, str], Address] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for values in await select_rows(StoredMessage, ROW_COLUMNS, f"id IN ({marks})", chunk):
            row = _Row._make((*values, *_EMPTY))
            messages.append(to_message(row, addresses))
            verdicts[row.message_id] = _verdict(row)
            rows.append(_Slim(row.id, row.message_id, row.thread_id, row.folder_id))
    return rows, messages, verdicts


@dataclass
class _Pass:
    """One re-evaluation: the round-robin position and folder roles it shares between
    groups, and the threads it wrote."""

    mailbox: Mailbox
    policy: MailboxPolicy
    rotation: list[int]
    roles: dict[int, str]
    now: datetime
    written: list[str] = field(default_factory=list)
    #: Each thread record's values as this pass first read them. What a thread inherits is
    #: the state before the pass, even when an earlier group of the pass has since rewritten
    #: or deleted that record (one old thread can span two groups after an expunge).
    first_seen: dict[str, SimpleNamespace] = field(default_factory=dict)

    async def rethread(self, loaded: Loaded) -> None:
        """Thread one closed group of rows (no message outside it links to one inside),
        evaluate its threads against their records and write everything in one
        transaction."""
        rows, messages, verdicts = loaded
        mailbox, policy = self.mailbox, self.policy
        by_message_id: dict[str, list[Any]] = {}
        for item in rows:
            by_message_id.setdefault(item.message_id, []).append(item)
        old_thread_ids = {r.thread_id for r in rows if r.thread_id}
        threads = thread_messages(
            messages,
            shared=policy.team.__contains__,
            eligible=lambda m: verdicts[m.message_id].human,
        )
        del messages
        old_ids = {
            m.message_id: [r.thread_id for r in by_message_id.get(m.message_id, []) if r.thread_id]
            for t in threads
            for m in t.messages
        }
        existing = await _existing(
            mailbox, sorted({t.id for t in threads} | {i for ids in old_ids.values() for i in ids})
        )
        first = self.first_seen
        for thread_id, found in existing.items():
            if thread_id not in first:
                first[thread_id] = SimpleNamespace(**{f: getattr(found, f) for f in _RECORD_FIELDS})
        moved: list[Any] = []
        create: list[dict[str, object]] = []
        update: list[ThreadRecord] = []
        events: list[dict[str, object]] = []
        now = self.now  # what auto_now would write, from the caller's clock
        for thread in threads:
            record = existing.get(thread.id)  # in the table now: updated, else created
            # A thread that merged or re-rooted keeps what its earlier record knew.
            before = first.get(thread.id) or next(
                (first[i] for m in thread.messages for i in old_ids[m.message_id] if i in first),
                None,
            )
            filed = archived(thread, lambda mid: by_message_id.get(mid, []), self.roles, policy)
            evaluation = _evaluate_thread(thread, policy, verdicts, before, self.rotation, filed)
            events += evaluation.events
            for m in thread.messages:
                for row in by_message_id.get(m.message_id, []):
                    if row.thread_id != thread.id:
                        row.thread_id = thread.id
                        moved.append(row)
            # Marked for planning in the same transaction: a crash before the planner ran
            # leaves the mark, and the next pass (any process) plans the thread.
            if record is None:
                create.append(
                    {"mailbox_id": mailbox.id, "thread_id": thread.id, "updated_at": now}
                    | evaluation.values
                    | {"revision": 1, "unplanned": True}
                )
            else:
                record.update_from_dict(evaluation.values)
                record.revision, record.unplanned = (record.revision or 0) + 1, True
                record.updated_at = now
                update.append(record)
        gone = sorted(old_thread_ids - {t.id for t in threads})
        await _write(mailbox, moved, create, update, gone, events)
        self.written += [t.id for t in threads]


async def _set_thread_ids(moved: list[Any]) -> None:
    """One prepared UPDATE run for every moved row (executemany), whatever the backend."""
    for start in range(0, len(moved), 5000):
        chunk = moved[start : start + 5000]
        await execute_many(
            StoredMessage,
            "UPDATE message SET thread_id=? WHERE id=?",
            [[row.thread_id, row.id] for row in chunk],
        )


async def _write(
    mailbox: Mailbox,
    moved: list[Any],
    create: list[dict[str, object]],
    update: list[ThreadRecord],
    gone: list[str],
    events: list[dict[str, object]],
) -> None:
    async with in_transaction():
        await insert_rows(ThreadEvent, [{**e, "mailbox_id": mailbox.id} for e in events])
        if moved:
            await _set_thread_ids(moved)
        await insert_rows(ThreadRecord, create, batch=CHUNK)
        if update:
            await ThreadRecord.bulk_update(update, fields=_WRITTEN_FIELDS, batch_size=CHUNK)
        # A thread id this group no longer uses may still be another group's (its messages
        # not re-threaded yet, or re-threaded under that id): only an id no row carries any
        # more is gone.
        for chunk in _chunks(gone):
            used = await StoredMessage.filter(mailbox=mailbox, thread_id__in=chunk).values_list(
                "thread_id", flat=True
            )
            dead = sorted({str(t) for t in chunk} - {str(t) for t in used})
            if dead:
                await ThreadRecord.filter(mailbox=mailbox, thread_id__in=dead).delete()
