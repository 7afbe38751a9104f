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

Statuses and their legal changes: :mod:`assistant.core.outbox_states` (checked at every change
here); the guards: the named rules of :mod:`assistant.core.send_rules`, via :mod:`.send_guards`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any

from ..clock import Clock
from ..core.evaluate import MailboxPolicy
from ..core.loops import throttled
from ..core.mail_kinds import RENDERED_WHEN_PLANNED, MailKind
from ..core.outbox_states import ACTIVE as ACTIVE  # re-exported for its old importers
from ..core.outbox_states import Status, advance, retry_delay
from ..core.rules import Postpone
from ..mail.imap import ConnectError, ImapSession
from ..mail.smtp import SendError, SmtpSender
from ..render import renderer_for
from ..runtime import SEND_LEASE as SEND_LEASE  # the default lease, re-exported
from ..settings import FollowupConfig
from ..store.models import Mailbox, OutboxItem
from . import credentials
from .crash import crash_point
from .loops import CLIENT_KINDS, sent_to_clients
from .outbox import load_thread
from .outgoing import build_message, render_context
from .outgoing import thread_link as thread_link
from .send_guards import Guards
from .sentcopy import SentCopies, claim
from .templates import active_sources
from .thread_rows import LoadedThread

log = logging.getLogger("followup.deliver")

DIGEST = MailKind.DIGEST.value
#: A notice to the admins (a mailbox needs re-authorisation), written when planned.
ADMIN_NOTICE = MailKind.ADMIN_NOTICE.value
#: Rendered when planned (no thread to re-check): digests, answers to reply commands, notices.
STORED_KINDS = RENDERED_WHEN_PLANNED


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
        *,
        lease: timedelta,
        self_filing_hosts: tuple[str, ...],
    ) -> None:
        """``lease`` and ``self_filing_hosts`` have no defaults on purpose: they come from the
        runtime (``FOLLOWUP_SEND_LEASE_SECONDS``, ``FOLLOWUP_SELF_FILING_SMTP_HOSTS``), and a
        caller that forgot them would hold rows too long or file a second copy in Sent."""
        self.mailbox = mailbox
        #: Read for the send lease only (a long pass's ``now`` may be minutes old).
        self.clock = clock
        self.lease = lease
        self.policy = policy
        self.config = config
        self.limits = config.guards.limits()
        self.dry_run = dry_run or mailbox.dry_run
        self.renderer = renderer_for(config.messages.templates_dir)
        self._imap: ImapSession | None = None
        self._smtp: SmtpSender | None = None
        self.copies = SentCopies(mailbox, self._session, self._drop_imap, self_filing_hosts)
        window = config.guards.per_sender_window
        self.guards = Guards(mailbox, policy, self.limits, window, self._session)

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

    async def _drop_imap(self) -> None:
        if self._imap is not None:
            await asyncio.to_thread(self._imap.close)
            self._imap = None

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
        if row.status != Status.PENDING or self.dry_run or row.kind not in CLIENT_KINDS:
            # Only mail to clients can run away (a loop with another robot); mail to the
            # team is bounded by construction: a step per thread, a digest per person a day.
            return False
        recent = await sent_to_clients(self.mailbox, now - timedelta(minutes=1))
        return throttled(recent, self.limits)

    async def _deliver(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        if row.status in (Status.PENDING, Status.RETRY):
            await self._first_send(row, now, report)
        elif row.status == Status.SENDING:
            await self._recover_sending(row, now, report)
        elif (  # never SMTP again: only the Sent copy
            row.status == Status.ACCEPTED
            and await claim(row, now, self._lease(now))
            and await self._safe_copy(row, now)
        ):
            await self._mark_sent(row, now, report)

    async def _first_send(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        loaded = None
        if row.kind not in STORED_KINDS:  # digests and command answers: rendered when planned
            loaded = await self._vetted(row, now, report)
            if loaded is None:
                return
            await self._render(row, loaded, now)
        if not self.dry_run:
            await self._send(row, loaded, now, report)
            return
        mail = {"subject": row.subject, "text": row.text, "html": row.html}
        kept = {**mail, "template_error": row.template_error, "recipient": row.recipient}
        if await self._settle(row, Status.DRY_RUN, **kept):  # what would have gone, kept
            report.dry_run += 1
            log.info("dry run", extra=self._log_fields(row))

    async def _vetted(
        self, row: OutboxItem, now: datetime, report: DeliveryReport
    ) -> LoadedThread | None:
        """The row's thread when every guard lets it go now; else None, the row skipped
        (with the rule that said no) or postponed."""
        loaded = await load_thread(self.mailbox, row.thread_id, self.policy)
        outcome = await self.guards.check(row, loaded, now)
        if isinstance(outcome, Postpone):
            await self._postpone(row, outcome, report)
        elif outcome is not None:
            await self._skip(row, outcome.rule, report)
        return loaded if outcome is None else None

    async def _postpone(self, row: OutboxItem, wait: Postpone, report: DeliveryReport) -> None:
        row.due_at = wait.until
        await row.save(update_fields=["due_at"])
        report.postponed += 1
        fields = {**self._log_fields(row), "until": wait.until, "why": wait.reason}
        log.info("postponed", extra=fields)

    async def _skip(self, row: OutboxItem, rule: str, report: DeliveryReport) -> None:
        if not await self._settle(row, Status.SKIPPED, skip_rule=rule):
            return  # another process moved it on: its decision stands
        report.skipped[rule] = report.skipped.get(rule, 0) + 1
        log.info("skipped", extra={**self._log_fields(row), "rule": rule})

    # --- status changes (:mod:`assistant.core.outbox_states`) ---------------------------

    async def _settle(self, row: OutboxItem, to: Status, **values: Any) -> bool:
        """Move ``row`` to ``to`` (with ``values``) only if nobody changed it since it was
        read (another process may have claimed and sent it meanwhile); True on success."""
        advance(row.status, to)
        done = await OutboxItem.filter(id=row.id, status=row.status, attempts=row.attempts).update(
            status=str(to), **values
        )
        if done:
            for name, value in {"status": str(to), **values}.items():
                setattr(row, name, value)
        return bool(done)

    async def _move(self, row: OutboxItem, to: Status, **values: Any) -> None:
        """Move ``row``, which this process holds (its lease), to ``to`` with ``values``."""
        advance(row.status, to)
        for name, value in {"status": str(to), **values}.items():
            setattr(row, name, value)
        await row.save()

    async def _quarantine(self, row: OutboxItem, exc: Exception, report: DeliveryReport) -> None:
        """A row that raised (a hostile address the SMTP library refuses, a broken
        template...) is stopped as ``failed`` with its reason; the pass goes on. A row the
        server already accepted keeps that status (it is never sent again)."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.status == Status.ACCEPTED:
            log.error("sent, then failed", extra={**self._log_fields(row), "error": error})
            return
        if not await self._settle(row, Status.FAILED, last_error=error, skip_rule="row-error"):
            raise exc  # the row moved on meanwhile, or the database is gone: not ours to mark
        report.failed += 1
        log.error("row failed", extra={**self._log_fields(row), "error": error})

    async def _mark_sent(self, row: OutboxItem, now: datetime, report: DeliveryReport) -> None:
        await self._move(row, Status.SENT, next_attempt_at=None, sent_at=row.sent_at or now)
        report.sent += 1
        log.info("sent", extra=self._log_fields(row))

    # --- sending ------------------------------------------------------------------------

    async def _render(self, row: OutboxItem, loaded: LoadedThread, now: datetime) -> None:
        sources = await active_sources(row.kind, self.mailbox)  # saved on the web page
        context = await render_context(self.mailbox, self.config, self.policy, row, loaded, now)
        rendered = self.renderer.render(row.kind, context, sources)
        row.subject, row.text, row.html = rendered.subject, rendered.text, rendered.html
        row.template_error = rendered.error  # type: ignore[assignment]  # nullable column
        if rendered.error:
            log.error("template failed", extra={**self._log_fields(row), "error": rendered.error})

    def _message(self, row: OutboxItem, loaded: LoadedThread | None, now: datetime) -> EmailMessage:
        return build_message(self.mailbox, self.config, self.policy.people, row, loaded, now)

    async def _send(
        self, row: OutboxItem, loaded: LoadedThread | None, now: datetime, report: DeliveryReport
    ) -> None:
        # Claim the row: only the process whose UPDATE still sees the status and attempt
        # count it read goes on (another worker, or a second `followup run`, stops here).
        # The lease keeps everyone else off the row while it is in flight; after a crash,
        # the row is recovered once the lease has run out.
        lease = self._lease(now)
        if not await self._settle(
            row, Status.SENDING, attempts=row.attempts + 1, next_attempt_at=lease
        ):
            log.info("claimed by another process", extra=self._log_fields(row))
            return
        await row.save()  # what was rendered for it
        crash_point("before_smtp")
        msg = self._message(row, loaded, now)
        try:
            await (await self._sender()).send(msg, self.mailbox.address, [row.recipient])
        except SendError as exc:
            await self._failed(row, exc, now, report)
            return
        crash_point("before_accepted")  # the one window: sent, not yet recorded
        await self._move(row, Status.ACCEPTED, sent_at=now)
        crash_point("after_smtp")
        if await self._safe_copy(row, now, msg.as_bytes()):
            crash_point("after_append")
            await self._mark_sent(row, now, report)

    async def _failed(
        self, row: OutboxItem, exc: SendError, now: datetime, report: DeliveryReport
    ) -> None:
        fields = {**self._log_fields(row), "error": str(exc)}
        if exc.permanent:
            await self._move(row, Status.FAILED, last_error=str(exc))
            report.failed += 1
            log.error("send failed", extra=fields)
            return
        retry_at = now + retry_delay(row.attempts)
        await self._move(row, Status.RETRY, last_error=str(exc), next_attempt_at=retry_at)
        report.retried += 1
        log.warning("send will be retried", extra={**fields, "retry_at": row.next_attempt_at})

    def _lease(self, now: datetime) -> datetime:
        """Until when a row taken now is left alone by other processes."""
        current = self.clock.now() if self.clock is not None else now
        return max(now, current) + self.lease  # a long pass's `now` may be minutes old

    async def _recover_sending(
        self, row: OutboxItem, now: datetime, report: DeliveryReport
    ) -> None:
        """A crash left this row mid-send: trust the Sent folder, else send again. When
        the Sent folder cannot be read, the row waits for a later pass (never sent blind)."""
        fields = self._log_fields(row)
        found = await self.copies.in_sent(row, fields)
        if found is None:
            return  # Sent could not be read: the row stays `sending`, a later pass retries
        if found:
            log.info("found in Sent after a restart; not sending again", extra=fields)
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

    def _log_fields(self, row: OutboxItem) -> dict[str, Any]:
        about = {"key": row.key, "kind": row.kind, "to": row.recipient, "thread_id": row.thread_id}
        return {"mailbox": self.mailbox.name, **about}
