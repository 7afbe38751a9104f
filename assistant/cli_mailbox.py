"""``followup mailbox ...``, ``followup sync`` and ``followup secret-key``: wiring only."""

from __future__ import annotations

import asyncio
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
from .mail.urls import MailURL, URLError
from .report import wide_console
from .runtime import Runtime
from .secrets import SecretKeyError, new_key
from .service import credentials
from .service.ingest import SyncReport, sync_mailbox
from .service.loops import lift_pause
from .service.mailboxes import (
    ConnectionCheck,
    InboxMark,
    MailboxError,
    add_mailbox,
    check_connection,
    get_mailbox,
    mailbox_urls,
    parse_urls,
    summaries,
)
from .service.sentcopy import sent_copy_text
from .settings import ConfigError
from .store.db import store

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
@click.option("--imap", "imap", help="imap://, imaps:// or imap+starttls:// URL (advanced).")
@click.option("--oauth", "provider", help="Sign in with this OAuth2 provider ([oauth.NAME]).")
@click.option("--app", is_flag=True, help="With --oauth: app-only access (shared mailboxes).")
@click.option("--sign-in", "how", type=click.Choice(["auto", "device", "browser"]), default="auto")
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
@click.option(
    "--sent-copy",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Copy what Followup sends into Sent: auto knows the providers that file it themselves.",
)
@config_option
def mailbox_add(
    name: str,
    address: str,
    imap: str | None,
    provider: str | None,
    app: bool,
    how: str,
    smtp: str | None,
    team: tuple[str, ...],
    owner: str | None,
    grace: str,
    since: str | None,
    no_check: bool,
    shadow: bool,
    sent: str | None,
    archive: str | None,
    sent_copy: str,
    config: Path | None,
) -> None:
    """Connect a mailbox called NAME (its connection is tested first).

    With only --address, the servers and the way to sign in are looked up (provider by MX,
    autoconfig, SRV records); --imap/--smtp URLs or --oauth PROVIDER say it yourself."""
    chosen = {role: name for role, name in (("sent", sent), ("archive", archive)) if name}
    try:
        grace_seconds = int(parse_duration(grace).real().total_seconds())
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None

    imap = password_for(imap, "IMAP") if imap else None
    smtp = password_for(smtp, "SMTP") if smtp else None

    async def work(runtime: Runtime) -> None:
        from .cli_oauth import Way, connect_any

        way = Way(provider, imap, smtp, how, app, chosen, no_check)
        inbox, urls, connected = await connect_any(runtime, address, way)
        now = runtime.clock.now()
        box = await add_mailbox(
            name,
            address,
            *urls,
            list(team),
            owner,
            grace_seconds,
            now,
            _since(since, now),
            inbox=inbox,
            chosen=chosen,
        )
        if connected is not None:
            from .cli_oauth import store

            await store(runtime, box, connected)
        box.dry_run, box.sent_copy = shadow, sent_copy
        await box.save(update_fields=["dry_run", "sent_copy"])

    run_with_store(config, work)
    click.echo(f"mailbox {name!r} added; run `followup sync {name}` to read it")


async def tested(
    imap: str, smtp: str | None, chosen: dict[str, str], no_check: bool
) -> InboxMark | None:
    """The connection test before storing (``None`` when skipped)."""
    if no_check:
        return None
    imap_url, smtp_url = parse_urls(imap, smtp)
    check = await check_connection(imap_url, smtp_url, chosen)
    if not (check.imap_ok and check.smtp_ok is not False):
        raise MailboxError(
            "connection test failed, nothing stored: "
            + "; ".join(e for e in (check.imap_error, check.smtp_error) if e)
        )
    return check.inbox


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
            r.reauth is not None
            and f"[red]NEEDS RE-AUTHORISATION[/] ({r.reauth}): followup mailbox reconnect {r.name}",
            r.failing and r.reauth is None and f"[red]FAILING[/] {r.failing}",
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

    async def work(runtime: Runtime) -> tuple[MailURL, ConnectionCheck, str]:
        box = await get_mailbox(name)
        imap, smtp = mailbox_urls(box)
        # OAuth2 mailboxes log in with a token from their grant (refreshed if due).
        ready = await credentials.with_token(box, imap, runtime.clock)
        smtp = await credentials.with_token(box, smtp, runtime.clock) if smtp else None
        check = await check_connection(ready, smtp, box.chosen_folders())
        return imap, check, sent_copy_text(box)

    imap, check, copies = run_with_store(config, work)
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
        out.print(f"Sent copies: {copies}")
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


from . import cli_oauth  # noqa: E402,F401  (registers `mailbox reconnect`)
