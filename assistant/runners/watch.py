"""Keep mailboxes synced: IMAP IDLE for push, a cheap STATUS check, reconnect with backoff.

Per mailbox, a :class:`MailboxWatcher` holds one sync connection for every watched folder
(INBOX kept selected on it: an unchanged INBOX costs a NOOP + STATUS, flat in its size, and new
mail is fetched with no SELECT; the other folders are checked by STATUS) and IDLE connections
in their own threads within the mailbox's connection budget (:mod:`assistant.core.connections`:
one on INBOX that also watches the other folders by NOTIFY where the server offers it). IDLE is
re-issued every ``IDLE_RENEW`` (servers drop IDLE after 30 minutes; RFC 2177 says re-issue
before 29) and waited on in short slices so a stop request is noticed within a second. An
IDLE response wakes the sync loop at once; without IDLE (or when IDLE misses a change, as
some servers do for flag changes) the loop still checks every ``poll_interval``.

Any connection failure closes everything and reconnects after an exponential backoff with
full jitter (``1, 2, 4, ... 300`` seconds), logging each attempt; nothing is lost because the
cursors live in the store and the next check picks up from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from imapclient.exceptions import IMAPClientError

from ..clock import Clock
from ..core.backoff import Backoff
from ..core.connections import DEFAULT_BUDGET, plan_idle
from ..core.evaluate import MailboxPolicy
from ..mail.imap import ConnectError, FolderInfo, ImapSession
from ..mail.urls import MailURL
from ..service import credentials
from ..service.folders import by_priority, folder_rows
from ..service.ingest import SyncReport, sync_folders
from ..service.pipeline import evaluate_changes
from ..store.models import Folder, Mailbox

log = logging.getLogger("followup.watch")

IDLE_RENEW = 24 * 60.0
IDLE_SLICE = 1.0
BACKOFF_MAX = 300.0


@dataclass
class WatchStats:
    """What a watcher has done, for logs and tests."""

    checks: int = 0
    changes: int = 0
    idle_wakeups: int = 0
    reconnects: int = 0
    last_error: str | None = None


class _Idler(threading.Thread):
    """One IDLE connection on one folder (and, by NOTIFY, on ``notify`` too); calls ``wake``
    on any untagged response."""

    def __init__(
        self, url: MailURL, folder: str, wake: Callable[[], None], notify: tuple[str, ...] = ()
    ) -> None:
        super().__init__(name=f"idle:{folder}", daemon=True)
        self.url, self.folder, self.wake, self.notify = url, folder, wake, notify
        self.stopping = threading.Event()
        self.failed: BaseException | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            with ImapSession(self.url) as session:
                if "IDLE" not in session.capabilities:
                    self.ready.set()
                    return  # the poll loop covers servers without IDLE
                session.select(self.folder)
                if self.notify:
                    session.notify(list(self.notify))
                self._loop(session)
        except BaseException as exc:  # reported to the watcher, which reconnects
            self.failed = exc
            self.wake()
        finally:
            self.ready.set()

    def _loop(self, session: ImapSession) -> None:
        client = session.client
        while not self.stopping.is_set():
            client.idle()
            self.ready.set()
            started = time.monotonic()
            try:
                while not self.stopping.is_set() and time.monotonic() - started < IDLE_RENEW:
                    if client.idle_check(timeout=IDLE_SLICE):
                        self.wake()
            finally:
                client.idle_done()


def _join_all(idlers: list[_Idler]) -> None:
    for idler in idlers:
        idler.join(IDLE_SLICE * 3)


def _wait_ready(idlers: list[_Idler]) -> None:
    for idler in idlers:
        idler.ready.wait(30)


@dataclass
class MailboxWatcher:
    """Watches one mailbox until :meth:`stop`."""

    mailbox: Mailbox
    policy: MailboxPolicy
    poll_interval: float = 30.0
    use_idle: bool = True
    on_change: Callable[[SyncReport], Awaitable[None]] | None = None
    stats: WatchStats = field(default_factory=WatchStats)
    #: The process's clock (the entry point's), for the sync cursors' times.
    clock: Clock = field(kw_only=True)
    #: IMAP connections this mailbox may hold at once (``[imap] max_connections``).
    budget: int = field(default=DEFAULT_BUDGET, kw_only=True)
    #: Parse processes of a large fetch (the runtime's ``sync_workers``; None: per core).
    sync_workers: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[str, ImapSession] = {}
        self._folders: list[Folder] = []
        self._idlers: list[_Idler] = []
        self._recovered = False
        self.idle_ready = asyncio.Event()
        #: Set while the watcher is caught up and waiting for IDLE or the next poll.
        self.waiting = asyncio.Event()

    def _wake_threadsafe(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _connect(self) -> None:
        # A fresh token per connection (OAuth2): one that expired meanwhile is never reused.
        first = await credentials.open_imap(self.mailbox, self.clock)
        url = first.url
        self._sessions = {"": first}
        infos: list[FolderInfo] = await asyncio.to_thread(
            first.folders, self.mailbox.chosen_folders()
        )
        self._folders = await folder_rows(self.mailbox, infos)
        # One sync connection for every folder (the connection budget): INBOX kept selected
        # (an unchanged check is NOOP + STATUS, new mail needs no SELECT), the others
        # checked by STATUS and selected only when they changed.
        inbox = next((row.name for row in self._folders if row.role == "inbox"), None)
        self._sessions = {"": first, **({inbox: first} if inbox else {})}
        if inbox:
            await asyncio.to_thread(first.select, inbox)
        if self.use_idle:
            self._start_idlers(url, [f.name for f in by_priority(infos)], first.capabilities)
            await asyncio.to_thread(_wait_ready, self._idlers)
            self._raise_idler_failure()
        self.idle_ready.set()

    def _start_idlers(self, url: MailURL, folders: list[str], capabilities: set[str]) -> None:
        plan = plan_idle(
            folders,
            self.budget,
            has_idle="IDLE" in capabilities,
            has_notify="NOTIFY" in capabilities,
        )
        for index, folder in enumerate(plan.idle):
            notify = plan.notify if index == 0 else ()
            idler = _Idler(url, folder, self._wake_threadsafe, notify)
            idler.start()
            self._idlers.append(idler)

    def _raise_idler_failure(self) -> None:
        for idler in self._idlers:
            if idler.failed is not None:
                raise idler.failed

    async def _disconnect(self) -> None:
        self.idle_ready.clear()
        for idler in self._idlers:
            idler.stopping.set()
        await asyncio.to_thread(_join_all, self._idlers)
        self._idlers = []
        for session in {id(s): s for s in self._sessions.values()}.values():  # each once
            await asyncio.to_thread(session.close)
        self._sessions = {}

    async def check(self) -> SyncReport:
        """One STATUS per folder; sync what moved; re-evaluate touched threads."""
        assert self._sessions
        self.stats.checks += 1
        report = await sync_folders(
            self._sessions,
            self.mailbox,
            self._folders,
            self.policy,
            recover=not self._recovered,
            clock=self.clock,
            workers=self.sync_workers,
        )
        report = await evaluate_changes(self.mailbox, report, self.policy, self.clock.now())
        self._recovered = True  # after the first check, every stored row has been threaded
        return report

    async def _watch_connected(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            report = await self.check()
            await self._mark_working()
            if report.changed_ids:
                self.stats.changes += 1
                self._log(report)
                if self.on_change:
                    await self.on_change(report)
            self._raise_idler_failure()
            self.waiting.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_any(), timeout=self.poll_interval)
            self.waiting.clear()
            if self._wake.is_set():
                self.stats.idle_wakeups += 1

    async def _wait_any(self) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _log(self, report: SyncReport) -> None:
        for f in report.folders:
            if f.new or f.flags or f.expunged or f.reset:
                log.info(
                    "mailbox changed",
                    extra={
                        "mailbox": self.mailbox.name,
                        "folder": f.name,
                        "new": f.new,
                        "flags": f.flags,
                        "expunged": f.expunged,
                        "reset": f.reset,
                        "threads": report.threads_changed,
                    },
                )

    async def _mark_failing(self, reason: str) -> bool:
        """Record that the mailbox fails (shown by ``mailbox list`` and the web page); True
        when it has just started failing."""
        first = self.mailbox.failing_since is None
        if first:
            self.mailbox.failing_since = self.clock.now()
        self.mailbox.failing_reason = reason[:500]
        with contextlib.suppress(Exception):  # the store may be what fails
            await Mailbox.filter(id=self.mailbox.id).update(
                failing_since=self.mailbox.failing_since, failing_reason=reason[:500]
            )
        return first

    async def _mark_working(self) -> None:
        """A check went through: a failing mailbox works again (said once)."""
        if self.mailbox.failing_since is None:
            return
        log.info("mailbox working again", extra={"mailbox": self.mailbox.name})
        await Mailbox.filter(id=self.mailbox.id).update(failing_since=None, failing_reason=None)
        await self.mailbox.refresh_from_db(fields=["failing_since", "failing_reason"])

    async def run(self) -> None:
        """Watch until :meth:`stop`; reconnect with jittered exponential backoff on failure."""
        self._loop = asyncio.get_running_loop()
        backoff = Backoff(cap=BACKOFF_MAX)
        while not self._stop.is_set():
            try:
                await self._connect()
                backoff.opened(time.monotonic())  # a duration, not a date: no clock needed
                await self._watch_connected()
            except Exception as exc:  # connection trouble, or a bug: never stop watching
                expected = isinstance(exc, ConnectError | IMAPClientError | OSError)
                self.stats.reconnects += 1
                self.stats.last_error = f"{exc.__class__.__name__}: {exc}"
                limited = isinstance(exc, ConnectError) and exc.kind == "limit"
                delay = backoff.failed(time.monotonic(), random.random(), limited)
                first = await self._mark_failing(self.stats.last_error)
                # Logged once when the mailbox starts failing; the retries only at debug level.
                level = (log.warning if expected else log.exception) if first else log.debug
                level(
                    "mailbox failing" if first else "still failing, reconnecting",
                    extra={
                        "mailbox": self.mailbox.name,
                        "error": self.stats.last_error,
                        "retry_in_s": round(delay, 2),
                    },
                )
                await self._disconnect()
                # The failure may have come between storing mail and threading it: the
                # first check after reconnecting threads whatever was left unthreaded.
                self._recovered = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
            finally:
                if self._stop.is_set():
                    await self._disconnect()

    def stop(self) -> None:
        """Ask :meth:`run` to finish (within about a second)."""
        self._stop.set()
