"""Deliver due outbox rows exactly once: guards at send time, SMTP, a copy in Sent.

Every step is committed before the next one starts, so a crash anywhere resumes correctly:

    pending --guards--> sending --SMTP 250--> accepted --APPEND--> sent

- a row found ``sending`` after a crash is first looked up in the Sent folder by its
  deterministic Message-ID (providers that save sent mail themselves, and our own APPEND
  of a previous attempt, leave it there); only if absent is it sent again. The one window
  no client can close is a crash between the server's 250 and our commit of ``accepted``:
  then the mail may go twice, never zero times. It lasts one local database commit.
- a row found ``accepted`` is never sent again: only its Sent copy is made (if missing).
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
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.compose import Outgoing, compose
from ..core.durations import parse_duration
from ..core.evaluate import MailboxPolicy
from ..core.model import Address
from ..core.state import State
from ..mail.imap import ImapSession
from ..mail.smtp import SendError, SmtpSender
from ..mail.urls import parse_url
from ..render import Renderer, format_when
from ..secrets import decrypt
from ..settings import FollowupConfig
from ..store.models import Folder, Mailbox, OutboxItem
from .outbox import LoadedThread, load_thread

log = logging.getLogger("followup.deliver")

ACTIVE = ("pending", "retry", "sending", "accepted")
COUNTED = ("sending", "accepted", "sent")
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


def crash_point(name: str) -> None:
    """Test hook: ``FOLLOWUP_CRASH_AT=name`` kills the process here (as SIGKILL would)."""
    if os.environ.get("FOLLOWUP_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    dry_run: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed: int = 0
    paused: bool = False


class Deliverer:
    """Delivers one mailbox's due rows; holds the SMTP connection for the pass."""

    def __init__(
        self, mailbox: Mailbox, policy: MailboxPolicy, config: FollowupConfig, dry_run: bool = False
    ) -> None:
        self.mailbox = mailbox
        self.policy = policy
        self.config = config
        self.dry_run = dry_run or mailbox.dry_run
        self.renderer = Renderer(config.messages.templates_dir)
        self._imap: ImapSession | None = None
        self._smtp: SmtpSender | None = None

    # --- connections --------------------------------------------------------------------

    async def _session(self) -> ImapSession:
        if self._imap is None:
            url = parse_url(decrypt(self.mailbox.imap_secret), "imap")
            self._imap = await asyncio.to_thread(ImapSession, url)
        return self._imap

    def _sender(self) -> SmtpSender:
        if self._smtp is None:
            if not self.mailbox.smtp_secret:
                raise SendError("the mailbox has no SMTP URL (followup mailbox add --smtp)", True)
            self._smtp = SmtpSender(parse_url(decrypt(self.mailbox.smtp_secret), "smtp"))
        return self._smtp

    async def close(self) -> None:
        """Close the connections opened by this pass."""
        if self._smtp is not None:
            await self._smtp.close()
        if self._imap is not None:
            await asyncio.to_thread(self._imap.close)

    async def _sent_folder(self) -> str | None:
        folder = await Folder.filter(mailbox=self.mailbox, role="sent").order_by("id").first()
        return folder.name if folder else None

    # --- the pass -----------------------------------------------------------------------

    async def deliver_due(self, now: datetime) -> DeliveryReport:
        """Deliver every row due at ``now``."""
        report = DeliveryReport()
        rows = await OutboxItem.filter(
            mailbox=self.mailbox, status__in=ACTIVE, due_at__lte=now
        ).order_by("due_at", "id")
        try:
            for row in rows:
                if row.next_attempt_at is not None and row.next_attempt_at > now:
                    continue
                if await self._paused(row, now, report):
                    break
                await self._deliver(row, now, report)
        finally:
            await self.close()
        return report

    async def _paused(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> bool:
        await self.mailbox.refresh_from_db(fields=["paused_reason", "dry_run"])
        if self.mailbox.paused_reason:
            report.paused = True
            return True
        if row.status != "pending" or self.dry_run:
            return False
        recent = await OutboxItem.filter(
            mailbox=self.mailbox, status__in=COUNTED, sent_at__gte=now - timedelta(minutes=1)
        ).count()
        if recent >= self.config.guards.max_per_minute:
            reason = (
                f"circuit breaker: {recent} automatic mails in the last minute "
                f"(limit {self.config.guards.max_per_minute}); "
                f"sending paused at {now:%Y-%m-%d %H:%M} UTC"
            )
            self.mailbox.paused_reason = reason
            await self.mailbox.save(update_fields=["paused_reason"])
            log.error(
                "sending paused",
                extra={"mailbox": self.mailbox.name, "rule": "circuit-breaker", "reason": reason},
            )
            report.paused = True
            return True
        return False

    async def _deliver(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        if row.status in ("pending", "retry"):
            loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
            rule = await self._guard(row, loaded, now)
            if rule is not None:
                await self._skip(row, rule, report)
                return
            assert loaded is not None
            self._render(row, loaded)
            if self.dry_run:
                row.status = "dry_run"
                await row.save()
                report.dry_run += 1
                log.info("dry run", extra=self._log_fields(row))
                return
            await self._send(row, loaded, now, report)
        elif row.status == "sending":
            await self._recover_sending(row, now, report)
        elif row.status == "accepted":
            await self._copy_to_sent(row, now)
            await self._mark_sent(row, now, report)

    async def _guard(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime
    ) -> str | None:
        if loaded is None or loaded.state.state is not State.AWAITING_TEAM:
            return "no-ack-thread-not-waiting"
        if loaded.state.last_team_reply is not None:
            return "no-ack-after-human-reply"
        client = loaded.state.client
        if client is None or client.email != row.recipient:
            return "no-ack-recipient-changed"
        if client.email == self.mailbox.address or client.email in self.policy.team:
            return "no-ack-to-team"
        window = parse_duration(self.config.guards.per_sender_window).real()
        earlier = (
            await OutboxItem.filter(
                mailbox=self.mailbox,
                recipient=row.recipient,
                kind=row.kind,
                status__in=(*COUNTED, "dry_run"),
                created_at__gte=now - window,
            )
            .exclude(id=row.id)
            .exists()
        )
        return "ack-rate-per-sender" if earlier else None

    async def _skip(self, row: OutboxItem, rule: str, report: DeliveryReport) -> None:
        row.status, row.skip_rule = "skipped", rule
        await row.save()
        report.skipped[rule] = report.skipped.get(rule, 0) + 1
        log.info("skipped", extra={**self._log_fields(row), "rule": rule})

    def _context(self, row: OutboxItem, loaded: LoadedThread) -> dict[str, Any]:
        messages = self.config.messages
        zone = self.policy.calendar.zone
        start = loaded.state.episode_start
        client = loaded.state.client or Address(row.recipient)
        promised = row.promised_by
        return {
            "client_name": client.name,
            "client_email": client.email,
            "thread_subject": _subject(loaded),
            "received_at": format_when(start.date, zone, messages.locale) if start else "",
            "promised_by": format_when(promised, zone, messages.locale) if promised else "",
            "owner_name": "",
            "owner_email": "",
            "team_name": messages.team_name,
            "mailbox_address": self.mailbox.address,
            "signature": messages.signature or messages.team_name,
        }

    def _render(self, row: OutboxItem, loaded: LoadedThread) -> None:
        rendered = self.renderer.render(row.kind, self._context(row, loaded))
        row.subject, row.text, row.html = rendered.subject, rendered.text, rendered.html
        row.template_error = rendered.error  # type: ignore[assignment]  # nullable column
        if rendered.error:
            log.error("template failed", extra={**self._log_fields(row), "error": rendered.error})

    def _message(self, row: OutboxItem, loaded: LoadedThread, now: datetime) -> Any:
        start = loaded.state.episode_start
        client = loaded.state.client or Address(row.recipient)
        sender = Address(self.mailbox.address, self.config.messages.team_name)
        out = Outgoing(
            sender, self.mailbox.address, client, row.message_id, row.key, row.kind, now, start
        )
        return compose(out, row.subject, row.text, row.html)

    async def _send(
        self, row: OutboxItem, loaded: LoadedThread, now: datetime, report: DeliveryReport
    ) -> None:
        row.status, row.attempts = "sending", row.attempts + 1
        await row.save()
        crash_point("before_smtp")
        msg = self._message(row, loaded, now)
        try:
            await self._sender().send(msg, self.mailbox.address, [row.recipient])
        except SendError as exc:
            await self._failed(row, exc, now, report)
            return
        row.status, row.sent_at = "accepted", now
        await row.save()
        crash_point("after_smtp")
        await self._copy_to_sent(row, now, msg.as_bytes())
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

    async def _in_sent(self, row: OutboxItem) -> bool:
        folder = await self._sent_folder()
        if folder is None:
            return False
        session = await self._session()
        return bool(await asyncio.to_thread(session.find_message_id, folder, row.message_id))

    async def _recover_sending(
        self, row: OutboxItem, now: datetime, report: DeliveryReport
    ) -> None:
        """A crash left this row mid-send: trust the Sent folder, else send again."""
        if await self._in_sent(row):
            log.info(
                "found in Sent after a restart; not sending again", extra=self._log_fields(row)
            )
            await self._mark_sent(row, now, report)
            return
        loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
        if loaded is None:
            await self._skip(row, "no-ack-thread-not-waiting", report)
            return
        if not row.subject:
            self._render(row, loaded)
        await self._send(row, loaded, now, report)

    async def _copy_to_sent(self, row: OutboxItem, now: datetime, raw: bytes | None = None) -> None:
        folder = await self._sent_folder()
        if folder is None:
            return
        session = await self._session()
        if raw is None:
            if await asyncio.to_thread(session.find_message_id, folder, row.message_id):
                return
            loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
            if loaded is None:
                return
            raw = self._message(row, loaded, row.sent_at or now).as_bytes()
        await asyncio.to_thread(session.append, folder, raw, row.sent_at or now)

    async def _mark_sent(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        row.status = "sent"
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


def utcnow() -> datetime:
    """The delivery clock (the adapters' one reading of the time)."""
    return datetime.now(UTC)
