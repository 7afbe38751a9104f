"""The Sent-folder half of a delivery: exactly one copy of each sent mail, ours or the
provider's (the rules: :mod:`assistant.core.sentcopy`).

After the SMTP server's 250 the row is ``accepted``, and it is never sent by SMTP again.
Then its Sent copy is settled: found (``sent``), APPENDed (``sent``), or, for a provider
that files its own copy and has not yet, awaited: the row stays ``accepted`` with
``next_attempt_at`` at the end of the grace delay, and the first pass after it looks again.
A pass takes such a row with a conditional UPDATE (:func:`claim`), so two passes never file
two copies. A crash anywhere leaves the row ``accepted``: the next pass looks before it
APPENDs.

``extra`` hosts (``FOLLOWUP_SELF_FILING_SMTP_HOSTS``, read at start into
:attr:`~assistant.runtime.Runtime.self_filing_hosts`) are more SMTP hosts that file what they
send in Sent themselves, for ``sent_copy = auto``: a provider missing from the built-in table
(the tests' loopback SMTP server that files like Gmail does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from imapclient.exceptions import IMAPClientError
from tortoise.expressions import Q

from ..core.sentcopy import CopyDecision, CopyMode, Step, copy_decision, copy_mode
from ..mail.imap import ConnectError, ImapSession
from ..mail.urls import parse_url
from ..secrets import SecretKeyError, decrypt
from ..store.models import Folder, Mailbox, OutboxItem

log = logging.getLogger("followup.deliver")

#: What a broken or unreachable IMAP server raises (the row waits for a later pass).
IMAP_ERRORS = (ConnectError, IMAPClientError, OSError)
KEY_HEADER = "X-Followup-Key"

#: Makes the bytes of a row's mail for our copy (None: it cannot be rebuilt any more).
Build = Callable[[], Awaitable[bytes | None]]


def smtp_host(mailbox: Mailbox) -> str | None:
    """The host of the mailbox's SMTP URL (None: no SMTP URL, or one that cannot be read,
    which the send itself reports)."""
    if not mailbox.smtp_secret:
        return None
    try:
        return parse_url(decrypt(mailbox.smtp_secret), "smtp").host
    except (ValueError, SecretKeyError):  # URLError is a ValueError
        return None


def mailbox_mode(mailbox: Mailbox, extra: tuple[str, ...] = ()) -> CopyMode:
    """What ``mailbox``'s ``sent_copy`` setting and SMTP host make of the Sent copy
    (``extra``: the administrator's additional self-filing SMTP hosts)."""
    return copy_mode(mailbox.sent_copy, smtp_host(mailbox), extra)


def sent_copy_text(mailbox: Mailbox, extra: tuple[str, ...] = ()) -> str:
    """What the connection test says about the Sent copy of what Followup sends."""
    mode, host = mailbox_mode(mailbox, extra), smtp_host(mailbox) or "?"
    texts = {
        CopyMode.NONE: "never ours (sent_copy = never: the provider files it)",
        CopyMode.LATER: f"{host} files sent mail in Sent itself: Followup looks for that copy "
        "and adds its own only if none appears",
        CopyMode.NOW: "Followup adds one copy to Sent (none if one is already there)",
    }
    return f"{mailbox.sent_copy}: {texts[mode]}"


def find_sent(session: ImapSession, folder: str, message_id: str, key: str) -> bool:
    """Whether a mail is in ``folder``: by its Message-ID, else by its ``X-Followup-Key``
    (Outlook.com files its copy under a Message-ID of its own). Blocking."""
    if session.find_message_id(folder, message_id):
        return True
    return bool(session.find_header(folder, KEY_HEADER, key))


async def claim(row: OutboxItem, now: datetime, lease: datetime) -> bool:
    """Take an ``accepted`` row for its Sent copy until ``lease``: only the process whose
    UPDATE still sees the row due goes on."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    done = await OutboxItem.filter(due, id=row.id, status="accepted").update(next_attempt_at=lease)
    if done:
        row.next_attempt_at = lease
    return bool(done)


class SentCopies:
    """Looks for sent mail in one mailbox's Sent folder and files our copy when it is due.

    ``session`` opens (or reuses) the pass's IMAP session, ``drop`` closes a broken one;
    ``extra`` names more self-filing SMTP hosts (:func:`mailbox_mode`). IMAP trouble is
    logged and leaves the row as it is, for a later pass: never the pass's end."""

    def __init__(
        self,
        mailbox: Mailbox,
        session: Callable[[], Awaitable[ImapSession]],
        drop: Callable[[], Awaitable[None]],
        extra: tuple[str, ...] = (),
    ) -> None:
        self.mailbox = mailbox
        self.extra = extra
        self._session, self._drop = session, drop
        self._mode: CopyMode | None = None

    @property
    def mode(self) -> CopyMode:
        """The mailbox's mode, read once per pass."""
        if self._mode is None:
            self._mode = mailbox_mode(self.mailbox, self.extra)
        return self._mode

    async def folder(self) -> str | None:
        """The Sent folder's name (None: the mailbox has none known)."""
        folder = await Folder.filter(mailbox=self.mailbox, role="sent").order_by("id").first()
        return folder.name if folder else None

    async def in_sent(self, row: OutboxItem, fields: dict[str, Any]) -> bool | None:
        """Whether ``row``'s mail is in Sent, ours or the provider's copy (None: Sent could
        not be read; ``fields``: the row's log fields)."""
        try:
            folder = await self.folder()
            return folder is not None and await self._look(row, folder)
        except IMAP_ERRORS as exc:
            await self._trouble("looking in Sent failed; will retry", exc, fields)
            return None

    async def settle(
        self, row: OutboxItem, now: datetime, build: Build, fields: dict[str, Any]
    ) -> bool:
        """Settle the Sent copy of ``row``, which the server accepted; True when the row is
        done. False while a provider's own copy is awaited (when to look again is saved on
        the row) or when IMAP failed: the row stays ``accepted``."""
        try:
            decision = await self._settle(row, now, build)
        except IMAP_ERRORS as exc:
            await self._trouble("copy to Sent failed; will retry", exc, fields)
            return False
        if decision.step is Step.WAIT:
            extra = {**fields, "rule": decision.rule, "until": decision.until}
            log.info("waiting for the provider's copy in Sent", extra=extra)
            return False
        return True

    async def _settle(self, row: OutboxItem, now: datetime, build: Build) -> CopyDecision:
        if self.mode is CopyMode.NONE:
            return copy_decision(self.mode, False, now, now)
        folder = await self.folder()
        if folder is None:  # nowhere to look or file (as before: the row is sent)
            return CopyDecision(Step.DONE, "sent-copy-no-folder")
        sent_at = row.sent_at or now
        decision = copy_decision(self.mode, await self._look(row, folder), sent_at, now)
        if decision.step is Step.APPEND:
            raw = await build()
            if raw is not None:
                session = await self._session()
                await asyncio.to_thread(session.append, folder, raw, sent_at)
        elif decision.step is Step.WAIT:
            row.next_attempt_at = decision.until
            await row.save(update_fields=["next_attempt_at"])
        return decision

    async def _look(self, row: OutboxItem, folder: str) -> bool:
        session = await self._session()
        return await asyncio.to_thread(find_sent, session, folder, row.message_id, row.key)

    async def _trouble(self, what: str, exc: Exception, fields: dict[str, Any]) -> None:
        log.warning(what, extra={**fields, "error": str(exc)})
        await self._drop()  # a broken session is opened afresh next time
