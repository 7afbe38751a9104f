"""The stored rows a re-evaluation reads: the rows a change touches, a group of rows as
slim rows with their messages and verdicts, and the thread records they carry; a thread with
its state and rows as the planner and the deliverer take it (:class:`LoadedThread`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from tortoise.queryset import QuerySet

from ..core.evaluate import MailboxPolicy
from ..core.model import Address, Message, Thread, Verdict
from ..core.state import ThreadState, is_archived
from ..core.subject import is_generic
from ..store.bulk import fetch_all, select_rows
from ..store.models import Folder, Mailbox, MessageRef, StoredMessage, ThreadRecord
from ..store.records import to_message

#: Ids per query (an IN list), and rows per bulk write.
CHUNK = 500


@dataclass(frozen=True)
class LoadedThread:
    """A thread with its state and its stored rows; ``revision`` is the thread record's
    revision it was evaluated at (None when rebuilt from the store)."""

    thread: Thread
    state: ThreadState
    rows: list[Any]
    revision: int | None = None


def archived(
    thread: Thread,
    rows_of: Callable[[str], Iterable[Any]],
    roles: dict[int, str],
    policy: MailboxPolicy,
) -> bool:
    """The archive rule (:func:`assistant.core.state.is_archived`) over stored rows: each
    row's folder role is where that copy of the message is."""
    return is_archived(
        thread, policy.team, lambda mid: [roles.get(r.folder_id, "other") for r in rows_of(mid)]
    )


async def folder_roles(mailbox: Mailbox) -> dict[int, str]:
    """Each folder's role (inbox, sent, archive...) by id."""
    return {f.id: f.role for f in await Folder.filter(mailbox=mailbox)}


def chunks(values: list[str] | list[int]) -> Iterable[list[str] | list[int]]:
    """``values`` a :data:`CHUNK` at a time."""
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def _links(seeds: list[StoredMessage]) -> tuple[list[str], list[str], list[str]]:
    """The seeds' own Message-IDs, every id they link to, and their non-generic subjects."""
    ids = {r.message_id for r in seeds}
    linked = set(ids)
    for r in seeds:
        linked.update(r.references)
        linked.update(r.in_reply_to)
    subjects = {r.subject_key for r in seeds if not is_generic(r.subject_key)}
    return sorted(ids), sorted(linked), sorted(subjects)


def _add(found: dict[int, StoredMessage], rows: Iterable[StoredMessage]) -> None:
    for row in rows:
        found[row.id] = row


async def related(mailbox: Mailbox, seeds: list[StoredMessage]) -> list[StoredMessage]:
    """The rows of every thread ``seeds`` may belong to: linked by id, reference or subject."""
    ids, linked, subjects = _links(seeds)
    found: dict[int, StoredMessage] = {r.id: r for r in seeds}
    for chunk in chunks(linked):
        _add(found, await StoredMessage.filter(mailbox=mailbox, message_id__in=chunk))
    for chunk in chunks(ids):
        ref_rows = await MessageRef.filter(mailbox=mailbox, ref_id__in=chunk).values_list(
            "message_id", flat=True
        )
        _add(found, await StoredMessage.filter(id__in=list(ref_rows)))
    for chunk in chunks(subjects):
        _add(found, await StoredMessage.filter(mailbox=mailbox, subject_key__in=chunk))
    thread_ids = sorted({r.thread_id for r in found.values() if r.thread_id})
    for chunk in chunks(thread_ids):
        _add(found, await StoredMessage.filter(mailbox=mailbox, thread_id__in=chunk))
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


def stored_verdict(row: Any) -> Verdict:
    """The verdict stored with ``row`` (its machine rule, if any)."""
    return Verdict(machine=True, rule=row.machine_rule) if row.machine_rule else Verdict(False)


#: A group as loaded: slim rows, their messages, verdicts by Message-ID.
Loaded = tuple[list[Any], list[Message], dict[str, Verdict]]


async def existing_records(mailbox: Mailbox, thread_ids: list[str]) -> dict[str, ThreadRecord]:
    """The records of ``thread_ids`` that exist, by thread id."""
    found: dict[str, ThreadRecord] = {}
    for chunk in chunks(thread_ids):
        for record in await ThreadRecord.filter(mailbox=mailbox, thread_id__in=chunk):
            found[record.thread_id] = record
    return found


async def load_group(ids: list[int]) -> Loaded:
    """Rows ``ids`` as slim rows, messages and verdicts: each row is turned into its message
    as it is read, keeping only what the write-back needs."""
    rows: list[Any] = []
    messages: list[Message] = []
    verdicts: dict[str, Verdict] = {}
    addresses: dict[tuple[str, str], Address] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for values in await select_rows(StoredMessage, ROW_COLUMNS, f"id IN ({marks})", chunk):
            row = _Row._make((*values, *_EMPTY))
            messages.append(to_message(row, addresses))
            verdicts[row.message_id] = stored_verdict(row)
            rows.append(_Slim(row.id, row.message_id, row.thread_id, row.folder_id))
    return rows, messages, verdicts


async def thread_ids_of(query: QuerySet[StoredMessage]) -> list[str]:
    """The thread ids of the rows ``query`` selects (rows never threaded have none)."""
    return [str(t) for t in await query.exclude(thread_id=None).values_list("thread_id", flat=True)]


async def forget_touched(mailbox: Mailbox, touched: list[str]) -> list[int]:
    """Row ids still in threads that lost messages; drop threads left with none."""
    if not touched:
        return []
    ids = sorted(set(touched))
    alive = set(await thread_ids_of(StoredMessage.filter(mailbox=mailbox, thread_id__in=ids)))
    dead = sorted(set(ids) - alive)
    if dead:
        await ThreadRecord.filter(mailbox=mailbox, thread_id__in=dead).delete()
    rows = await StoredMessage.filter(mailbox=mailbox, thread_id__in=sorted(alive)).only("id")
    return [row.id for row in rows]


async def unevaluated(mailbox: Mailbox) -> list[int]:
    """Rows stored but never threaded: a sync stopped between storing and re-evaluating.

    Every evaluated row has a thread id, so these are exactly the rows whose clients would
    otherwise never be seen waiting."""
    rows = await fetch_all(
        StoredMessage,
        "SELECT id FROM message WHERE mailbox_id=? AND thread_id IS NULL",
        [mailbox.id],
    )
    return [int(row[0]) for row in rows]
