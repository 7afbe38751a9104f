"""The long-running commands: ``followup watch`` (keep mailboxes synced) and ``followup run``
(the whole service in one process)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import click

from .cli_mailbox import EXPECTED, config_option, run_with_store
from .logs import setup_logging
from .mail.urls import redact
from .runtime import Runtime
from .service.mailboxes import MailboxError
from .service.run import Service
from .service.watch import MailboxWatcher
from .store.models import Mailbox


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
@click.option("--log-level", default="INFO", show_default=True)
@config_option
def watch(
    poll: float, no_idle: bool, processes: int | None, log_level: str, config: Path | None
) -> None:
    """Keep every mailbox synced (IMAP IDLE, polling fallback) until stopped (Ctrl-C).

    With FOLLOWUP_REDIS_URL set (or --workers), watch in the scale-out mode instead."""
    setup_logging(log_level)
    log = logging.getLogger("followup.watch")
    try:
        runtime = Runtime.from_env(config)
    except EXPECTED as exc:
        raise click.ClickException(str(exc)) from None
    if processes is not None or runtime.redis_url:
        from .cli_scale import run_watchers

        run_watchers(runtime, processes or 1, log_level)
        return

    async def work(runtime: Runtime) -> None:
        mailboxes = await Mailbox.all().order_by("name")
        if not mailboxes:
            raise MailboxError("no mailboxes to watch: followup mailbox add ...")
        watchers = [
            MailboxWatcher(
                m,
                runtime.policy(m),
                poll_interval=poll,
                use_idle=not no_idle,
                clock=runtime.clock,
                budget=runtime.config.imap.max_connections,
            )
            for m in mailboxes
        ]

        def stop_all() -> None:
            for watcher in watchers:
                watcher.stop()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_all)
        log.info("watching", extra={"mailboxes": [m.name for m in mailboxes], "idle": not no_idle})
        await asyncio.gather(*(w.run() for w in watchers))
        log.info("stopped")

    run_with_store(config, work)


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
@click.option("--log-level", default="INFO", show_default=True)
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
    if data_dir is not None:
        os.environ["FOLLOWUP_DATA_DIR"] = str(data_dir)

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

    run_with_store(config, work)
