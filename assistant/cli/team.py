"""``followup people ...``, ``followup digest ...`` and ``followup thread show``: wiring only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ..core.digest import digest_day, person_zone
from ..report import wide_console
from ..runtime import Runtime
from ..service.digest import DigestReport, build_digest, load_board, send_digests
from ..service.people import (
    Member,
    PeopleError,
    add_person,
    everyone,
    remove_person,
    roster,
    set_person,
)
from ..service.templates import active_sources
from ..service.timeline import Timeline, timeline
from .common import clock_at, config_option, now_option, run_with_store

PREVIEW_NOW = "Pretend it is this time (ISO 8601), for previews."


# --- people ----------------------------------------------------------------------------


@click.group()
def people() -> None:
    """Team members: who owns threads, gets reminders and a daily digest."""


def _person_options(fn: Any) -> Any:
    options = [
        click.option("--name", help="Full name, shown in mails."),
        click.option("--timezone", help="IANA zone for the digest, e.g. Europe/Paris."),
        click.option("--working-days", help="e.g. Mon-Fri or Sun-Thu (digest days)."),
        click.option("--digest-at", help="Local digest time, HH:MM (default 08:30)."),
        click.option("--backup", help="Who takes over reminders while away (a person)."),
        click.option(
            "--lead/--not-lead", default=None, help="Leads get escalations and team numbers."
        ),
        click.option(
            "--away/--back", default=None, help="Away: threads and reminders go to the backup."
        ),
        click.option(
            "--digest/--no-digest", "digest", default=None, help="Receive the daily digest."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _values(**kw: Any) -> dict[str, Any]:
    digest = kw.pop("digest")
    if digest is not None:
        kw["digest_paused"] = not digest
    return kw


@people.command("add")
@click.argument("email")
@_person_options
@config_option
def people_add(email: str, config: Path | None, **kw: Any) -> None:
    """Add a team member."""
    values = _values(**kw)
    row = run_with_store(config, lambda rt: add_person(email, at=rt.clock.now(), **values))
    click.echo(f"added {row.email}")


@people.command("set")
@click.argument("email")
@_person_options
@config_option
def people_set(email: str, config: Path | None, **kw: Any) -> None:
    """Change a team member (only the options given change)."""
    values = _values(**kw)
    row = run_with_store(config, lambda _: set_person(email, **values))
    click.echo(f"updated {row.email}")


@people.command("remove")
@click.argument("email")
@config_option
def people_remove(email: str, config: Path | None) -> None:
    """Remove a team member."""
    run_with_store(config, lambda _: remove_person(email))
    click.echo(f"removed {email}")


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@config_option
def people_list(as_json: bool, config: Path | None) -> None:
    """List the team: the people the service counts, from the store and the settings file
    (``source`` says which; the store's entry wins for the same address)."""
    listed = run_with_store(config, lambda runtime: roster(runtime.config))
    found = sorted(listed, key=lambda m: m.person.email)
    if as_json:
        click.echo(json.dumps([_member(m) for m in found], indent=2))
        return
    if not found:
        click.echo("no people yet: followup people add EMAIL --name ... --timezone ...")
        return
    table = Table()
    for col in (*_COLUMNS, "source"):
        table.add_column(col.replace("_", " "))
    for m in found:
        table.add_row(*(_cell(getattr(m.person, k)) for k in _COLUMNS), m.source)
    wide_console().print(table)


def _member(member: Member) -> dict[str, Any]:
    return {**{k: getattr(member.person, k) for k in _COLUMNS}, "source": member.source}


_COLUMNS = (
    "email",
    "name",
    "timezone",
    "working_days",
    "digest_at",
    "backup",
    "lead",
    "away",
    "digest_paused",
)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)


# --- digests ---------------------------------------------------------------------------


@click.group()
def digest() -> None:
    """Daily digests."""


@digest.command("preview")
@click.argument("person")
@now_option(PREVIEW_NOW)
@click.option(
    "--html", "html_out", type=click.Path(path_type=Path), help="Also write the HTML part here."
)
@config_option
def digest_preview(
    person: str, now: datetime | None, html_out: Path | None, config: Path | None
) -> None:
    """Render PERSON's digest as it would go out now (nothing is sent)."""
    clock = clock_at(now)
    when = clock.now()

    async def render(runtime: Runtime) -> tuple[str, str, str, str | None]:
        who = (await everyone(runtime.config)).get(person.strip().lower())
        if who is None:
            raise PeopleError(f"{person} is not a person (followup people list)")
        board = await load_board(runtime, when)
        day = when.astimezone(person_zone(who)).date()
        built = build_digest(runtime, board, who, when, day, await active_sources("digest", None))
        due = digest_day(who, when)
        note = None if due else "(not due at this time: outside their digest hour or working days)"
        return built.subject, built.text, built.html, note or built.error

    subject, text, html, note = run_with_store(config, render, clock)
    click.echo(f"Subject: {subject}\n")
    click.echo(text)
    if note:
        click.echo(note, err=True)
    if html_out:
        html_out.write_text(html, encoding="utf-8")
        click.echo(f"HTML written to {html_out}", err=True)


@digest.command("send")
@now_option(PREVIEW_NOW)
@click.option("--dry-run", is_flag=True, help="Record what would be sent, send nothing.")
@config_option
def digest_send(now: datetime | None, dry_run: bool, config: Path | None) -> None:
    """Send every digest that is due now (each person once a day, whatever else runs)."""
    clock = clock_at(now)

    async def work(runtime: Runtime) -> DigestReport:
        return await send_digests(runtime, runtime.clock.now(), dry_run)

    report = run_with_store(config, work, clock)
    click.echo(
        f"digests: {report.planned} planned, {report.empty} empty (not sent), "
        f"{report.already} already done today"
    )
    for error in report.errors:
        click.echo(f"warning: {error}", err=True)


# --- threads ---------------------------------------------------------------------------


@click.group()
def thread() -> None:
    """Look at one thread."""


@thread.command("show")
@click.argument("thread_id")
@click.option("--mailbox", help="The mailbox, when the id is in several.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@config_option
def thread_show(thread_id: str, mailbox: str | None, as_json: bool, config: Path | None) -> None:
    """Print a thread's timeline: messages, automatic mails, owner changes, each with its rule."""
    found: Timeline = run_with_store(config, lambda _: timeline(thread_id, mailbox))
    r = found.record
    if as_json:
        click.echo(
            json.dumps(
                {
                    "mailbox": found.mailbox,
                    "thread_id": r.thread_id,
                    "subject": r.subject,
                    "state": r.state,
                    "owner": r.owner,
                    "owner_rule": r.owner_rule,
                    "waiting_since": r.waiting_since,
                    "entries": [_entry(e) for e in found.entries],
                },
                default=str,
                indent=2,
            )
        )
        return
    console = wide_console()
    console.print(f"[bold]{r.subject or '(no subject)'}[/]  ({found.mailbox}: {r.thread_id})")
    owner = f"{r.owner} ({r.owner_rule})" if r.owner else "nobody"
    since = f", waiting since {r.waiting_since:%Y-%m-%d %H:%M %Z}" if r.waiting_since else ""
    extra = f", snoozed until {r.snoozed_until:%Y-%m-%d %H:%M %Z}" if r.snoozed_until else ""
    console.print(f"state: {r.state}{since}; owner: {owner}{extra}")
    table = Table()
    for col in ("when (UTC)", "what", "rule", "who", "detail"):
        table.add_column(col)
    for e in found.entries:
        table.add_row(f"{e.at.astimezone(UTC):%a %Y-%m-%d %H:%M}", e.kind, e.rule, e.who, e.text)
    console.print(table)


def _entry(e: Any) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "rule": e.rule, "who": e.who, "text": e.text}
