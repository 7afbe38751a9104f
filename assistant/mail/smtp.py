"""Sending with aiosmtplib: one connection reused for a delivery pass, errors sorted into
transient (retry with backoff) and permanent (stop and show)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from functools import lru_cache

import aiosmtplib

from ..core.errors import SmtpError
from .sasl import TokenError, initial_response, token_from
from .urls import MailURL

#: Gives an OAuth2 access token; called again with the token the server refused, once.
TokenSource = Callable[[str | None], Awaitable[str]]


@lru_cache(maxsize=16)
def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying TLS context, built once per CA file (loading the CA bundle costs ~20 ms)."""
    return ssl.create_default_context(cafile=cafile)


class SendError(SmtpError):
    """Sending failed; ``permanent`` errors (5xx) are not retried."""

    def __init__(self, message: str, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class SmtpSender:
    """A lazily opened SMTP connection, reused until :meth:`close`.

    ``token`` serves OAuth2 mailboxes (``auth`` xoauth2 or oauthbearer): it is asked for a
    token at every (re)connection, and once more with the refused one when the server turns
    it down (expired early, revoked), so a long delivery pass outlives its first token."""

    def __init__(self, url: MailURL, token: TokenSource | None = None) -> None:
        self.url = url
        self.token = token
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        url = self.url
        client = aiosmtplib.SMTP(
            hostname=url.host,
            port=url.port,
            use_tls=url.security == "tls",
            start_tls=url.security == "starttls",
            tls_context=tls_context(url.cafile) if url.security != "plain" else None,
            timeout=url.timeout,
        )
        await client.connect()
        try:
            if url.auth in ("xoauth2", "oauthbearer"):
                await self._oauth_login(client)
            elif url.username:
                await client.login(url.username, url.password)
        except BaseException:  # a refused login must not leave its socket open
            client.close()
            raise
        return client

    async def _bearer(self, refused: str | None) -> str:
        if self.token is not None:
            return await self.token(refused)
        try:
            return await asyncio.to_thread(token_from, self.url)
        except TokenError as exc:
            raise SendError(str(exc), False) from None

    async def _oauth_login(self, client: aiosmtplib.SMTP) -> None:
        token = await self._bearer(None)
        try:
            await self._authenticate(client, token)
        except aiosmtplib.SMTPAuthenticationError:
            if self.token is None:
                raise
            await self._authenticate(client, await self._bearer(token))

    async def _authenticate(self, client: aiosmtplib.SMTP, token: str) -> None:
        mechanism = self.url.auth
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        response = initial_response(mechanism, self.url.username, token)
        reply = await client.execute_command(b"AUTH", mechanism.upper().encode(), response.encode())
        if reply.code == 334:
            # The server's error details (RFC 7628 §3.2.2); the client ends the exchange
            # (OAUTHBEARER: a lone ^A; XOAUTH2: an empty line) and gets the final 5xx.
            reply = await client.execute_command(b"AQ==" if mechanism == "oauthbearer" else b"")
        if reply.code != 235:
            raise aiosmtplib.SMTPAuthenticationError(reply.code, reply.message)

    async def check(self) -> None:
        """Connect and log in (the connection test), then quit; raise like aiosmtplib."""
        self._client = await self._connect()
        await self.close()

    async def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None:
        """Send one message; raise :class:`SendError`."""
        try:
            if self._client is None or not self._client.is_connected:
                self._client = await self._connect()
            # Our own flattening (the message's policy), so what goes out is byte for byte
            # what is copied to Sent; aiosmtplib's send_message would re-fold the headers.
            refused, _ = await self._client.sendmail(sender, recipients, msg.as_bytes())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendError(f"recipient refused: {exc}", all(c >= 500 for c in codes)) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()  # the session's state is unknown: start afresh next time
            raise _send_error(exc) from None
        if refused:
            raise SendError(f"recipients refused: {sorted(refused)}", True)

    async def close(self) -> None:
        """Quit politely, or just drop a dead connection."""
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


def _send_error(exc: aiosmtplib.SMTPException | OSError) -> SendError:
    """What a failed SMTP exchange means: permanent (5xx, a refused login) or worth a retry."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SendError(f"SMTP login refused: {exc.message}", True, exc.code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SendError(f"SMTP {exc.code} {exc.message}", exc.code >= 500, exc.code)
    return SendError(f"SMTP connection: {exc.__class__.__name__}: {exc}", False)
