"""Sync a mailbox: discover folders, fetch header records incrementally, store, re-evaluate.

Blocking IMAP calls run in a worker thread (``asyncio.to_thread``) so one process can sync
many mailboxes. Each batch of records is committed together with the folder cursor that
covers it, so an interrupted first sync resumes where it stopped and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.queryset import QuerySet

from ..clock import Clock
from ..core.authenticity import Screen, screen_for
from ..core.cutoff import history_cutoff
from ..core.evaluate import MailboxPolicy
from ..core.syncplan import Cursor, Plan, ServerStatus, Step, batches, needs_reconcile, plan_sync
from ..mail.fetchparse import Fetched
from ..mail.imap import ImapSession
from ..store.bulk import fetch_all, insert_columns
from ..store.models import Folder, Mailbox, StoredMessage, ThreadRecord
from . import credentials
from .evaluate import reevaluate
from .folders import open_folders
from .prepare import Prepared, Preparer, Target
from .storing import STORE_BATCH, store_batch

#: Folders whose mail tells who is waiting: client mail in INBOX, the team's replies in Sent.

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


def _cursor(row: Folder) -> Cursor:
    return Cursor(row.uidvalidity, row.uidnext, row.highestmodseq, row.last_uid, row.message_count)


def _fetch_list(session: ImapSession, uids: list[int]) -> list[Fetched]:
    return list(session.fetch_headers(uids))


#: Batches fetched and prepared ahead of the one being stored.
AHEAD = 3


async def _settled(job: asyncio.Future[Any]) -> None:
    """Wait until ``job`` is done, whatever cancellations arrive meanwhile (its thread runs
    on regardless; the socket timeout bounds it)."""
    while not job.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([job])


async def _fetch_new(
    session: ImapSession,
    mailbox: Mailbox,
    folder: Folder,
    plan: Plan,
    since: datetime | None,
    progress: Progress | None,
    preparer: Preparer,
    clock: Clock,
    screen: Screen | None,
) -> list[int]:
    uids = await asyncio.to_thread(session.uids_from, plan.fetch_from_uid, since)
    changed: list[int] = []
    done = 0
    todo = batches(uids, STORE_BATCH)
    pooled = preparer.wants_pool(len(uids))
    if pooled:
        preparer.start()  # the workers start while the first FETCH runs
    target = Target(mailbox.id, folder.id, folder.name, insert_columns(StoredMessage), screen)
    # A few batches ahead are fetched (socket reads, in a thread) and parsed (in the
    # workers) while this one is stored. The lock keeps one FETCH at a time on the session
    # (asyncio locks are first come, first served, so batches are fetched in order).
    fetching = asyncio.Lock()
    stopped = False

    async def produce(batch_uids: list[int]) -> Prepared:
        nonlocal stopped
        async with fetching:
            if stopped:
                return Prepared([], [], [])
            job = asyncio.ensure_future(asyncio.to_thread(_fetch_list, session, batch_uids))
            try:
                fetched = await asyncio.shield(job)
            except BaseException:
                # Failed or cancelled: no FETCH after this one, and the lock (the session) is
                # held until this FETCH's thread is done (a thread cannot be cancelled).
                stopped = True
                await _settled(job)
                raise
        return await preparer.prepare(fetched, target, pooled=pooled)

    ahead: deque[asyncio.Task[Prepared]] = deque()
    try:
        for index, batch_uids in enumerate(todo):
            while len(ahead) <= AHEAD and index + len(ahead) < len(todo):
                ahead.append(asyncio.ensure_future(produce(todo[index + len(ahead)])))
            batch = await ahead.popleft()
            changed += await store_batch(folder, batch, target.columns, clock.now())
            done += len(batch_uids)
            if progress:
                progress(folder.name, done, len(uids))
    finally:
        # A failed store or a cancelled sync: no new FETCH starts, and none still runs on the
        # session when the caller uses it again.
        stopped = True
        for task in ahead:
            with contextlib.suppress(BaseException):
                await task
        async with fetching:  # a cancelled batch holds it until its thread is done
            pass
    if uids:  # once per fetch, not per batch: a stale count only costs a reconcile
        folder.message_count = await StoredMessage.filter(folder=folder).count()
        await folder.save(update_fields=["message_count"])
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


#: What a fetch records before it starts: the validity, the cursor and the history cut-off.
CURSOR_FIELDS = [
    "uidvalidity",
    "last_uid",
    "message_count",
    "highestmodseq",
    "first_uidnext",
    "first_uidvalidity",
]


def _mark_history(folder: Folder, status: ServerStatus, reset: bool) -> None:
    """Below the cut-off is history, never acknowledged: the UIDNEXT recorded when the
    mailbox was connected, else (or once the folder is renumbered) today's."""
    if folder.first_uidnext is not None and not reset:
        return
    folder.first_uidnext = history_cutoff(
        None if reset else folder.first_uidnext,
        folder.first_uidvalidity,
        status.uidvalidity,
        status.uidnext,
    )
    folder.first_uidvalidity = status.uidvalidity


async def sync_folder(
    session: ImapSession,
    mailbox: Mailbox,
    folder: Folder,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    preparer: Preparer,
    kept: bool = False,
    clock: Clock,
    screen: Screen | None = None,
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
            _mark_history(folder, status, Step.RESET in plan.steps)
            # Record the validity first: an interrupted first sync then resumes after last_uid.
            folder.uidvalidity = status.uidvalidity
            await folder.save(update_fields=CURSOR_FIELDS)
            new = await _fetch_new(
                session, mailbox, folder, plan, since, progress, preparer, clock, screen
            )
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
    folder.synced_at = clock.now()
    await folder.save()
    return report, changed, touched


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


async def sync_folders(
    session: ImapSession | Mapping[str, ImapSession],
    mailbox: Mailbox,
    folders: list[Folder],
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    recover: bool = False,
    clock: Clock,
    workers: int | None = None,
) -> SyncReport:
    """Sync ``folders`` over an open session (or a mapping: a folder's name to the session
    kept selected on it, ``""`` to the session for the others), then re-evaluate the
    threads they touched.

    ``recover`` also re-evaluates rows an earlier, interrupted sync stored but never
    threaded (a one-shot sync and a watcher's first check ask for it). ``workers``: see
    :class:`~.prepare.Preparer` (the runtime's ``sync_workers``)."""
    report = SyncReport(mailbox.name)
    touched: list[str] = []
    preparer = Preparer(workers=workers)
    try:
        for folder in folders:
            if isinstance(session, ImapSession):
                one, kept = session, False
            elif folder.name in session:
                one, kept = session[folder.name], True
            else:  # "": the connection the other folders share, checked by STATUS
                one, kept = session[""], False
            screen = screen_for(folder.role, policy.team, policy.ladder.trust)
            folder_report, changed, gone = await sync_folder(
                one,
                mailbox,
                folder,
                since,
                progress,
                preparer=preparer,
                kept=kept,
                clock=clock,
                screen=screen,
            )
            report.folders.append(folder_report)
            report.changed_ids += changed
            touched += gone
    finally:
        if preparer.running:
            await asyncio.to_thread(preparer.close)
    report.changed_ids += await _forget_touched(mailbox, touched)
    if recover or report.changed_ids:
        report.changed_ids += await unevaluated(mailbox)
    if report.changed_ids:
        report.changed_ids = sorted(set(report.changed_ids))
        report.thread_ids = await reevaluate(mailbox, report.changed_ids, policy, clock.now())
        report.threads_changed = len(report.thread_ids)
    return report


async def sync_mailbox(
    mailbox: Mailbox,
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    clock: Clock,
    workers: int | None = None,
) -> SyncReport:
    """Connect, sync every watched folder of ``mailbox`` once, re-evaluate, disconnect
    (``workers``: as :func:`sync_folders`)."""
    session = await credentials.open_imap(mailbox, clock)
    try:
        folders = await open_folders(session, mailbox)
        return await sync_folders(
            session,
            mailbox,
            folders,
            policy,
            since or mailbox.history_since,
            progress,
            recover=True,
            clock=clock,
            workers=workers,
        )
    finally:
        await asyncio.to_thread(session.close)
