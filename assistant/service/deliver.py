"""Deliver due outbox rows exactly once: guards at send time, SMTP, a copy in Sent.

Every step is committed before the next one starts, so a crash anywhere resumes correctly:

    pending --guards--> sending --SMTP 250--> accepted --Sent copy--> sent

- a row is claimed with a conditional UPDATE (status and attempt count as read) and a lease,
  so two processes never send the same row; a crashed sender's row waits out the lease.
- a row found ``sending`` after a crash is first looked up in the Sent folder by its
  deterministic Message-ID, else by its ``X-Followup-Key`` (providers that file sent mail
  themselves, Outlook.com under a Message-ID of its own, and our own APPEND of a previous
  attempt, leave it there); only if absent is it sent again. The one window no client can
  close is a crash between the server's 250 and our commit of ``accepted`` with a provider
  that files nothing: then the mail may go twice, never zero times. It lasts one commit.
- a row found ``accepted`` is never sent again: only its Sent copy is settled, exactly one,
  as the mailbox's ``sent_copy`` says (:mod:`.sentcopy`); a provider's own copy may be
  awaited for a grace delay, the row staying ``accepted`` meanwhile.
- transient SMTP errors (4xx, connection) retry with exponential backoff; permanent ones (5xx)
  stop the row as ``failed`` with the server's words.

Guards, each a named rule recorded on a skipped row: the thread must still await the team with
no human reply since the client wrote (``no-ack-after-human-reply``), the client must not
have been acknowledged within the per-sender window (``ack-rate-per-sender``), and the mailbox
must not exceed ``max_per_minute`` acknowledgements (``circuit-breaker``: the mailbox pauses,
rows stay pending, the admin is told in the log and ``followup mailbox list``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from ..clock import Clock
from ..core.compose import Notice, Outgoing, compose, compose_notice
from ..core.digest import business_hours
from ..core.durations import parse_duration
from ..core.evaluate import MailboxPolicy
from ..core.ladder import Kind, client_address, promised_reply, schedule, step_key
from ..core.loops import throttled
from ..core.model import Address
from ..core.state import State
from ..core.team import Team
from ..mail.imap import ConnectError, ImapSession
from ..mail.smtp import SendError, SmtpSender
from ..render import format_when, renderer_for
from ..settings import FollowupConfig
from ..signing import command_address
from ..store.models import Mailbox, OutboxItem, StoredMessage, ThreadRecord
from . import credentials
from .body_look import second_look
from .crash import crash_point
from .loops import CLIENT_KINDS, COUNTED, loop_rule, sent_to_clients
from .outbox import LoadedThread, load_thread, thread_case, thread_history
from .sentcopy import SentCopies, claim
from .templates import active_sources

log = logging.getLogger("followup.deliver")

ACTIVE = ("pending", "retry", "sending", "accepted")
DIGEST = "digest"
COMMAND_REPLY = "command_reply"
#: A notice to the admins (a mailbox needs re-authorisation), written when planned.
ADMIN_NOTICE = "admin_notice"
#: Rendered when planned (no thread to re-check): digests, answers to reply commands, notices.
STORED_KINDS = (DIGEST, COMMAND_REPLY, ADMIN_NOTICE)
#: Ladder steps after the acknowledgement: re-decided by the core at send time.
LADDER_KINDS = (
    str(Kind.REMIND_OWNER),
    str(Kind.ESCALATE_BACKUP),
    str(Kind.ESCALATE_LEAD),
    str(Kind.CLIENT_UPDATE),
)
POSTPONED = "postponed"
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
#: How long a row being sent is left alone by other processes (longer than any SMTP send);
#: ``FOLLOWUP_SEND_LEASE_SECONDS`` shortens it for tests that kill senders.
SEND_LEASE = timedelta(seconds=float(os.environ.get("FOLLOWUP_SEND_LEASE_SECONDS", "300")))


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    dry_run: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed: int = 0
    postponed: int = 0
    paused: bool = False
    throttled: int = 0


class Deliverer:
    """Delivers one mailbox's due rows; holds the SMTP connection for the pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        policy: MailboxPolicy,
        config: FollowupConfig,
        dry_run: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.mailbox = mailbox
        #: Read for the send lease only (a long pass's ``now`` may be minutes old); without
        #: one, the pass's ``now`` is the time throughout.
        self.clock = clock
        self.policy = policy
        self.config = config
        self.limits = config.guards.limits()
        self.dry_run = dry_run or mailbox.dry_run
        self.renderer = renderer_for(config.messages.templates_dir)
        self._imap: ImapSession | None = None
        self._smtp: SmtpSender | None = None
        self.copies = SentCopies(mailbox, self._session, self._drop_imap)

    # --- connections --------------------------------------------------------------------

    def _clock(self) -> Clock:
        if self.clock is None:  # every entry point hands one in; a token needs the time
            raise ConnectError("login", "no clock handed to the delivery pass")
        return self.clock

    async def _session(self) -> ImapSession:
        if self._imap is None:
            self._imap = await credentials.open_imap(self.mailbox, self._clock())
        return self._imap

    async def _sender(self) -> SmtpSender:
        if self._smtp is None:
            try:
                self._smtp = await credentials.smtp_sender(self.mailbox, self._clock())
            except ConnectError as exc:
                raise SendError(str(exc), False) from None
        return self._smtp

    async def close(self) -> None:
        """Close the connections opened by this pass."""
        if self._smtp is not None:
            await self._smtp.close()
        await self._drop_imap()

    # --- the pass -----------------------------------------------------------------------

    async def deliver_due(
        self, now: datetime, kinds: tuple[str, ...] | None = None
    ) -> DeliveryReport:
        """Deliver every row due at ``now`` (of ``kinds``, when given)."""
        report = DeliveryReport()
        query = OutboxItem.filter(mailbox=self.mailbox, status__in=ACTIVE, due_at__lte=now)
        if kinds is not None:
            query = query.filter(kind__in=kinds)
        rows = await query.order_by("due_at", "id")
        try:
            for row in rows:
                if row.next_attempt_at is not None and row.next_attempt_at > now:
                    continue
                if await self._paused(row, now, report):
                    break
                if await self._throttled(row, now):
                    report.throttled += 1
                    continue
                try:
                    await self._deliver(row, now, report)
                except Exception as exc:  # one bad row fails alone, never the pass
                    await self._quarantine(row, exc, report)
        finally:
            await self.close()
        return report

    async def _paused(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> bool:
        """True when the mailbox is paused (an admin resumes it): the pass stops."""
        await self.mailbox.refresh_from_db(fields=["paused_reason", "dry_run"])
        # A refused OAuth2 sign-in holds the mail too (nothing retried, nothing lost) until
        # someone reconnects the mailbox.
        if self.mailbox.paused_reason or await credentials.needs_reauth(self.mailbox):
            report.paused = True
            return True
        return False

    async def _throttled(self, row: OutboxItem, now: datetime) -> bool:
        """True when this mail to a client must wait for the minute to move on
        (``throttle-per-minute``): it stays pending, oldest first, and goes out later."""
        if row.status != "pending" or self.dry_run or row.kind not in CLIENT_KINDS:
            # Only mail to clients can run away (a loop with another robot); mail to the
            # team is bounded by construction: a step per thread, a digest per person a day.
            return False
        recent = await sent_to_clients(self.mailbox, now - timedelta(minutes=1))
        return throttled(recent, self.limits)

    async def _deliver(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        if row.status in ("pending", "retry"):
            if row.kind in STORED_KINDS:
                # Digests and command answers were rendered when they were planned.
                loaded = None
            else:
                loaded = await self._vetted(row, now, report)
                if loaded is None:
                    return
                await self._render(row, loaded, now)
            if self.dry_run:
                settled = await self._settle(
                    row,
                    status="dry_run",
                    subject=row.subject,
                    text=row.text,
                    html=row.html,
                    template_error=row.template_error,
                    recipient=row.recipient,
                )
                if not settled:
                    return
                report.dry_run += 1
                log.info("dry run", extra=self._log_fields(row))
                return
            await self._send(row, loaded, now, report)
        elif row.status == "sending":
            await self._recover_sending(row, now, report)
        elif (  # never SMTP again: only the Sent copy
            row.status == "accepted"
            and await claim(row, now, self._lease(now))
            and await self._safe_copy(row, now)
        ):
            await self._mark_sent(row, now, report)

    async def _vetted(
        self, row: OutboxItem, now: datetime, report: DeliveryReport
    ) -> LoadedThread | None:
        """The row's thread when every guard lets it go now; else None, the row skipped
        (with the rule that said no) or postponed."""
        loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
        if row.kind in LADDER_KINDS:
            rule = await self._ladder_guard(row, loaded, now, report)
        else:
            rule = await self._guard(row, loaded, now)
        if rule == POSTPONED:
            return None
        if rule is not None:
            await self._skip(row, rule, report)
            return None
        assert loaded is not None
        return loaded

    async def _ladder_guard(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime, report: DeliveryReport
    ) -> str | None:
        """Ask the core again at send time: the thread may have been answered, marked done,
        snoozed or given to someone else since the step was planned."""
        if loaded is None or loaded.state.state is not State.AWAITING_TEAM:
            return "ladder-thread-not-waiting"
        record = await ThreadRecord.get_or_none(mailbox=self.mailbox, thread_id=row.thread_id)
        history = await thread_history(self.mailbox, row.thread_id, record, exclude=row.key)
        if history.snoozed_until is not None and now < history.snoozed_until:
            await self._postpone(row, history.snoozed_until, "snoozed", report)
            return POSTPONED
        case = await thread_case(self.mailbox, loaded, self.policy, record)
        step = next((s for s in self.policy.ladder.steps if s.name == row.rule), None)
        if step is None:
            return "ladder-step-removed"  # the configuration no longer has this step
        if step_key(case, step) != row.key:
            return "ladder-episode-over"  # planned for a waiting episode that has ended
        actions, skips = schedule(case, history, self.policy.ladder, self.policy.calendar)
        action = next((a for a in actions if a.key == row.key), None)
        if action is None:
            return next((s.rule for s in skips if s.step == row.rule), "ladder-episode-over")
        if action.due > now:
            await self._postpone(row, action.due, "not due yet", report)
            return POSTPONED
        if action.recipient is None:
            return "no-recipient"
        if row.kind == str(Kind.CLIENT_UPDATE):
            client = loaded.state.client
            if client is None or client.email in self.policy.team:
                return "no-ack-to-team"
        row.recipient = action.recipient  # the owner (or backup, lead) as of now
        return None

    async def _postpone(
        self, row: OutboxItem, until: datetime, why: str, report: DeliveryReport
    ) -> None:
        row.due_at = until
        await row.save(update_fields=["due_at"])
        report.postponed += 1
        log.info("postponed", extra={**self._log_fields(row), "until": until, "why": why})

    async def _guard(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime
    ) -> str | None:
        if loaded is None or loaded.state.state is not State.AWAITING_TEAM:
            return "no-ack-thread-not-waiting"
        if loaded.state.last_team_reply is not None:
            return "no-ack-after-human-reply"
        client = client_address(loaded.state, Kind(row.kind))
        if client is None or client.email != row.recipient:
            return "no-ack-recipient-changed"
        if _in_team(self.policy.team, client, loaded.state.client):
            return "no-ack-to-team"
        loop = await loop_rule(self.mailbox, row.recipient, now, self.limits)
        if loop is not None:
            return loop
        window = parse_duration(self.config.guards.per_sender_window).real()
        if await self._earlier(row, now, window):
            return "ack-rate-per-sender"
        # Last, and only for what would go out now: a look at the client's body.
        verdict = await second_look(self._session, _client_row(loaded))
        return verdict.rule if verdict is not None else None

    async def _earlier(self, row: OutboxItem, now: datetime, window: timedelta) -> bool:
        """True when the sender had this kind of mail from us within ``window``."""
        return (
            await OutboxItem.filter(
                mailbox=self.mailbox,
                recipient=row.recipient,
                kind=row.kind,
                status__in=(*COUNTED, "dry_run"),
                due_at__gte=now - window,  # the store's times, never the wall clock's
            )
            .exclude(id=row.id)
            .exists()
        )

    async def _quarantine(self, row: OutboxItem, exc: Exception, report: DeliveryReport) -> None:
        """A row that raised (a hostile address the SMTP library refuses, a broken
        template...) is stopped as ``failed`` with its reason; the pass goes on. A row the
        server already accepted keeps that status (it is never sent again)."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.status == "accepted":
            log.error("sent, then failed", extra={**self._log_fields(row), "error": error})
            return
        if not await self._settle(row, status="failed", last_error=error, skip_rule="row-error"):
            raise exc  # the row moved on meanwhile, or the database is gone: not ours to mark
        report.failed += 1
        log.error("row failed", extra={**self._log_fields(row), "error": error})

    async def _settle(self, row: OutboxItem, **values: Any) -> bool:
        """Write ``values`` only if nobody changed the row since it was read (another
        process may have claimed and sent it meanwhile); update ``row`` on success."""
        done = await OutboxItem.filter(id=row.id, status=row.status, attempts=row.attempts).update(
            **values
        )
        if done:
            for name, value in values.items():
                setattr(row, name, value)
        return bool(done)

    async def _skip(self, row: OutboxItem, rule: str, report: DeliveryReport) -> None:
        if not await self._settle(row, status="skipped", skip_rule=rule):
            return  # another process moved it on: its decision stands
        report.skipped[rule] = report.skipped.get(rule, 0) + 1
        log.info("skipped", extra={**self._log_fields(row), "rule": rule})

    async def _context(
        self, row: OutboxItem, loaded: LoadedThread, now: datetime
    ) -> dict[str, Any]:
        messages = self.config.messages
        zone = self.policy.calendar.zone
        start = loaded.state.episode_start
        client = loaded.state.client or Address(row.recipient)
        promised = row.promised_by or promised_reply(
            loaded.state, self.policy.ladder, self.policy.calendar
        )
        record = await ThreadRecord.get_or_none(mailbox=self.mailbox, thread_id=row.thread_id)
        owner = self.policy.people.get(record.owner or "") if record else None
        recipient = self.policy.people.get(row.recipient)
        waiting = loaded.state.waiting_since
        return {
            "client_name": client.name,
            "client_email": client.email,
            "thread_subject": _subject(loaded),
            "received_at": format_when(start.date, zone, messages.locale) if start else "",
            "promised_by": format_when(promised, zone, messages.locale) if promised else "",
            "owner_name": (owner.label if owner else (record.owner if record else None)) or "",
            "owner_email": (record.owner if record else None) or "",
            "owner_rule": (record.owner_rule if record else None) or "",
            "person_name": recipient.label if recipient else row.recipient,
            "waiting": business_hours(self.policy.calendar.elapsed(waiting, now))
            if waiting
            else "",
            "thread_link": thread_link(self.config, self.mailbox.name, row.thread_id),
            "team_name": messages.team_name,
            "mailbox_address": self.mailbox.address,
            "signature": messages.signature or messages.team_name,
        }

    async def _render(self, row: OutboxItem, loaded: LoadedThread, now: datetime) -> None:
        sources = await active_sources(row.kind, self.mailbox)  # saved on the web page
        rendered = self.renderer.render(row.kind, await self._context(row, loaded, now), sources)
        row.subject, row.text, row.html = rendered.subject, rendered.text, rendered.html
        row.template_error = rendered.error  # type: ignore[assignment]  # nullable column
        if rendered.error:
            log.error("template failed", extra={**self._log_fields(row), "error": rendered.error})

    def _message(self, row: OutboxItem, loaded: LoadedThread | None, now: datetime) -> Any:
        sender = Address(self.mailbox.address, self.config.messages.team_name)
        if row.kind in CLIENT_KINDS:
            assert loaded is not None
            start = loaded.state.episode_start
            client = loaded.state.client or Address(row.recipient)
            out = Outgoing(
                sender, self.mailbox.address, client, row.message_id, row.key, row.kind, now, start
            )
            return compose(out, row.subject, row.text, row.html)
        person = self.policy.people.get(row.recipient)
        payload = row.payload or {}
        note = Notice(
            sender=Address(self.mailbox.address, f"{self.config.messages.team_name} (Followup)"),
            recipient=Address(row.recipient, person.name if person else ""),
            reply_to=command_address(self.mailbox.address, row.id, row.recipient),
            message_id=row.message_id,
            key=row.key,
            kind=row.kind,
            date=now,
            in_reply_to=row.reply_to_message_id if row.kind == COMMAND_REPLY else None,
            unsubscribe_url=str(payload["unsubscribe"]) if payload.get("unsubscribe") else None,
        )
        return compose_notice(note, row.subject, row.text, row.html)

    async def _send(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime, report: DeliveryReport
    ) -> None:
        # Claim the row: only the process whose UPDATE still sees the status and attempt
        # count it read goes on (another worker, or a second `followup run`, stops here).
        # The lease keeps everyone else off the row while it is in flight; after a crash,
        # the row is recovered once the lease has run out.
        lease = self._lease(now)
        claimed = await OutboxItem.filter(
            id=row.id, status=row.status, attempts=row.attempts
        ).update(status="sending", attempts=row.attempts + 1, next_attempt_at=lease)
        if not claimed:
            log.info("claimed by another process", extra=self._log_fields(row))
            return
        row.status, row.attempts, row.next_attempt_at = "sending", row.attempts + 1, lease
        await row.save()
        crash_point("before_smtp")
        msg = self._message(row, loaded, now)
        try:
            await (await self._sender()).send(msg, self.mailbox.address, [row.recipient])
        except SendError as exc:
            await self._failed(row, exc, now, report)
            return
        crash_point("before_accepted")  # the one window: sent, not yet recorded
        row.status, row.sent_at = "accepted", now
        await row.save()
        crash_point("after_smtp")
        if await self._safe_copy(row, now, msg.as_bytes()):
            crash_point("after_append")
            await self._mark_sent(row, now, report)

    async def _failed(
        self, row: OutboxItem, exc: SendError, now: datetime, report: DeliveryReport
    ) -> None:
        row.last_error = str(exc)
        if exc.permanent:
            row.status = "failed"
            report.failed += 1
            log.error("send failed", extra={**self._log_fields(row), "error": str(exc)})
        else:
            row.status = "retry"
            delay = min(RETRY_MAX, RETRY_BASE * 2 ** max(0, row.attempts - 1))
            row.next_attempt_at = now + delay
            report.retried += 1
            log.warning(
                "send will be retried",
                extra={**self._log_fields(row), "error": str(exc), "retry_at": row.next_attempt_at},
            )
        await row.save()

    def _lease(self, now: datetime) -> datetime:
        """Until when a row taken now is left alone by other processes."""
        current = self.clock.now() if self.clock is not None else now
        return max(now, current) + SEND_LEASE  # a long pass's `now` may be minutes old

    async def _recover_sending(
        self, row: OutboxItem, now: datetime, report: DeliveryReport
    ) -> None:
        """A crash left this row mid-send: trust the Sent folder, else send again. When
        the Sent folder cannot be read, the row waits for a later pass (never sent blind)."""
        found = await self.copies.in_sent(row, self._log_fields(row))
        if found is None:
            return  # Sent could not be read: the row stays `sending`, a later pass retries
        if found:
            log.info(
                "found in Sent after a restart; not sending again", extra=self._log_fields(row)
            )
            await self._mark_sent(row, now, report)
            return
        if row.kind in STORED_KINDS:
            await self._send(row, None, now, report)
            return
        # The thread may have been answered (or done, archived) since the crash: the same
        # guards as for a first send decide.
        loaded = await self._vetted(row, now, report)
        if loaded is None:
            return
        if not row.subject:
            await self._render(row, loaded, now)
        await self._send(row, loaded, now, report)

    async def _safe_copy(self, row: OutboxItem, now: datetime, raw: bytes | None = None) -> bool:
        """Settle the Sent copy (:mod:`.sentcopy`); True when the row is done."""
        build = partial(self._copy_bytes, row, now, raw)  # called only if a copy is due
        return await self.copies.settle(row, now, build, self._log_fields(row))

    async def _copy_bytes(self, row: OutboxItem, now: datetime, raw: bytes | None) -> bytes | None:
        """The mail as sent: the bytes at hand, else rebuilt from the row (None: its thread
        is gone, so there is nothing to file)."""
        if raw is not None:
            return raw
        loaded = None
        if row.kind not in STORED_KINDS:
            loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
            if loaded is None:
                return None
        return bytes(self._message(row, loaded, row.sent_at or now).as_bytes())

    async def _drop_imap(self) -> None:
        if self._imap is not None:
            await asyncio.to_thread(self._imap.close)
            self._imap = None

    async def _mark_sent(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        row.status, row.next_attempt_at = "sent", None
        row.sent_at = row.sent_at or now
        await row.save()
        report.sent += 1
        log.info("sent", extra=self._log_fields(row))

    def _log_fields(self, row: OutboxItem) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox.name,
            "key": row.key,
            "kind": row.kind,
            "to": row.recipient,
            "thread_id": row.thread_id,
        }


def _subject(loaded: LoadedThread) -> str:
    from ..core.subject import strip_prefixes

    start = loaded.state.episode_start or loaded.thread.messages[0]
    return strip_prefixes(start.subject) or "your message"


def thread_link(config: FollowupConfig, mailbox: str, thread_id: str) -> str:
    """The thread's page on the web app."""
    return f"{config.web.base_url.rstrip('/')}/threads/{quote(mailbox)}/{quote(thread_id, safe='')}"


def _in_team(team: Team, *addresses: Address | None) -> bool:
    """Whether any of ``addresses`` (the recipient, the From) is the team's own."""
    return any(a is not None and a.email in team for a in addresses)


def _client_row(loaded: LoadedThread) -> StoredMessage | None:
    """The stored row of the client message the acknowledgement answers."""
    last = loaded.state.last_client_message
    if last is None:
        return None
    return next((r for r in loaded.rows if r.message_id == last.message_id), None)
