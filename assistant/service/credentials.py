"""The one way service code gets a mailbox's connection: its stored URL, and for OAuth2
mailboxes a fresh access token from the stored grant (see :mod:`.oauth_tokens`).

Every (re)connection asks again, so a token that expired while a watcher slept, or one the
server refused, is replaced before the next login rather than reused.
"""

from __future__ import annotations

import asyncio
import dataclasses

from ..clock import Clock
from ..mail.imap import ConnectError, ImapSession
from ..mail.smtp import SendError, SmtpSender
from ..mail.urls import MailURL, parse_url
from ..secrets import decrypt
from ..store.models import Mailbox, OAuthGrant
from .oauth_tokens import access_token


def stored_url(mailbox: Mailbox, protocol: str) -> MailURL:
    """The mailbox's stored IMAP or SMTP URL, decrypted and parsed (no token yet)."""
    if protocol == "smtp":
        if not mailbox.smtp_secret:
            raise SendError("the mailbox has no SMTP URL (followup mailbox add --smtp)", True)
        return parse_url(decrypt(mailbox.smtp_secret), "smtp")
    return parse_url(decrypt(mailbox.imap_secret), "imap")


async def with_token(
    mailbox: Mailbox, url: MailURL, clock: Clock, refused: str | None = None
) -> MailURL:
    """``url`` ready to log in: for ``auth=oauth`` the grant's SASL mechanism and a valid
    access token in the password slot; other URLs unchanged."""
    if url.auth != "oauth":
        return url
    token = await access_token(mailbox, clock, refused)
    return dataclasses.replace(url, auth=await _sasl(mailbox), password=token)


async def imap_url(mailbox: Mailbox, clock: Clock, refused: str | None = None) -> MailURL:
    """The IMAP URL to log in with now."""
    return await with_token(mailbox, stored_url(mailbox, "imap"), clock, refused)


async def open_imap(mailbox: Mailbox, clock: Clock) -> ImapSession:
    """A logged-in IMAP session; an OAuth2 login the server refuses is tried once more with a
    refreshed token (the provider may revoke or expire a token before its stated expiry)."""
    url = await imap_url(mailbox, clock)
    try:
        return await asyncio.to_thread(ImapSession, url)
    except ConnectError as exc:
        if exc.kind != "login" or not mailbox_uses_oauth(mailbox):
            raise
    url = await imap_url(mailbox, clock, refused=url.password)
    return await asyncio.to_thread(ImapSession, url)


async def needs_reauth(mailbox: Mailbox) -> bool:
    """True when the mailbox's OAuth2 sign-in was refused and waits for a reconnect."""
    return await OAuthGrant.filter(mailbox_id=mailbox.id, needs_reauth_since__isnull=False).exists()


def mailbox_uses_oauth(mailbox: Mailbox) -> bool:
    """True when the mailbox signs in with its stored OAuth2 grant."""
    return stored_url(mailbox, "imap").auth == "oauth"


async def smtp_sender(mailbox: Mailbox, clock: Clock) -> SmtpSender:
    """The mailbox's SMTP sender; OAuth2 mailboxes get their tokens from the grant."""
    url = stored_url(mailbox, "smtp")
    if url.auth != "oauth":
        return SmtpSender(url)

    async def token(refused: str | None) -> str:
        try:
            return await access_token(mailbox, clock, refused)
        except ConnectError as exc:  # needs re-authorisation, or the provider is down
            raise SendError(str(exc), False) from None

    return SmtpSender(dataclasses.replace(url, auth=await _sasl(mailbox)), token)


async def _sasl(mailbox: Mailbox) -> str:
    grant = await OAuthGrant.get_or_none(mailbox_id=mailbox.id).only("id", "sasl")
    return grant.sasl if grant is not None else "xoauth2"
