"""``followup mailbox ...``, ``followup sync`` and ``followup secret-key``: wiring only."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .cli_input import in_one_line, password_for
from .clock import Clock
from .core.durations import DurationError, parse_duration
from .core.team import PatternError
from .logs import setup_logging
from .mail.urls import MailURL, URLError, redact
from .report import wide_console
from .runtime import Runtime
from .secrets import SecretKeyError, new_key
from .service.ingest import SyncReport, sync_mailbox
from .service.loops import lift_pause
from .service.mailboxes import (
    ConnectionCheck,
    MailboxError,
    add_mailbox,
    check_connection,
    get_mailbox,
    mailbox_urls,
    parse_urls,
    summaries,
)
from .service.run import Service
from .service.watch import MailboxWatcher
from .settings import ConfigError
from .store.db import store
from .store.models import Mailbox

T = TypeVar("T")
EXPECTED = (MailboxError, URLError, PatternError, SecretKeyError, ConfigError, DurationError)


def run_with_store(
    config: Path | None, work: Callable[[Runtime], Awaitable[T]], clock: Clock | None = None
) -> T:
    """Open the store, run ``work``, close; expected errors become one-line messages.
    ``clock`` is the command's time (``--now``); the real time otherwise."""

    async def main() -> T:
        runtime = Runtime.from_env(config, clock)
        async with store(runtime.database_url):
            return await work(runtime)

    try:
        return asyncio.run(main())
    except EXPECTED as exc:
        raise click.ClickException(str(exc)) from None


config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="TOML settings (or FOLLOWUP_CONFIG).",
)


def _since(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    try:
        return now - parse_duration(value).real()
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@click.command("secret-key")
def secret_key() -> None:
    """Print a new key for FOLLOWUP_SECRET_KEY (credentials are encrypted with it)."""
    click.echo(new_key())


@click.group()
def mailbox() -> None:
    """Connect and inspect shared mailboxes."""


@mailbox.command("add")
@click.argument("name")
@click.option("--address", required=True, help="The shared address, e.g. support@example.com.")
@click.option("--imap", "imap", required=True, help="imap://, imaps:// or imap+starttls:// URL.")
@click.option("--smtp", "smtp", help="smtp://, smtps:// or smtp+starttls:// URL (for sending).")
@click.option("--team", "team", multiple=True, required=True, help="Address or @domain (repeat).")
@click.option("--owner", help="Default owner of waiting threads.")
@click.option("--grace", default="2m", show_default=True, help="Wait this long for a human reply.")
@click.option("--since", "since", help="Only sync history this recent, e.g. 90d.")
@click.option("--no-check", is_flag=True, help="Store without testing the connection first.")
@click.option(
    "--dry-run", "shadow", is_flag=True, help="Shadow mode for this mailbox: send nothing."
)
@click.option("--sent", "sent", help="The Sent folder, where the server marks none (SPECIAL-USE).")
@click.option("--archive", "archive", help="The Archive folder, where the server marks none.")
@config_option
def mailbox_add(
    name: str,
    address: str,
    imap: str,
    smtp: str | None,
    team: tuple[str, ...],
    owner: str | None,
    grace: str,
    since: str | None,
    no_check: bool,
    shadow: bool,
    sent: str | None,
    archive: str | None,
    config: Path | None,
) -> None:
    """Connect a mailbox called NAME (its connection is tested first)."""
    chosen = {role: name for role, name in (("sent", sent), ("archive", archive)) if name}
    try:
        grace_seconds = int(parse_duration(grace).real().total_seconds())
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None

    imap = password_for(imap, "IMAP")
    smtp = password_for(smtp, "SMTP") if smtp else None

    async def work(runtime: Runtime) -> None:
        imap_url, smtp_url = parse_urls(imap, smtp)
        inbox = None
        if not no_check:
            check = await check_connection(imap_url, smtp_url, chosen)
            if not (check.imap_ok and check.smtp_ok is not False):
                raise MailboxError(
                    "connection test failed, nothing stored: "
                    + "; ".join(e for e in (check.imap_error, check.smtp_error) if e)
                )
            inbox = check.inbox
        now = runtime.clock.now()
        box = await add_mailbox(
            name,
            address,
            imap,
            smtp,
            list(team),
            owner,
            grace_seconds,
            now,
            _since(since, now),
            inbox=inbox,
            chosen=chosen,
        )
        if shadow:
            box.dry_run = True
            await box.save(update_fields=["dry_run"])

    run_with_store(config, work)
    click.echo(f"mailbox {name!r} added; run `followup sync {name}` to read it")


@mailbox.command("list")
@config_option
def mailbox_list(config: Path | None) -> None:
    """List connected mailboxes (passwords are never shown)."""
    rows = run_with_store(config, lambda runtime: summaries(runtime.clock.now()))
    if not rows:
        click.echo(
            "no mailboxes yet: followup mailbox add NAME --address ... --imap ... --team ..."
        )
        return
    table = Table()
    for col in ("name", "address", "imap", "folders", "messages", "awaiting", "last sync"):
        table.add_column(col)
    for r in rows:
        last = f"{r.last_sync:%Y-%m-%d %H:%M}" if r.last_sync else "never"
        name = r.name + (" (dry run)" if r.dry_run else "") + (" PAUSED" if r.paused else "")
        table.add_row(
            name, r.address, r.imap, str(r.folders), str(r.messages), str(r.awaiting), last
        )
        notes = [
            r.paused and f"[red]{r.paused}[/] (followup mailbox resume {r.name})",
            r.failing and f"[red]FAILING[/] {r.failing}",
            r.quarantined and f"[yellow]{r.quarantined} quarantined[/] (see the web page)",
            *(f"[yellow]no automatic mail to[/] {sender}" for sender in r.paused_senders),
        ]
        for note in filter(None, notes):
            table.add_row("", str(note), *[""] * 5)
    wide_console().print(table)


@mailbox.command("test")
@click.argument("name")
@config_option
def mailbox_test(name: str, config: Path | None) -> None:
    """Connect to NAME's servers: folders, capabilities, and exactly what fails."""

    async def work(_: Runtime) -> tuple[MailURL, ConnectionCheck]:
        box = await get_mailbox(name)
        imap, smtp = mailbox_urls(box)
        return imap, await check_connection(imap, smtp, box.chosen_folders())

    imap, check = run_with_store(config, work)
    out = wide_console()
    if not check.imap_ok:
        out.print(f"[red]IMAP failed ({check.imap_error_kind})[/]: {check.imap_error}")
    else:
        out.print(f"[green]IMAP ok[/] {imap.redacted}")
        out.print("capabilities: " + " ".join(check.capabilities))
        for folder, role in check.folders:
            out.print(f"  {folder}  [dim]{role}[/]")
    if check.smtp_ok is True:
        out.print("[green]SMTP ok[/]")
    elif check.smtp_ok is False:
        out.print(f"[red]SMTP failed[/]: {check.smtp_error}")
    for problem in check.problems:
        out.print(f"[yellow]warning[/]: {problem}")
    if not check.ok:
        raise SystemExit(1)


@click.command()
@click.argument("name")
@click.option("--since", "since", help="Limit history on a first sync, e.g. 90d.")
@config_option
def sync(name: str, since: str | None, config: Path | None) -> None:
    """Sync mailbox NAME once and print what changed."""
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeRemainingColumn(), console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(folder: str, done: int, total: int) -> None:
            if folder not in tasks:
                tasks[folder] = bar.add_task(f"sync {folder}", total=total)
            bar.update(tasks[folder], completed=done, total=total)

        async def work(runtime: Runtime) -> SyncReport:
            box = await get_mailbox(name)
            history = _since(since, runtime.clock.now())
            syncing = sync_mailbox(box, runtime.policy(box), history, progress, clock=runtime.clock)
            return await in_one_line(name, syncing)

        report = run_with_store(config, work)
    out = wide_console()
    for f in report.folders:
        extra = " (UIDVALIDITY changed: resynced)" if f.reset else ""
        out.print(
            f"{f.name} [dim]{f.role}[/]: {f.new} new, {f.flags} flag changes, "
            f"{f.expunged} expunged{extra}"
        )
    out.print(f"{report.threads_changed} threads re-evaluated")


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


@mailbox.command("resume")
@click.argument("name")
@click.option("--sender", help="Lift a loop rule's pause of this address (or @domain) only.")
@config_option
def mailbox_resume(name: str, sender: str | None, config: Path | None) -> None:
    """Clear a loop pause so NAME sends again: the mailbox's, or one address's (--sender)."""

    async def work(_: Runtime) -> str | None:
        box = await get_mailbox(name)
        if sender:
            return await lift_pause(box, sender)
        reason, box.paused_reason = box.paused_reason, None  # type: ignore[assignment]  # nullable column
        await box.save(update_fields=["paused_reason"])
        return reason

    reason = run_with_store(config, work)
    what = f"automatic mail to {sender}" if sender else "sending"
    click.echo(f"{name}: {what} resumed" + (f" (was: {reason})" if reason else " (was not paused)"))
