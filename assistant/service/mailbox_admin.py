"""The Mailboxes page's work: each mailbox as an admin sees it (its IMAP URL without the
password, paused, failing, waiting for a new sign-in, the messages set aside), and connecting
a mailbox with the URLs typed in: tested before anything is stored, then watched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.durations import parse_duration
from ..mail.urls import redact
from ..secrets import decrypt
from ..store.models import Mailbox, Quarantine
from .mailboxes import (
    ConnectionCheck,
    MailboxError,
    add_mailbox,
    check_connection,
    failing_text,
    parse_urls,
)
from .oauth_tokens import needing_reauth

#: Quarantined messages listed per mailbox, newest first.
QUARANTINE_SHOWN = 20


@dataclass(frozen=True, slots=True)
class MailboxRow:
    """One mailbox on the page."""

    name: str
    address: str
    #: The IMAP URL without its password (or a placeholder when it cannot be decrypted).
    imap: str
    paused: str | None
    failing: str | None
    #: Why the OAuth2 provider refused the sign-in (reconnect to resume), if it did.
    reauth: str | None
    #: Messages Followup could not handle, with why (the rest went on without them).
    quarantined: list[Quarantine]


@dataclass(frozen=True, slots=True)
class NewMailbox:
    """A mailbox to connect, as typed into the form (URLs with their passwords)."""

    name: str
    address: str
    imap: str
    smtp: str | None
    team: list[str]
    #: How long to wait for a human reply before acknowledging, e.g. ``2m``.
    grace: str


def team_patterns(text: str) -> list[str]:
    """The team's addresses and ``@domain`` patterns typed into a form (spaces or commas)."""
    return [t.strip() for t in text.replace(",", " ").split() if t.strip()]


async def mailbox_rows() -> list[MailboxRow]:
    """Every mailbox by name."""
    reauth = await needing_reauth()
    return [
        MailboxRow(
            name=m.name,
            address=m.address,
            imap=shown_url(m.imap_secret),
            paused=m.paused_reason,
            failing=failing_text(m),
            reauth=reauth.get(m.id),
            quarantined=await Quarantine.filter(mailbox=m).order_by("-id").limit(QUARANTINE_SHOWN),
        )
        for m in await Mailbox.all().order_by("name")
    ]


async def connect(new: NewMailbox, now: datetime) -> str:
    """Test the servers, then store the mailbox (watched from now on); the line saying so.
    Raises a :class:`~assistant.core.errors.UsageError`: a URL, the team or the grace that
    cannot be used, or :class:`MailboxError` with what the test found."""
    imap, smtp = parse_urls(new.imap, new.smtp, from_web=True)
    check = await check_connection(imap, smtp)
    if not check.ok:
        raise MailboxError(failed(check))
    grace = parse_duration(new.grace or "2m").real()
    seconds = int(grace.total_seconds())
    # The INBOX as the test found it fixes the history cut-off now (as the command line and
    # the OAuth2 sign-in do): a client who writes before the first sync is new mail.
    await add_mailbox(
        new.name, new.address, new.imap, new.smtp, new.team, None, seconds, now, None, check.inbox
    )
    folders = ", ".join(f"{name} ({role})" for name, role in check.folders)
    return f"Connected {new.name}: folders {folders}. It is watched from now on."


def failed(check: ConnectionCheck) -> str:
    """What a failed connection test says: IMAP first, then SMTP, then the rest."""
    if check.imap_error:
        return f"IMAP ({check.imap_error_kind}): {check.imap_error}"
    if check.smtp_error:
        return f"SMTP: {check.smtp_error}"
    return "; ".join(check.problems)


def shown_url(secret: str) -> str:
    """A stored mailbox URL without its password, or a placeholder."""
    try:
        return redact(decrypt(secret))
    except Exception:  # another key, a damaged value: the page still lists the mailbox
        return "(cannot be read with this key)"
