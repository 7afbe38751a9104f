"""``followup mailbox ...``, ``followup sync`` and ``followup secret-key``: wiring only."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from imapclient.exceptions import IMAPClientError
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

from ..core.durations import DurationError, parse_duration
from ..mail.imap import ConnectError
from ..mail.urls import MailURL
from ..report import wide_console
from ..runtime import Runtime
from ..secrets import decrypt, new_key
from ..service import credentials
from ..service.ingest import SyncReport
from ..service.loops import lift_pause
from ..service.mailboxes import (
    ConnectionCheck,
    MailboxError,
    MailboxSummary,
    add_mailbox,
    check_connection,
    get_mailbox,
    mailbox_urls,
    summaries,
)
from ..service.oauth_connect import grant_of, resolve, save_grant, tested_token
from ..service.pipeline import sync_and_evaluate
from ..service.sentcopy import sent_copy_text
from .common import config_option, run_with_store
from .input import password_for
from .oauth import SignIn, Way, connect_any, sign_in, store_grant

T = TypeVar("T")


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
    chosen = {role: folder for role, folder in (("sent", sent), ("archive", archive)) if folder}
    new = NewMailbox(name, address, list(team), owner, _grace(grace), since, shadow, sent_copy)
    imap = password_for(imap, "IMAP") if imap else None
    smtp = password_for(smtp, "SMTP") if smtp else None
    way = Way(provider, imap, smtp, how, app, chosen, no_check)
    run_with_store(config, lambda runtime: new.add(runtime, way))
    click.echo(f"mailbox {name!r} added; run `followup sync {name}` to read it")


def _grace(value: str) -> int:
    try:
        return int(parse_duration(value).real().total_seconds())
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None


@dataclass(frozen=True, slots=True)
class NewMailbox:
    """What ``mailbox add`` stores besides the connection."""

    name: str
    address: str
    team: list[str]
    owner: str | None
    grace_seconds: int
    since: str | None
    dry_run: bool
    sent_copy: str

    async def add(self, runtime: Runtime, way: Way) -> None:
        """Connect (sign in, look up, or test the typed URLs), then store the mailbox."""
        inbox, urls, connected = await connect_any(runtime, self.address, way)
        now = runtime.clock.now()
        history = _since(self.since, now)
        box = await add_mailbox(
            self.name,
            self.address,
            *urls,
            self.team,
            self.owner,
            self.grace_seconds,
            now,
            history,
            inbox=inbox,
            chosen=way.chosen,
        )
        if connected is not None:
            await store_grant(runtime, box, connected)
        box.dry_run, box.sent_copy = self.dry_run, self.sent_copy
        await box.save(update_fields=["dry_run", "sent_copy"])


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
        for note in _notes(r):
            table.add_row("", note, *[""] * 5)
    wide_console().print(table)


def _notes(r: MailboxSummary) -> list[str]:
    """What needs a person's attention about one mailbox, a line each."""
    notes = [
        r.paused and f"[red]{r.paused}[/] (followup mailbox resume {r.name})",
        r.reauth is not None
        and f"[red]NEEDS RE-AUTHORISATION[/] ({r.reauth}): followup mailbox reconnect {r.name}",
        r.failing and r.reauth is None and f"[red]FAILING[/] {r.failing}",
        r.quarantined and f"[yellow]{r.quarantined} quarantined[/] (see the web page)",
        *(f"[yellow]no automatic mail to[/] {sender}" for sender in r.paused_senders),
    ]
    return [str(note) for note in notes if note]


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
        return imap, check, sent_copy_text(box, runtime.self_filing_hosts)

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
            policy, workers = runtime.policy(box), runtime.sync_workers
            syncing = sync_and_evaluate(
                box, policy, history, progress, clock=runtime.clock, workers=workers
            )
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


@mailbox.command("reconnect")
@click.argument("name")
@click.option("--sign-in", "how", type=click.Choice(["auto", "device", "browser"]), default="auto")
@config_option
def mailbox_reconnect(name: str, how: SignIn, config: Path | None) -> None:
    """Sign NAME in again (after consent was revoked or the sign-in expired); what arrived
    meanwhile is synced and acknowledged as usual."""

    async def work(runtime: Runtime) -> None:
        box = await get_mailbox(name)
        grant = await grant_of(box)
        client = await resolve(grant.provider, runtime.config)
        flow, token = await sign_in(client, how, grant.flow == "app")
        smtp = decrypt(box.smtp_secret) if box.smtp_secret else None
        # Signed in as another account, the servers refuse: the old grant stays as it was.
        await tested_token(client, decrypt(box.imap_secret), smtp, token, box.chosen_folders())
        await save_grant(box, client, flow, token, runtime.clock)

    run_with_store(config, work)
    click.echo(f"mailbox {name!r} reconnected")


def sync_failure(name: str, exc: Exception) -> str:
    """What a failed sync says, in one line."""
    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, ConnectError):
        return f"{name}: cannot connect ({exc.kind}): {exc}"
    if isinstance(exc, IMAPClientError | OSError):
        return f"{name}: the server broke off the sync ({text}); run it again: it resumes"
    return f"{name}: the sync failed ({text})"


async def in_one_line(name: str, work: Awaitable[T]) -> T:
    """Await ``work`` (a sync of mailbox ``name``); any failure becomes a one-line
    :class:`MailboxError`, never a traceback (the debug log keeps it)."""
    try:
        return await work
    except MailboxError:
        raise
    except Exception as exc:
        logging.getLogger("followup.sync").debug("sync failed", exc_info=True)
        raise MailboxError(sync_failure(name, exc)) from None
