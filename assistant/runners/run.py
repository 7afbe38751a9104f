"""``followup run``: one process that does the whole job on the embedded default.

Per mailbox a :class:`MailboxWatcher` keeps the store synced (IDLE); after every change the
touched threads are planned into the outbox and due rows are delivered at once, so a client
hears back seconds after writing (or right after the grace period). A ticker delivers rows
that become due later (grace periods, retries) and picks up mailboxes added while running.
Reply commands are applied after each sync; digests are planned by the ticker when a person's
local digest time comes. A small HTTP endpoint answers ``GET /health`` with JSON and serves
the digests' one-click unsubscribe link. SIGTERM/SIGINT stop everything
cleanly: watchers close their connections, rows in flight finish or resume on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from ..core.evaluate import MailboxPolicy
from ..runtime import Runtime
from ..service.deliver import DeliveryReport
from ..service.digest import plan_digests
from ..service.ingest import SyncReport
from ..service.pipeline import after_sync, deliver_mailbox, mailbox_policy, plan_mailbox
from ..store.models import Mailbox
from .watch import MailboxWatcher

log = logging.getLogger("followup.run")


@dataclass
class Service:
    """The single-process service."""

    runtime: Runtime
    dry_run: bool = False
    poll_interval: float = 30.0
    tick: float = 5.0
    health_host: str = "127.0.0.1"
    health_port: int | None = 8086
    watchers: dict[int, MailboxWatcher] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = self.runtime.clock
        self.started_at = self.clock.now()
        self._stop = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.deliveries: list[DeliveryReport] = []
        self.health_bound: int | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to finish."""
        self._stop.set()

    async def policy(self, mailbox: Mailbox) -> MailboxPolicy:
        """The mailbox's rules with the team's people as the store has them now."""
        return await mailbox_policy(self.runtime, mailbox)

    async def _after_change(self, mailbox: Mailbox, report: SyncReport) -> None:
        await after_sync(self.runtime, mailbox, report, self.clock.now())
        await self.deliver(mailbox)

    async def deliver(self, mailbox: Mailbox) -> DeliveryReport | None:
        """Deliver what is due for ``mailbox`` (one pass at a time per mailbox)."""
        lock = self._locks.setdefault(mailbox.id, asyncio.Lock())
        async with lock:
            report = await deliver_mailbox(self.runtime, mailbox, self.clock.now(), self.dry_run)
            if report is not None:
                self.deliveries.append(report)
            return report

    async def _start_new_watchers(self) -> None:
        for mailbox in await Mailbox.all():
            if mailbox.id in self.watchers:
                continue
            try:  # what an earlier run or a one-shot sync stored but never planned
                await plan_mailbox(self.runtime, mailbox)
            except Exception:
                log.exception("planning failed", extra={"mailbox": mailbox.name})

            async def hook(report: SyncReport, box: Mailbox = mailbox) -> None:
                await self._after_change(box, report)

            watcher = MailboxWatcher(
                mailbox,
                await self.policy(mailbox),
                poll_interval=self.poll_interval,
                on_change=hook,
                clock=self.clock,
                budget=self.runtime.config.imap.max_connections,
                sync_workers=self.runtime.sync_workers,
            )
            self.watchers[mailbox.id] = watcher
            self._tasks[mailbox.id] = asyncio.create_task(
                watcher.run(), name=f"watch:{mailbox.name}"
            )
            log.info(
                "watching mailbox",
                extra={"mailbox": mailbox.name, "dry_run": self.dry_run or mailbox.dry_run},
            )

    async def _ticker(self) -> None:
        warned = False
        while not self._stop.is_set():
            await self._start_new_watchers()
            if not self.watchers and not warned:
                self._warn_no_mailboxes()
                warned = True
            await self._digests()
            await self._deliver_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.tick)

    def _warn_no_mailboxes(self) -> None:
        log.warning(
            "no mailboxes yet: connect one on the web page "
            f"(http://{self.health_host}:{self.health_bound or self.health_port}/) or with "
            "`followup mailbox add NAME --address ... --imap URL --smtp URL --team "
            "@yourdomain`; it is picked up within seconds"
        )

    async def _digests(self) -> None:
        try:
            digests = await plan_digests(self.runtime, self.clock.now())
            for error in digests.errors:
                log.warning("digest not sent", extra={"error": error})
        except Exception:
            log.exception("digest pass failed")

    async def _deliver_all(self) -> None:
        for watcher in list(self.watchers.values()):
            try:
                watcher.policy = await self.policy(watcher.mailbox)  # people change
                await plan_mailbox(self.runtime, watcher.mailbox)
                await self.deliver(watcher.mailbox)
            except Exception:  # one mailbox's trouble must not stop the others
                log.exception("delivery pass failed", extra={"mailbox": watcher.mailbox.name})

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers to anyone who asks: ok or failing per mailbox, never
        an address or an error's text (those are in the log and on the logged-in pages)."""
        boxes = [
            {
                "name": w.mailbox.name,
                "ok": w.idle_ready.is_set() or w.stats.last_error is None,
                "connected": w.idle_ready.is_set(),
                "caught_up": w.waiting.is_set(),
                "checks": w.stats.checks,
                "reconnects": w.stats.reconnects,
                "paused": w.mailbox.paused_reason is not None,
                "needs_reauth": "needs re-authorisation" in (w.mailbox.failing_reason or ""),
            }
            for w in self.watchers.values()
        ]
        return {
            "status": "ok" if all(b["ok"] for b in boxes) else "failing",
            "started_at": self.started_at.isoformat(),
            "dry_run": self.dry_run,
            "mailboxes": boxes,
        }

    async def run(self) -> None:
        """Run until :meth:`stop`."""
        server = None
        if self.health_port is not None:
            from ..web.app import create_app
            from ..web.serve import WebServer, is_loopback

            async def health() -> dict[str, Any]:
                return self.health()

            exposed = not is_loopback(self.health_host)
            server = WebServer(
                create_app(self.runtime, health, exposed),
                self.health_host,
                self.health_port,
                self.runtime.config.web.trusted_proxies,
            )
            await server.start()
            self.health_bound = server.port
            base = f"http://{self.health_host}:{self.health_bound}"
            log.info("health endpoint", extra={"url": f"{base}/health", "web": f"{base}/"})
        ticker = asyncio.create_task(self._ticker(), name="ticker")
        try:
            await self._stop.wait()
        finally:
            for watcher in self.watchers.values():
                watcher.stop()
            await asyncio.gather(ticker, *self._tasks.values(), return_exceptions=True)
            if server is not None:
                await server.stop()
            log.info("stopped")
