"""The long-running commands: ``followup watch`` (keep mailboxes synced, in this process or
as N watcher processes of the scale-out mode) and ``followup run`` (the whole service in one
process)."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import multiprocessing
import os
import signal
from dataclasses import replace
from pathlib import Path

import click

from ..core.errors import FollowupError
from ..logs import setup_logging
from ..mail.urls import redact
from ..runners.run import Service
from ..runners.watch import MailboxWatcher
from ..runtime import Runtime
from ..service.mailboxes import MailboxError, every_mailbox
from ..store.db import store
from .common import config_option, log_level_option, reported, run_in_store

log = logging.getLogger("followup.scale")


@click.command()
@click.option("--poll", "poll", default=30.0, show_default=True, help="Seconds between checks.")
@click.option("--no-idle", is_flag=True, help="Poll only (for servers whose IDLE misbehaves).")
@click.option(
    "--workers",
    "processes",
    type=click.IntRange(min=1),
    help="Scale-out mode (needs FOLLOWUP_REDIS_URL): N watcher processes share the mailboxes "
    "by Redis leases and enqueue sync jobs for `followup worker`.",
)
@log_level_option
@config_option
def watch(
    poll: float, no_idle: bool, processes: int | None, log_level: str, config: Path | None
) -> None:
    """Keep every mailbox synced (IMAP IDLE, polling fallback) until stopped (Ctrl-C).

    With FOLLOWUP_REDIS_URL set (or --workers), watch in the scale-out mode instead."""
    setup_logging(log_level)
    runtime = Runtime.from_env(config)
    if processes is not None or runtime.redis_url:
        run_watchers(replace(runtime, log_level=log_level), processes or 1)
        return
    run_in_store(runtime, lambda runtime: _watch_here(runtime, poll, use_idle=not no_idle))


async def _watch_here(runtime: Runtime, poll: float, use_idle: bool) -> None:
    """Watch every mailbox in this process until SIGINT or SIGTERM."""
    log = logging.getLogger("followup.watch")
    mailboxes = await every_mailbox()
    if not mailboxes:
        raise MailboxError("no mailboxes to watch: followup mailbox add ...")
    watchers = [
        MailboxWatcher(
            m,
            runtime.policy(m),
            poll_interval=poll,
            use_idle=use_idle,
            clock=runtime.clock,
            budget=runtime.config.imap.max_connections,
            sync_workers=runtime.sync_workers,
        )
        for m in mailboxes
    ]

    def stop_all() -> None:
        for watcher in watchers:
            watcher.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)
    log.info("watching", extra={"mailboxes": [m.name for m in mailboxes], "idle": use_idle})
    await asyncio.gather(*(w.run() for w in watchers))
    log.info("stopped")


@click.command("run")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the SQLite store lives (or FOLLOWUP_DATA_DIR; default ~/.local/share/followup).",
)
@click.option(
    "--dry-run", is_flag=True, help="Shadow mode: record what would be sent, send nothing."
)
@click.option("--poll", "poll", default=30.0, show_default=True, help="Seconds between checks.")
@click.option(
    "--health-port",
    default=8086,
    show_default=True,
    help="GET /health (and digest unsubscribe links) on this port (0 picks a free one).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the health port listens on."
)
@log_level_option
@config_option
def run_command(
    data_dir: Path | None,
    dry_run: bool,
    poll: float,
    health_port: int,
    host: str,
    log_level: str,
    config: Path | None,
) -> None:
    """Run Followup in one process: sync every mailbox (IDLE), acknowledge, deliver."""
    setup_logging(log_level)
    runtime = Runtime.from_env(config, data_dir=data_dir)

    async def work(runtime: Runtime) -> None:
        service = Service(
            runtime,
            dry_run=dry_run,
            poll_interval=poll,
            health_port=health_port,
            health_host=host,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        logging.getLogger("followup.run").info(
            "started", extra={"database": redact(runtime.database_url), "dry_run": dry_run}
        )
        await service.run()

    run_in_store(runtime, work)


def _watch_process(
    database_url: str, redis_url: str, lease_seconds: float, log_level: str, budget: int
) -> None:
    """One watcher process (run by multiprocessing)."""
    from arq import create_pool

    from workers.settings import redis_settings

    from ..clock import SystemClock
    from ..runners.fleet import Fleet
    from ..runners.scale_watch import FleetWatcher

    setup_logging(log_level)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where is it?

    async def main() -> None:
        async with store(database_url):
            pool = await create_pool(redis_settings(redis_url))
            fleet = Fleet(pool, FleetWatcher.new_id(), lease_seconds)
            watcher = FleetWatcher(fleet, SystemClock(), budget=budget)  # the one clock
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, watcher.stop)
            log.info("watcher started", extra={"watcher": watcher.fleet.watcher_id})
            try:
                await watcher.run()
            finally:
                await pool.aclose()
            log.info("watcher stopped")

    try:
        asyncio.run(main())
    except FollowupError as exc:  # a process of its own: no command group around it
        reported(exc).show()
        raise SystemExit(1) from None


def run_watchers(runtime: Runtime, processes: int) -> None:
    """Start ``processes`` watcher processes and wait for them (Ctrl-C stops them all)."""
    url = runtime.queue_url()
    lease = runtime.config.scale.lease_seconds
    budget = runtime.config.imap.max_connections
    args = (runtime.database_url, url, lease, runtime.log_level, budget)
    if processes == 1:
        _watch_process(*args)
        return
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_watch_process, args=args, daemon=False) for _ in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
