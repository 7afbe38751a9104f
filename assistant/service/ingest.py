"""Sync a mailbox: discover folders, fetch header records incrementally, store them.

Blocking IMAP calls run in a worker thread (``asyncio.to_thread``) so one process can sync
many mailboxes. Each batch of records is committed together with the folder cursor that
covers it, so an interrupted first sync resumes where it stopped and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..clock import Clock
from ..core.authenticity import Screen, screen_for
from ..core.cutoff import history_cutoff
from ..core.evaluate import MailboxPolicy
from ..core.syncplan import Cursor, Plan, ServerStatus, Step, batches, needs_reconcile, plan_sync
from ..mail.fetchparse import Fetched
from ..mail.imap import ImapSession
from ..store.bulk import insert_columns
from ..store.models import Folder, Mailbox, StoredMessage
from . import credentials
from .folders import open_folders
from .prepare import Prepared, Preparer, Target
from .storing import STORE_BATCH, store_batch
from .thread_rows import LoadedThread, forget_touched, thread_ids_of, unevaluated

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
    #: The evaluate step's threads left awaiting the team, for the planner (by thread id).
    evaluated: dict[str, LoadedThread] = field(default_factory=dict)

    @property
    def new(self) -> int:
        """New messages stored."""
        return sum(f.new for f in self.folders)


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


@dataclass(frozen=True, slots=True)
class _Fetch:
    """What every folder of one sync shares: the mailbox, the history bound, the parse
    workers, the clock, progress, and (per folder) the authenticity screen."""

    mailbox: Mailbox
    since: datetime | None
    progress: Progress | None
    preparer: Preparer
    clock: Clock
    screen: Screen | None = None


class _Ahead:
    """FETCHes a few batches ahead (socket reads, in a thread), parsed by the workers while
    the current one is stored. The lock keeps one FETCH at a time on the session (asyncio
    locks are first come, first served, so batches are fetched in order)."""

    def __init__(self, session: ImapSession, preparer: Preparer, target: Target, pooled: bool):
        self.session, self.preparer, self.target, self.pooled = session, preparer, target, pooled
        self.fetching = asyncio.Lock()
        self.stopped = False
        self.tasks: deque[asyncio.Task[Prepared]] = deque()

    async def produce(self, batch_uids: list[int]) -> Prepared:
        async with self.fetching:
            if self.stopped:
                return Prepared([], [], [])
            job = asyncio.ensure_future(asyncio.to_thread(_fetch_list, self.session, batch_uids))
            try:
                fetched = await asyncio.shield(job)
            except BaseException:
                # Failed or cancelled: no FETCH after this one, and the lock (the session) is
                # held until this FETCH's thread is done (a thread cannot be cancelled).
                self.stopped = True
                await _settled(job)
                raise
        return await self.preparer.prepare(fetched, self.target, pooled=self.pooled)

    async def stop(self) -> None:
        """No new FETCH starts, and none still runs on the session when this returns."""
        self.stopped = True
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        async with self.fetching:  # a cancelled batch holds it until its thread is done
            pass


async def _fetch_new(session: ImapSession, folder: Folder, plan: Plan, job: _Fetch) -> list[int]:
    uids = await asyncio.to_thread(session.uids_from, plan.fetch_from_uid, job.since)
    pooled = job.preparer.wants_pool(len(uids))
    if pooled:
        job.preparer.start()  # the workers start while the first FETCH runs
    columns = insert_columns(StoredMessage)
    target = Target(job.mailbox.id, folder.id, folder.name, columns, job.screen)
    ahead = _Ahead(session, job.preparer, target, pooled)
    try:
        changed = await _store_all(folder, batches(uids, STORE_BATCH), ahead, job)
    finally:  # a failed store or a cancelled sync: the session is free again for the caller
        await ahead.stop()
    if uids:  # once per fetch, not per batch: a stale count only costs a reconcile
        folder.message_count = await StoredMessage.filter(folder=folder).count()
        await folder.save(update_fields=["message_count"])
    return changed


async def _store_all(
    folder: Folder, todo: list[list[int]], ahead: _Ahead, job: _Fetch
) -> list[int]:
    """Store each batch in order while the next ones are fetched and parsed."""
    changed: list[int] = []
    done, total = 0, sum(map(len, todo))
    for index, batch_uids in enumerate(todo):
        while len(ahead.tasks) <= AHEAD and index + len(ahead.tasks) < len(todo):
            upcoming = todo[index + len(ahead.tasks)]
            ahead.tasks.append(asyncio.ensure_future(ahead.produce(upcoming)))
        batch = await ahead.tasks.popleft()
        changed += await store_batch(folder, batch, ahead.target.columns, job.clock.now())
        done += len(batch_uids)
        if job.progress:
            job.progress(folder.name, done, total)
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
    session: ImapSession, folder: Folder, job: _Fetch, *, kept: bool = False
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
        changed, touched = await _follow(session, folder, plan, status, report, job, kept)
    if plan.idle and folder.synced_at is not None:
        return report, changed, touched  # nothing moved: no write at all
    folder.uidvalidity = status.uidvalidity
    folder.uidnext = max(status.uidnext, folder.last_uid + 1)
    folder.highestmodseq = status.highestmodseq
    folder.synced_at = job.clock.now()
    await folder.save()
    return report, changed, touched


async def _follow(
    session: ImapSession,
    folder: Folder,
    plan: Plan,
    status: ServerStatus,
    report: FolderReport,
    job: _Fetch,
    kept: bool,
) -> tuple[list[int], list[str]]:
    """Run the plan's steps on the folder: changed row ids and touched thread ids."""
    changed: list[int] = []
    touched: list[str] = []
    report.reason = plan.reason
    reset = Step.RESET in plan.steps
    if not kept or reset:
        await asyncio.to_thread(session.select, folder.name)
    if reset:
        touched += await thread_ids_of(StoredMessage.filter(folder=folder))
        await StoredMessage.filter(folder=folder).delete()
        folder.last_uid, folder.message_count, folder.highestmodseq = 0, 0, None
        report.reset = True
    if Step.FETCH_NEW in plan.steps:
        _mark_history(folder, status, reset)
        # Record the validity first: an interrupted first sync then resumes after last_uid.
        folder.uidvalidity = status.uidvalidity
        await folder.save(update_fields=CURSOR_FIELDS)
        new = await _fetch_new(session, folder, plan, job)
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
    return changed, touched


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
    kept selected on it, ``""`` to the session for the others). The report's
    ``changed_ids`` are the rows the evaluate step must re-thread
    (:func:`~.pipeline.evaluate_changes`; sync never evaluates).

    ``recover`` also names rows an earlier, interrupted pass stored but never threaded (a
    one-shot sync and a watcher's first check ask for it). ``workers``: see
    :class:`~.prepare.Preparer` (the runtime's ``sync_workers``)."""
    report = SyncReport(mailbox.name)
    touched: list[str] = []
    job = _Fetch(mailbox, since, progress, Preparer(workers=workers), clock)
    try:
        for folder in folders:
            one, kept = _session_for(session, folder)
            screen = screen_for(folder.role, policy.team, policy.ladder.trust)
            folder_report, changed, gone = await sync_folder(
                one, folder, replace(job, screen=screen), kept=kept
            )
            report.folders.append(folder_report)
            report.changed_ids += changed
            touched += gone
    finally:
        if job.preparer.running:
            await asyncio.to_thread(job.preparer.close)
    await _to_evaluate(mailbox, report, touched, recover)
    return report


async def _to_evaluate(
    mailbox: Mailbox, report: SyncReport, touched: list[str], recover: bool
) -> None:
    """Add to ``changed_ids`` the rows of threads that lost messages and (with ``recover``,
    or whenever anything changed) the rows an interrupted pass never threaded."""
    report.changed_ids += await forget_touched(mailbox, touched)
    if recover or report.changed_ids:
        report.changed_ids += await unevaluated(mailbox)
    report.changed_ids = sorted(set(report.changed_ids))


def _session_for(
    session: ImapSession | Mapping[str, ImapSession], folder: Folder
) -> tuple[ImapSession, bool]:
    """The connection to sync ``folder`` on, and whether it is kept selected on it."""
    if isinstance(session, ImapSession):
        return session, False
    if folder.name in session:
        return session[folder.name], True
    return session[""], False  # the connection the other folders share, checked by STATUS


async def sync_mailbox(
    mailbox: Mailbox,
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    clock: Clock,
    workers: int | None = None,
) -> SyncReport:
    """Connect, sync every watched folder of ``mailbox`` once, disconnect (``workers``: as
    :func:`sync_folders`); :func:`~.pipeline.sync_and_evaluate` evaluates too."""
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
