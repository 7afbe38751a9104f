"""The scale-out watcher: hold IDLE on many mailboxes, turn every change into a sync job.

Each watcher process runs one :class:`FleetWatcher`. Every second it announces itself,
renews its leases (dropping mailboxes whose lease it lost), and plans with the core
(:func:`assistant.core.leases.plan_leases`) which free mailboxes to take and which to give back
so live watchers hold a fair share each. For every mailbox it holds, one asyncio task per
watched folder IDLEs (:mod:`assistant.mail.idle`); any server push requests a sync
(:meth:`Fleet.request_sync`). A newly taken mailbox is synced at once (changes may have
arrived while nobody watched it). A folder whose connection fails is retried with backoff;
mailboxes whose URL aioimaplib cannot open (STARTTLS, OAuth2) are left to the workers'
periodic sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from dataclasses import dataclass, field

from ..clock import Clock
from ..core.backoff import Backoff
from ..core.connections import DEFAULT_BUDGET, plan_idle
from ..core.leases import plan_leases
from ..mail.idle import UrlSource, supports_idle_url, watch_folder
from ..mail.urls import MailURL
from ..service import credentials
from ..service.folders import WATCHED_ROLES
from ..store.models import Folder, Mailbox
from .fleet import Fleet

log = logging.getLogger("followup.fleet")
BACKOFF_MAX = 60.0


@dataclass
class Held:
    """A mailbox this watcher holds, and its folder tasks."""

    mailbox_id: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: The folders idled on; ``settled`` once they were planned from the stored folders
    #: (a mailbox never synced has none yet: INBOX only, re-planned after its first sync).
    folders: tuple[str, ...] = ()
    settled: bool = False


class FleetWatcher:
    """One watcher process's loop (see the module docstring)."""

    def __init__(
        self, fleet: Fleet, clock: Clock, tick: float = 1.0, budget: int = DEFAULT_BUDGET
    ) -> None:
        self.fleet = fleet
        self.clock = clock
        #: IMAP connections per mailbox: IDLE goes to INBOX, then Sent, while it lasts (the
        #: sync and delivery jobs take one each; the rest is found by the periodic sync).
        self.budget = budget
        self.tick = tick
        self.held: dict[int, Held] = {}
        self.connections = 0
        self._stop = asyncio.Event()

    @staticmethod
    def new_id() -> str:
        """A watcher id unique on this machine and across machines."""
        return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"

    def stop(self) -> None:
        """Finish the loop, close every connection, give the leases back."""
        self._stop.set()

    async def run(self) -> None:
        """Until :meth:`stop`: keep leases and IDLE tasks in line with the plan."""
        try:
            while not self._stop.is_set():
                try:
                    await self.step()
                except Exception as exc:  # Redis or the store away: keep trying
                    log.warning(
                        "fleet step failed", extra={"error": f"{exc.__class__.__name__}: {exc}"}
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.tick)
        finally:
            for mailbox_id in list(self.held):
                await self._drop(mailbox_id, release=True)

    async def step(self) -> None:
        """One round: heartbeat, renew, plan, acquire/release."""
        fleet = self.fleet
        await fleet.heartbeat()
        for mailbox_id in list(self.held):
            if await fleet.renew(mailbox_id):
                continue
            if await fleet.acquire(mailbox_id):
                # The lease had vanished (Redis restarted empty): ours again, IDLE goes on;
                # ask for a sync, since a change may have been lost with Redis's queue.
                log.info("lease taken again", extra={"mailbox_id": mailbox_id})
                await fleet.request_sync(mailbox_id)
                continue
            log.warning("lease lost", extra={"mailbox_id": mailbox_id})
            await self._drop(mailbox_id, release=False)
        ids = [m.id for m in await Mailbox.all().only("id")]
        holders = await fleet.holders(ids)
        free = [i for i, holder in holders.items() if holder is None]
        plan = plan_leases(self.held, free, len(ids), await fleet.live_watchers())
        for mailbox_id in plan.release:
            await self._drop(mailbox_id, release=True)
        for mailbox_id in plan.acquire:
            if await fleet.acquire(mailbox_id):
                await self._take(mailbox_id)
        await self._settle_idle()

    async def _settle_idle(self) -> None:
        """Mailboxes taken before their first sync idle on INBOX only: plan them again once
        their folders are known (Sent then gets its IDLE within the budget)."""
        for held in [h for h in self.held.values() if not h.settled]:
            await self._idle_on(held)

    async def _take(self, mailbox_id: int) -> None:
        try:
            mailbox = await Mailbox.get(id=mailbox_id)
            url = credentials.stored_url(mailbox, "imap")
        except Exception as exc:  # gone, wrong key, bad URL: do not sit on the lease
            log.warning("cannot watch mailbox", extra={"mailbox_id": mailbox_id, "error": str(exc)})
            await self.fleet.release(mailbox_id)
            return
        if not supports_idle_url(url):
            log.warning("no IDLE for this URL", extra={"mailbox": mailbox.name})
        held = Held(mailbox_id)
        self.held[mailbox_id] = held
        await self._idle_on(held, mailbox)
        await self.fleet.request_sync(mailbox_id)  # whatever came while nobody watched

    async def _idle_on(self, held: Held, mailbox: Mailbox | None = None) -> None:
        """Start (or re-plan) the IDLE tasks of ``held`` from its stored folders."""
        rows = await Folder.filter(mailbox_id=held.mailbox_id, role__in=WATCHED_ROLES).values_list(
            "name", "role"
        )
        ranked = sorted(rows, key=lambda row: WATCHED_ROLES.index(str(row[1])))
        names = list(dict.fromkeys(["INBOX", *(str(name) for name, _ in ranked)]))
        folders = plan_idle(names, self.budget, has_idle=True, has_notify=False).idle
        held.settled = bool(rows)
        if folders == held.folders:
            return
        mailbox = mailbox or await Mailbox.get(id=held.mailbox_id)
        url = credentials.stored_url(mailbox, "imap")
        for task in held.tasks:
            task.cancel()  # a re-plan after the first sync: their LOGOUTs end in the background
        held.tasks, held.folders = [], folders
        box = mailbox

        async def login_url() -> MailURL:  # a fresh OAuth2 token at every connection
            return await credentials.with_token(box, url, self.clock)

        if supports_idle_url(url):
            for name in folders:
                task = asyncio.create_task(self._folder(held.mailbox_id, login_url, name))
                held.tasks.append(task)
        log.info("watching mailbox", extra={"mailbox": mailbox.name, "folders": list(folders)})

    async def _folder(self, mailbox_id: int, url: UrlSource, name: str) -> None:
        # Forgotten only once a connection has worked a while, never at SELECT: a server
        # without IDLE would otherwise be logged into again and again.
        backoff = Backoff(cap=BACKOFF_MAX)

        async def changed() -> None:
            await self.fleet.request_sync(mailbox_id)

        def ready() -> None:
            backoff.opened(time.monotonic())

        while True:
            try:
                self.connections += 1
                await watch_folder(url, name, changed, ready)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                limited = getattr(exc, "kind", "") == "limit"  # too many connections
                delay = backoff.failed(time.monotonic(), random.random(), limited)
                log.warning(
                    "idle connection lost",
                    extra={
                        "mailbox_id": mailbox_id,
                        "folder": name,
                        "error": str(exc),
                        "retry_in_s": round(delay, 2),
                    },
                )
                await asyncio.sleep(delay)
                await self.fleet.request_sync(mailbox_id)  # it may have changed meanwhile
            finally:
                self.connections -= 1

    async def _drop(self, mailbox_id: int, release: bool) -> None:
        held = self.held.pop(mailbox_id, None)
        if held is None:
            return
        for task in held.tasks:
            task.cancel()  # their LOGOUTs finish in the background
        if release:
            with contextlib.suppress(Exception):
                await self.fleet.release(mailbox_id)
