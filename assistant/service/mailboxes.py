"""Connecting mailboxes: add (validated, credentials encrypted), list, and test a connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import aiosmtplib
from imapclient.exceptions import IMAPClientError

from ..core.errors import UsageError
from ..core.syncable import InboxView, sync_problems
from ..core.team import Team
from ..mail.imap import ConnectError, ImapSession
from ..mail.smtp import SmtpSender
from ..mail.urls import MailURL, parse_url
from ..secrets import decrypt, encrypt
from ..store.models import (
    Folder,
    Mailbox,
    OAuthGrant,
    Quarantine,
    StoredMessage,
    ThreadRecord,
)
from .loops import active_pauses


class MailboxError(UsageError, ValueError):
    """A mailbox request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class InboxMark:
    """The INBOX's name, UIDVALIDITY and UIDNEXT when the mailbox was connected."""

    name: str
    uidvalidity: int
    uidnext: int


@dataclass
class ConnectionCheck:
    """The result of testing a mailbox's servers."""

    imap_ok: bool = False
    imap_error: str | None = None
    imap_error_kind: str | None = None
    capabilities: list[str] = field(default_factory=list)
    folders: list[tuple[str, str]] = field(default_factory=list)
    smtp_ok: bool | None = None
    smtp_error: str | None = None
    problems: list[str] = field(default_factory=list)
    #: The INBOX as the test found it: what is below its UIDNEXT now is history.
    inbox: InboxMark | None = None

    @property
    def ok(self) -> bool:
        """Everything configured works."""
        return self.imap_ok and self.smtp_ok is not False and not self.problems


def _inbox_view(session: ImapSession, inbox: str, fetch: bool) -> InboxView:
    """STATUS, every UID and (``fetch``) the newest message's header of INBOX."""
    status = session.status(inbox)
    session.select(inbox)
    try:
        uids = tuple(session.all_uids())
        fetched = None
        if fetch and uids:
            fetched = any(True for _ in session.fetch_headers([uids[-1]]))
    finally:
        session.unselect()
    return InboxView(status.get("UIDVALIDITY"), status.get("UIDNEXT"), uids, fetched)


class _Refused(Exception):
    """The IMAP side of the connection test failed: ``kind`` and the reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _probe_imap(url: MailURL, check: ConnectionCheck, chosen: dict[str, str] | None) -> None:
    """Log in, list the folders, and open INBOX in two sessions: a server whose UIDs do not
    hold still between them cannot be synced, and is refused with the reason."""
    try:
        _inspect(url, check, chosen)
        check.imap_ok = True
    except ConnectError as exc:
        check.imap_error, check.imap_error_kind = str(exc), exc.kind
        return
    except _Refused as exc:
        check.imap_error, check.imap_error_kind = str(exc), exc.kind
        return
    except (IMAPClientError, OSError) as exc:  # a server that fails a plain SELECT or FETCH
        check.imap_error, check.imap_error_kind = f"{type(exc).__name__}: {exc}", "protocol"
        return
    roles = {role for _, role in check.folders}
    if "inbox" not in roles:
        check.problems.append("no INBOX folder")
    if "sent" not in roles:
        check.problems.append(
            "no Sent folder found (by SPECIAL-USE or name): team replies sent from other clients "
            "will only be seen when they copy the shared address"
        )


def _list_folders(
    session: ImapSession, check: ConnectionCheck, chosen: dict[str, str]
) -> str | None:
    """The folders and their roles into ``check``; INBOX's name (None: there is none)."""
    check.folders = [(f.name, f.role) for f in session.folders(chosen)]
    missing = sorted(set(chosen.values()) - {name for name, _ in check.folders})
    if missing:
        raise _Refused("folder", f"no folder named {', '.join(map(repr, missing))} on the server")
    return next((name for name, role in check.folders if role == "inbox"), None)


def _inspect(url: MailURL, check: ConnectionCheck, chosen: dict[str, str] | None) -> None:
    """Fill ``check`` from two sessions; raise :class:`_Refused` for a server to refuse."""
    with ImapSession(url) as session:
        check.capabilities = sorted(session.capabilities)
        inbox = _list_folders(session, check, chosen or {})
        if inbox is None:
            return
        first = _inbox_view(session, inbox, fetch=True)
    with ImapSession(url) as again:
        unsyncable = sync_problems(first, _inbox_view(again, inbox, fetch=False))
    if unsyncable:
        raise _Refused("unsyncable", "; ".join(unsyncable))
    if first.uidvalidity is not None and first.uidnext is not None:
        check.inbox = InboxMark(inbox, first.uidvalidity, first.uidnext)


async def _probe_smtp(url: MailURL, check: ConnectionCheck) -> None:
    sender = SmtpSender(url)
    try:
        await sender.check()  # password, XOAUTH2 or OAUTHBEARER: as the service logs in
        check.smtp_ok = True
    except aiosmtplib.SMTPAuthenticationError:
        check.smtp_ok, check.smtp_error = False, f"SMTP login as {url.username!r} was refused"
    except (aiosmtplib.SMTPException, OSError) as exc:
        check.smtp_ok, check.smtp_error = False, f"SMTP {url.host}:{url.port}: {exc}"
    except Exception:  # a greeting that is not SMTP's (another service on that port)
        check.smtp_ok = False
        check.smtp_error = f"{url.host}:{url.port} does not answer like an SMTP server"
    finally:
        await sender.close()


async def check_connection(
    imap: MailURL, smtp: MailURL | None, chosen: dict[str, str] | None = None
) -> ConnectionCheck:
    """Connect to the servers and report exactly what works and what does not."""
    check = ConnectionCheck()
    await asyncio.to_thread(_probe_imap, imap, check, chosen)
    if smtp is not None:
        await _probe_smtp(smtp, check)
    return check


def parse_urls(
    imap: str, smtp: str | None, *, from_web: bool = False
) -> tuple[MailURL, MailURL | None]:
    """Validate both URLs (raises URLError); ``from_web`` refuses the server-local options."""
    local = not from_web
    return (
        parse_url(imap, "imap", local_options=local),
        parse_url(smtp, "smtp", local_options=local) if smtp else None,
    )


async def add_mailbox(
    name: str,
    address: str,
    imap: str,
    smtp: str | None,
    team: list[str],
    owner: str | None,
    grace_seconds: int,
    connected_at: datetime,
    history_since: datetime | None,
    inbox: InboxMark | None = None,
    chosen: dict[str, str] | None = None,
) -> Mailbox:
    """Store a new mailbox, credentials encrypted. ``inbox`` (from the connection test) fixes
    the history cut-off now: a client who writes before the first sync is new mail."""
    await _check_new(name, address, imap, smtp, team)
    box = await Mailbox.create(
        name=name,
        address=address.lower(),
        imap_secret=encrypt(imap),
        smtp_secret=encrypt(smtp) if smtp else None,
        team=team,
        owner=owner.lower() if owner else None,
        grace_seconds=grace_seconds,
        connected_at=connected_at,
        history_since=history_since,
        created_at=connected_at,
        sent_folder=(chosen or {}).get("sent"),
        archive_folder=(chosen or {}).get("archive"),
    )
    if inbox is not None:
        await Folder.create(
            mailbox=box,
            name=inbox.name,
            role="inbox",
            first_uidnext=inbox.uidnext,
            first_uidvalidity=inbox.uidvalidity,
        )
    return box


async def _check_new(name: str, address: str, imap: str, smtp: str | None, team: list[str]) -> None:
    """Refuse, with a clear message, what ``add_mailbox`` could not store or use."""
    if await Mailbox.exists(name=name):
        raise MailboxError(f"a mailbox named {name!r} exists already")
    if "@" not in address:
        raise MailboxError(f"--address {address!r} is not an email address")
    Team.from_patterns(team, address)  # raises PatternError with a clear message
    parse_urls(imap, smtp)


async def every_mailbox() -> list[Mailbox]:
    """Every connected mailbox, by name."""
    return await Mailbox.all().order_by("name")


async def get_mailbox(name: str) -> Mailbox:
    """The mailbox called ``name``, or a clear error listing the known ones."""
    mailbox = await Mailbox.get_or_none(name=name)
    if mailbox is None:
        names = await Mailbox.all().order_by("name").values_list("name", flat=True)
        known = ", ".join(str(n) for n in names) or "none yet: followup mailbox add ..."
        raise MailboxError(f"no mailbox named {name!r} (known: {known})")
    return mailbox


def mailbox_urls(mailbox: Mailbox) -> tuple[MailURL, MailURL | None]:
    """Decrypt and parse the stored URLs."""
    smtp = decrypt(mailbox.smtp_secret) if mailbox.smtp_secret else None
    return parse_urls(decrypt(mailbox.imap_secret), smtp)


@dataclass(frozen=True)
class MailboxSummary:
    """One line of ``followup mailbox list``."""

    name: str
    address: str
    imap: str
    folders: int
    messages: int
    awaiting: int
    last_sync: datetime | None
    paused: str | None = None
    dry_run: bool = False
    #: Addresses a loop rule paused: "address (rule, until ...)".
    paused_senders: tuple[str, ...] = ()
    #: Messages set aside because they could not be handled (``followup mailbox list``).
    quarantined: int = 0
    #: "since ...: why" while the mailbox's connection keeps failing.
    failing: str | None = None
    #: Why the OAuth2 provider refused the sign-in (reconnect to resume), if it did.
    reauth: str | None = None


def failing_text(mailbox: Mailbox) -> str | None:
    """``since 2026-12-06 10:00 UTC: why`` while the mailbox fails, else None."""
    if mailbox.failing_since is None:
        return None
    return f"since {mailbox.failing_since:%Y-%m-%d %H:%M} UTC: {mailbox.failing_reason or '?'}"


async def summaries(now: datetime) -> list[MailboxSummary]:
    """Every mailbox with counts; URLs are shown redacted."""
    out = []
    reauth = await OAuthGrant.filter(needs_reauth_since__isnull=False).values_list(
        "mailbox_id", "needs_reauth_reason"
    )
    refused = {int(i): str(why or "refused") for i, why in reauth}
    for mailbox in await Mailbox.all().order_by("name"):
        try:
            imap = mailbox_urls(mailbox)[0].redacted
        except Exception:  # an undecryptable or broken URL must not hide the others
            imap = "(cannot decrypt: check FOLLOWUP_SECRET_KEY)"
        folders = await Folder.filter(mailbox=mailbox)
        synced = [f.synced_at for f in folders if f.synced_at]
        out.append(
            MailboxSummary(
                name=mailbox.name,
                address=mailbox.address,
                imap=imap,
                folders=len(folders),
                messages=await StoredMessage.filter(mailbox=mailbox).count(),
                awaiting=await ThreadRecord.filter(mailbox=mailbox, state="awaiting_team").count(),
                last_sync=max(synced) if synced else None,
                paused=mailbox.paused_reason,
                dry_run=mailbox.dry_run,
                quarantined=await Quarantine.filter(mailbox=mailbox).count(),
                failing=failing_text(mailbox),
                reauth=refused.get(mailbox.id),
                paused_senders=tuple(
                    f"{p.address} ({p.rule}, until {p.until:%Y-%m-%d %H:%M} UTC)"
                    for p in await active_pauses(mailbox, now)
                ),
            )
        )
    return out
