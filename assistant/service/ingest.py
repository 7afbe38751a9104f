"""Sync a mailbox: discover folders, fetch header records incrementally, store, re-evaluate.

Blocking IMAP calls run in a worker thread (``asyncio.to_thread``) so one process can sync
many mailboxes. Each batch of records is committed together with the folder cursor that
covers it, so an interrupted first sync resumes where it stopped and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from ..core.evaluate import MailboxPolicy
from ..core.headers import parse_message
from ..core.machine import classify
from ..core.syncplan import Cursor, Plan, ServerStatus, Step, batches, needs_reconcile, plan_sync
from ..mail.fetchparse import Fetched
from ..mail.imap import FolderInfo, ImapSession
from ..mail.urls import parse_url
from ..secrets import decrypt
from ..store.bulk import insert_rows
from ..store.models import Folder, Mailbox, MessageRef, StoredMessage, ThreadRecord
from ..store.records import message_fields
from .evaluate import reevaluate

#: Folders whose mail tells who is waiting: client mail in INBOX, the team's replies in Sent.
WATCHED_ROLES = ("inbox", "sent", "archive")
STORE_BATCH = 500

Progress = Callable[[str, int, int], None]


@dataclass
class FolderReport:
    """What one folder's sync did."""

    name: str
    role: str
    reason: str = "unchanged"
    new: int = 0
    flags: int = 0
    expunged: int = 0
    reset: bool = False


@dataclass
class SyncReport:
    """What a mailbox sync did."""

    mailbox: str
    folders: list[FolderReport] = field(default_factory=list)
    threads_changed: int = 0
    changed_ids: list[int] = field(default_factory=list)
    thread_ids: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        """New messages stored."""
        return sum(f.new for f in self.folders)


async def _thread_ids(query: QuerySet[StoredMessage]) -> list[str]:
    return [str(t) for t in await query.exclude(thread_id=None).values_list("thread_id", flat=True)]


def watched(folders: list[FolderInfo]) -> list[FolderInfo]:
    """INBOX, the Sent folder(s) and the Archive: the folders that show who spoke last."""
    return [f for f in folders if f.role in WATCHED_ROLES]


def _cursor(row: Folder) -> Cursor:
    return Cursor(row.uidvalidity, row.uidnext, row.highestmodseq, row.last_uid, row.message_count)


async def _store_batch(mailbox: Mailbox, folder: Folder, fetched: list[Fetched]) -> list[int]:
    rows = []
    refs_by_uid: dict[int, list[str]] = {}
    for item in fetched:
        msg = parse_message(item.header, item.internaldate, source=f"{folder.name}:{item.uid}")
        row = message_fields(msg)
        row.update(
            mailbox_id=mailbox.id,
            folder_id=folder.id,
            uid=item.uid,
            internaldate=item.internaldate,
            flags=list(item.flags),
            modseq=item.modseq,
            machine_rule=classify(msg).rule,
        )
        rows.append(row)
        refs_by_uid[item.uid] = list(dict.fromkeys([*msg.references, *msg.in_reply_to]))
    if not rows:
        return []
    uids = list(refs_by_uid)
    async with in_transaction():
        await insert_rows(StoredMessage, rows, ignore_conflicts=True, batch=STORE_BATCH)
        # Only ids come back from the database: references are taken from what was parsed.
        stored = await StoredMessage.filter(folder=folder, uid__in=uids).values_list("id", "uid")
        refs = [
            {"mailbox_id": mailbox.id, "message_id": row_id, "ref_id": ref[:512]}
            for row_id, uid in stored
            for ref in refs_by_uid[uid]
        ]
        await insert_rows(MessageRef, refs, batch=STORE_BATCH)
        folder.last_uid = max(folder.last_uid, *uids)
        folder.message_count = await StoredMessage.filter(folder=folder).count()
        await folder.save(update_fields=["last_uid", "message_count"])
    return [int(row_id) for row_id, _ in stored]


def _fetch_list(session: ImapSession, uids: list[int]) -> list[Fetched]:
    return list(session.fetch_headers(uids))


async def _fetch_new(
    session: ImapSession,
    mailbox: Mailbox,
    folder: Folder,
    plan: Plan,
    since: datetime | None,
    progress: Progress | None,
) -> list[int]:
    uids = await asyncio.to_thread(session.uids_from, plan.fetch_from_uid, since)
    changed: list[int] = []
    done = 0
    todo = list(batches(uids, STORE_BATCH))
    # The next batch is fetched (socket reads, in a thread) while this one is parsed and
    # stored; one FETCH at a time, so the session is never used by two threads at once.
    pending = (
        asyncio.ensure_future(asyncio.to_thread(_fetch_list, session, todo[0])) if todo else None
    )
    try:
        for index in range(len(todo)):
            assert pending is not None
            fetched = await pending
            pending = None
            if index + 1 < len(todo):
                pending = asyncio.ensure_future(
                    asyncio.to_thread(_fetch_list, session, todo[index + 1])
                )
            changed += await _store_batch(mailbox, folder, fetched)
            done += len(todo[index])
            if progress:
                progress(folder.name, done, len(uids))
    finally:
        if pending is not None:  # a failed store: let the running FETCH finish first
            with contextlib.suppress(Exception):
                await pending
    return changed


async def _fetch_flags(session: ImapSession, folder: Folder, since_modseq: int) -> list[int]:
    uids = await asyncio.to_thread(session.changed_since, since_modseq)
    known = await StoredMessage.filter(folder=folder, uid__in=uids) if uids else []
    if not known:
        return []
    flags = await asyncio.to_thread(session.fetch_flags, [r.uid for r in known])
    for row in known:
        new_flags, modseq = flags.get(row.uid, ((), None))
        row.flags, row.modseq = list(new_flags), modseq
    await StoredMessage.bulk_update(known, fields=["flags", "modseq"], batch_size=STORE_BATCH)
    return [r.id for r in known]


async def _reconcile(session: ImapSession, folder: Folder) -> tuple[int, list[str]]:
    """Delete records of expunged messages; return how many and their thread ids."""
    server = set(await asyncio.to_thread(session.all_uids))
    ours = await StoredMessage.filter(folder=folder).values_list("uid", "thread_id")
    gone_uids = [uid for uid, _ in ours if uid not in server]
    threads = sorted({t for uid, t in ours if uid not in server and t})
    if gone_uids:
        for batch in batches(gone_uids, STORE_BATCH):
            await StoredMessage.filter(folder=folder, uid__in=batch).delete()
    folder.message_count = len(ours) - len(gone_uids)
    await folder.save(update_fields=["message_count"])
    return len(gone_uids), threads


async def sync_folder(
    session: ImapSession,
    mailbox: Mailbox,
    folder: Folder,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    kept: bool = False,
) -> tuple[FolderReport, list[int], list[str]]:
    """Bring one folder up to date; return its report, changed row ids, touched thread ids.

    With ``kept``, ``session`` is this folder's own connection and stays selected on it
    between calls (a watcher's): the check is NOOP + STATUS and a change needs no SELECT.
    """
    report = FolderReport(folder.name, folder.role)
    if kept and session.selected != folder.name:
        await asyncio.to_thread(session.select, folder.name)
    raw = await asyncio.to_thread(session.refresh if kept else session.status, folder.name)
    status = ServerStatus(
        raw["UIDVALIDITY"], raw["UIDNEXT"], raw["MESSAGES"], raw.get("HIGHESTMODSEQ")
    )
    plan = plan_sync(_cursor(folder), status, session.condstore)
    changed: list[int] = []
    touched: list[str] = []
    if not plan.idle:
        report.reason = plan.reason
        if not kept or Step.RESET in plan.steps:
            await asyncio.to_thread(session.select, folder.name)
        if Step.RESET in plan.steps:
            touched += await _thread_ids(StoredMessage.filter(folder=folder))
            await StoredMessage.filter(folder=folder).delete()
            folder.last_uid, folder.message_count, folder.highestmodseq = 0, 0, None
            report.reset = True
        if Step.FETCH_NEW in plan.steps:
            if folder.first_uidnext is None or Step.RESET in plan.steps:
                # Everything below today's UIDNEXT is history: never acknowledged.
                folder.first_uidnext = status.uidnext
            # Record the validity first: an interrupted first sync then resumes after last_uid.
            folder.uidvalidity = status.uidvalidity
            await folder.save(
                update_fields=["uidvalidity", "last_uid", "message_count", "highestmodseq"]
            )
            new = await _fetch_new(session, mailbox, folder, plan, since, progress)
            report.new = len(new)
            changed += new
        if Step.FETCH_FLAGS in plan.steps and plan.changed_since is not None:
            flagged = await _fetch_flags(session, folder, plan.changed_since)
            report.flags = len(flagged)
            changed += flagged
        if Step.RECONCILE in plan.steps or needs_reconcile(folder.message_count, status):
            report.expunged, gone_threads = await _reconcile(session, folder)
            touched += gone_threads
        if not kept:
            await asyncio.to_thread(session.unselect)
    if plan.idle and folder.synced_at is not None:
        return report, changed, touched  # nothing moved: no write at all
    folder.uidvalidity = status.uidvalidity
    folder.uidnext = max(status.uidnext, folder.last_uid + 1)
    folder.highestmodseq = status.highestmodseq
    folder.synced_at = datetime.now(UTC)
    await folder.save()
    return report, changed, touched


async def folder_rows(mailbox: Mailbox, infos: list[FolderInfo]) -> list[Folder]:
    rows = []
    for info in watched(infos):
        row, _ = await Folder.get_or_create(
            mailbox=mailbox, name=info.name, defaults={"role": info.role}
        )
        if row.role != info.role:
            row.role = info.role
            await row.save(update_fields=["role"])
        rows.append(row)
    return rows


async def _forget_touched(mailbox: Mailbox, touched: list[str]) -> list[int]:
    """Row ids still in threads that lost messages; drop threads left with none."""
    if not touched:
        return []
    ids = sorted(set(touched))
    alive = set(await _thread_ids(StoredMessage.filter(mailbox=mailbox, thread_id__in=ids)))
    dead = sorted(set(ids) - alive)
    if dead:
        await ThreadRecord.filter(mailbox=mailbox, thread_id__in=dead).delete()
    rows = await StoredMessage.filter(mailbox=mailbox, thread_id__in=sorted(alive)).only("id")
    return [row.id for row in rows]


async def sync_folders(
    session: ImapSession | Mapping[str, ImapSession],
    mailbox: Mailbox,
    folders: list[Folder],
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Sync ``folders`` over an open session (or one kept-selected session per folder
    name), then re-evaluate the threads they touched."""
    report = SyncReport(mailbox.name)
    touched: list[str] = []
    for folder in folders:
        if isinstance(session, ImapSession):
            one, kept = session, False
        else:
            one, kept = session[folder.name], True
        folder_report, changed, gone = await sync_folder(
            one, mailbox, folder, since, progress, kept=kept
        )
        report.folders.append(folder_report)
        report.changed_ids += changed
        touched += gone
    report.changed_ids += await _forget_touched(mailbox, touched)
    if report.changed_ids:
        records = await reevaluate(mailbox, sorted(set(report.changed_ids)), policy)
        report.threads_changed = len(records)
        report.thread_ids = [r.thread_id for r in records]
    return report


async def open_folders(session: ImapSession, mailbox: Mailbox) -> list[Folder]:
    """Discover the watched folders (LIST) and their stored cursors."""
    infos = await asyncio.to_thread(session.folders)
    return await folder_rows(mailbox, infos)


async def sync_mailbox(
    mailbox: Mailbox,
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Connect, sync every watched folder of ``mailbox`` once, re-evaluate, disconnect."""
    url = parse_url(decrypt(mailbox.imap_secret), "imap")
    session = await asyncio.to_thread(ImapSession, url)
    try:
        folders = await open_folders(session, mailbox)
        return await sync_folders(
            session, mailbox, folders, policy, since or mailbox.history_since, progress
        )
    finally:
        await asyncio.to_thread(session.close)
