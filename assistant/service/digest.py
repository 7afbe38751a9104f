"""Daily digests: build each due person's list, write it to the outbox once, deliver it.

Exactly once per person per local day, whatever runs: the outbox row's key is
``digest:<address>:<date>`` (unique), written before anything is sent, so a second process
building the same digest loses the insert and stops; a process killed mid-send leaves the row
``sending`` and the deliverer's recovery (Sent folder first) finishes it. An empty digest is
recorded as ``skipped`` (``digest-empty``) unless ``[digests] send_when_empty``; a lead's
digest is never empty (it carries the team's numbers).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError

from ..core.digest import (
    DigestError,
    DigestLine,
    OpenThread,
    TeamSummary,
    business_hours,
    digest_day,
    digest_lines,
    person_zone,
    team_summary,
)
from ..core.evaluate import MailboxPolicy
from ..core.ladder import promised_reply
from ..core.mail_kinds import Audience, kinds_where
from ..core.outbox import message_id_for
from ..core.outbox_states import ACTIVE
from ..core.ownership import Person as CorePerson
from ..core.state import State, ThreadState
from ..render import format_when, renderer_for
from ..runtime import Runtime
from ..settings import FollowupConfig, people_of
from ..signing import read_unsubscribe_token, unsubscribe_token
from ..store.models import Mailbox, OutboxItem, Person, ThreadRecord
from .deliver import DIGEST, thread_link
from .people import everyone, store_copy
from .pipeline import deliverer_for
from .templates import active_sources

log = logging.getLogger("followup.digest")

#: The ladder's mail to the team: who was already escalated to, per thread.
ESCALATIONS = kinds_where(lambda s: s.ladder and s.audience is Audience.TEAM)


@dataclass
class Board:
    """Every waiting thread of every mailbox, as digests see them, and recent answers."""

    threads: list[OpenThread]
    policies: dict[str, MailboxPolicy]
    responses: list[timedelta]


@dataclass
class Built:
    """One person's digest, rendered."""

    person: CorePerson
    day: date
    lines: list[DigestLine]
    team: TeamSummary | None
    subject: str
    text: str
    html: str
    error: str | None = None
    thread_refs: list[list[object]] = field(default_factory=list)


async def load_board(runtime: Runtime, now: datetime) -> Board:
    """Waiting threads with owners, deadlines and who they were escalated to."""
    people = await everyone(runtime.config)
    threads: list[OpenThread] = []
    policies: dict[str, MailboxPolicy] = {}
    responses: list[timedelta] = []
    for mailbox in await Mailbox.all().order_by("id"):
        policy = policies[mailbox.name] = runtime.policy(mailbox, people)
        threads += await _open_threads(mailbox, policy, now)
        answered = await ThreadRecord.filter(
            mailbox=mailbox,
            answered_at__gte=now - timedelta(days=7),
            first_response_s__not_isnull=True,
        ).only("first_response_s")
        responses += [timedelta(seconds=r.first_response_s or 0) for r in answered]
    return Board(threads, policies, responses)


async def _open_threads(mailbox: Mailbox, policy: MailboxPolicy, now: datetime) -> list[OpenThread]:
    """The mailbox's threads waiting on the team (snoozed ones aside), with their deadline."""
    escalated: dict[str, set[str]] = {}
    for thread_id, recipient in await OutboxItem.filter(
        mailbox=mailbox, kind__in=ESCALATIONS, status="sent"
    ).values_list("thread_id", "recipient"):
        escalated.setdefault(str(thread_id), set()).add(str(recipient))
    found: list[OpenThread] = []
    for record in await ThreadRecord.filter(
        mailbox=mailbox, state=str(State.AWAITING_TEAM)
    ).order_by("id"):
        if record.waiting_since is None:
            continue
        if record.snoozed_until is not None and record.snoozed_until > now:
            continue
        waiting = ThreadState(State.AWAITING_TEAM, waiting_since=record.waiting_since)
        deadline = promised_reply(waiting, policy.ladder, policy.calendar)
        found.append(
            OpenThread(
                mailbox.name,
                record.thread_id,
                record.subject,
                record.client,
                record.owner,
                record.waiting_since,
                deadline,
                frozenset(escalated.get(record.thread_id, ())),
            )
        )
    return found


def _context(
    runtime: Runtime,
    person: CorePerson,
    day: date,
    lines: list[DigestLine],
    team: TeamSummary | None,
) -> dict[str, Any]:
    config = runtime.config
    zone = person_zone(person)
    return {
        "person_name": person.label,
        "date_label": day.strftime("%A %d %B %Y"),
        "lines": [_line_context(config, line, zone) for line in lines],
        "overdue_count": sum(1 for line in lines if line.overdue),
        "team": None if team is None else _team_context(team),
        "team_name": config.messages.team_name,
    }


def _line_context(config: FollowupConfig, line: DigestLine, zone: ZoneInfo) -> dict[str, Any]:
    deadline = line.thread.deadline
    return {
        "number": line.number,
        "subject": line.thread.subject or "(no subject)",
        "client": line.thread.client or "",
        "mailbox": line.thread.mailbox,
        "waiting": business_hours(line.waiting),
        "deadline": format_when(deadline, zone, config.messages.locale) if deadline else "",
        "overdue": business_hours(line.overdue) if line.overdue else "",
        "role": line.role,
        "link": thread_link(config, line.thread.mailbox, line.thread.thread_id),
    }


def _team_context(team: TeamSummary) -> dict[str, Any]:
    median = team.median_first_response
    return {
        "waiting": team.waiting,
        "overdue": team.overdue,
        "by_owner": list(team.by_owner),
        "answered": team.answered,
        "median": business_hours(median) if median is not None else "",
    }


def build_digest(
    runtime: Runtime,
    board: Board,
    person: CorePerson,
    now: datetime,
    day: date,
    sources: tuple[str, str, str] | None = None,
) -> Built:
    """Render ``person``'s digest for ``day`` from ``board``."""
    lines = digest_lines(
        person.email, board.threads, now, lambda name: board.policies[name].calendar
    )
    team = team_summary(board.threads, board.responses, now) if person.lead else None
    rendered = renderer_for(runtime.config.messages.templates_dir).render(
        DIGEST, _context(runtime, person, day, lines, team), sources
    )
    refs: list[list[object]] = [[line.thread.mailbox, line.thread.thread_id] for line in lines]
    return Built(
        person,
        day,
        lines,
        team,
        rendered.subject,
        rendered.text,
        rendered.html,
        rendered.error,
        refs,
    )


def digest_key(email: str, day: date) -> str:
    """The idempotency key of one person's digest for one day."""
    return f"digest:{email}:{day.isoformat()}"


async def sender_mailbox(runtime: Runtime) -> Mailbox | None:
    """The mailbox whose SMTP sends digests: ``[digests] mailbox``, else the first with SMTP."""
    wanted = runtime.config.digests.mailbox
    if wanted:
        return await Mailbox.get_or_none(name=wanted)
    return await Mailbox.filter(smtp_secret__not_isnull=True).order_by("id").first()


@dataclass
class DigestReport:
    """What one digest pass did."""

    planned: int = 0
    empty: int = 0
    already: int = 0
    errors: list[str] = field(default_factory=list)


async def _due(
    runtime: Runtime, now: datetime, report: DigestReport
) -> list[tuple[CorePerson, date]]:
    """Everyone whose digest time has come today and who has no digest row for it yet."""
    due: list[tuple[CorePerson, date]] = []
    for person in (await everyone(runtime.config)).values():
        try:
            day = digest_day(person, now)
        except DigestError as exc:
            report.errors.append(str(exc))
            continue
        if day is not None and not await OutboxItem.exists(key=digest_key(person.email, day)):
            due.append((person, day))
    return due


async def plan_digests(runtime: Runtime, now: datetime) -> DigestReport:
    """Write today's digest row for every person whose digest time has come (once each)."""
    report = DigestReport()
    due = await _due(runtime, now, report)
    if not due:
        return report
    mailbox = await sender_mailbox(runtime)
    if mailbox is None:
        report.errors.append("no mailbox with an SMTP URL to send digests from")
        return report
    board = await load_board(runtime, now)
    sources = await active_sources(DIGEST, None)
    for person, day in due:
        built = build_digest(runtime, board, person, now, day, sources)
        skip = not built.lines and built.team is None and not runtime.config.digests.send_when_empty
        try:
            await _write_digest(runtime, mailbox, person, day, built, skip, now)
        except IntegrityError:
            report.already += 1  # another process planned it first
            continue
        if skip:
            report.empty += 1
        else:
            report.planned += 1
    return report


async def _write_digest(
    runtime: Runtime,
    mailbox: Mailbox,
    person: CorePerson,
    day: date,
    built: Built,
    skip: bool,
    now: datetime,
) -> None:
    """The digest's outbox row (its key makes a second one an IntegrityError)."""
    key = digest_key(person.email, day)
    domain = mailbox.address.rpartition("@")[2] or "followup.invalid"
    base = runtime.config.web.base_url.rstrip("/")
    await OutboxItem.create(
        mailbox=mailbox,
        key=key,
        kind=DIGEST,
        rule="daily-digest",
        thread_id="",
        recipient=person.email,
        message_id=message_id_for(key, domain),
        due_at=now,
        created_at=now,
        status="skipped" if skip else "pending",
        skip_rule="digest-empty" if skip else None,
        subject=built.subject,
        text=built.text,
        html=built.html,
        template_error=built.error,
        payload={
            "threads": built.thread_refs,
            "unsubscribe": f"{base}/digest/unsubscribe?t={unsubscribe_token(person.email)}",
        },
    )


async def send_digests(runtime: Runtime, now: datetime, dry_run: bool = False) -> DigestReport:
    """Plan due digests, then deliver them (and any left mid-send by a crash)."""
    report = await plan_digests(runtime, now)
    mailbox = await sender_mailbox(runtime)
    if mailbox is None:
        return report
    if not await OutboxItem.filter(mailbox=mailbox, kind=DIGEST, status__in=ACTIVE).exists():
        return report
    policy = runtime.policy(mailbox, await everyone(runtime.config))
    deliverer = deliverer_for(runtime, mailbox, policy, dry_run)
    await deliverer.deliver_due(now, kinds=(DIGEST,))
    return report


async def unsubscribe_page(
    method: str, path: str, now: datetime, config: FollowupConfig | None = None
) -> tuple[str, str]:
    """The one-click unsubscribe link of a digest (RFC 8058): POST pauses the person's
    digest; GET (a person clicking) shows a page with the button that POSTs. A person known
    only from the settings file gets a store entry that overrides it, paused."""
    query = parse_qs(urlsplit(path).query)
    token = (query.get("t") or [""])[0]
    email = read_unsubscribe_token(token)
    if email is None:
        return "400 Bad Request", "<p>This unsubscribe link is not valid.</p>"
    if method == "POST":
        updated = await Person.filter(email=email).update(digest_paused=True)
        if not updated:
            known = people_of(config).get(email) if config is not None else None
            if known is None:
                return "404 Not Found", "<p>No such person any more.</p>"
            await store_copy(known, now, digest_paused=True)
        log.info("digest paused by its unsubscribe link", extra={"person": email})
        return "200 OK", f"<p>Digests for {html.escape(email)} are paused.</p>"
    return "200 OK", (
        f"<p>Pause the daily digest for {html.escape(email)}?</p>"
        f'<form method="post" action="/digest/unsubscribe?t={html.escape(token)}">'
        '<button type="submit">Pause my digest</button></form>'
    )
