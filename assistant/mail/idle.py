"""IMAP IDLE on asyncio (aioimaplib): hundreds of watched folders in one process, no threads.

The scale-out watcher only needs to know *that* a folder changed (the sync job fetches what);
one :func:`watch_folder` task per folder logs in, selects the folder read-only, IDLEs, and
calls ``on_change`` on every untagged response (EXISTS, EXPUNGE, FETCH), re-issuing IDLE every
``renew`` seconds (RFC 2177: before 29 minutes). Connection errors propagate to the caller,
which reconnects with backoff. aioimaplib has no STARTTLS: :func:`_starttls` sends the command
and upgrades the connection with asyncio's ``start_tls`` (certificate and host checked as for
IMAPS). OAuth2 mailboxes log in
with XOAUTH2 or OAUTHBEARER; ``url`` may be a coroutine function giving the URL, so every
connection gets a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aioimaplib import aioimaplib

from ..core.backoff import says_limit
from ..core.errors import ImapError
from .imap import quote_mailbox
from .sasl import TokenError, initial_response, token_from
from .smtp import tls_context
from .urls import MailURL

#: The URL to log in with, asked for at each connection (a fresh OAuth2 token).
UrlSource = Callable[[], Awaitable[MailURL]]

RENEW = 24 * 60.0


class IdleError(ImapError):
    """The server refused login, SELECT or IDLE; ``kind`` says which."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def supports_idle_url(url: MailURL) -> bool:
    """True for URLs the asyncio watcher can open: all of them (plain, TLS, STARTTLS)."""
    return url.security in ("plain", "tls", "starttls")


async def _open(url: MailURL) -> aioimaplib.IMAP4:
    if url.security == "tls":
        client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
            host=url.host, port=url.port, timeout=url.timeout, ssl_context=tls_context(url.cafile)
        )
    else:
        client = aioimaplib.IMAP4(host=url.host, port=url.port, timeout=url.timeout)
    await client.wait_hello_from_server()
    if url.security == "starttls":
        await _starttls(client, url)
    if url.auth in ("xoauth2", "oauthbearer"):
        response = await _bearer_login(client, url)
    else:
        response = await client.login(url.username, url.password)
    if response.result != "OK":
        said = " ".join(
            line.decode(errors="replace") for line in response.lines if isinstance(line, bytes)
        )
        kind = "limit" if says_limit(said) else "login"
        raise IdleError(kind, f"login as {url.username!r} was refused: {said[:200]}")
    return client


async def _starttls(client: aioimaplib.IMAP4, url: MailURL) -> None:
    """STARTTLS (RFC 3501 §6.2.1), then TLS on the same connection before any credential."""
    protocol = client.protocol
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), client.timeout)
    if response.result != "OK":
        raise IdleError("starttls", f"{url.host} does not offer STARTTLS")
    loop = asyncio.get_running_loop()
    transport = await loop.start_tls(
        protocol.transport, protocol, tls_context(url.cafile), server_hostname=url.host
    )
    if transport is None:
        raise IdleError("starttls", "the TLS handshake did not complete")
    protocol.transport = transport


async def _bearer_login(client: aioimaplib.IMAP4, url: MailURL) -> aioimaplib.Response:
    try:
        token = await asyncio.to_thread(token_from, url)
    except TokenError as exc:
        raise IdleError("login", str(exc)) from None
    if url.auth == "xoauth2":
        return await client.xoauth2(url.username, token)
    # aioimaplib has no OAUTHBEARER: the same AUTHENTICATE with an RFC 7628 response.
    protocol = client.protocol
    command = aioimaplib.Command(
        "AUTHENTICATE",
        protocol.new_tag(),
        "OAUTHBEARER",
        initial_response("oauthbearer", url.username, token),
        loop=protocol.loop,
    )
    response = await asyncio.wait_for(protocol.execute(command, scrub=token), client.timeout)
    if response.result == "OK":
        protocol.state = aioimaplib.AUTH
    return response


async def watch_folder(
    url: MailURL | UrlSource,
    folder: str,
    on_change: Callable[[], Awaitable[None]],
    ready: Callable[[], None] | None = None,
    renew: float = RENEW,
) -> None:
    """IDLE on ``folder`` until cancelled; ``on_change`` after every server push."""
    client = await _open(url if isinstance(url, MailURL) else await url())
    try:
        response = await client.select(quote_mailbox(folder))
        if response.result != "OK":
            raise IdleError("select", f"cannot select {folder!r}")
        if ready is not None:
            ready()
        while True:
            idle = await client.idle_start(timeout=renew)
            changed = False
            while client.has_pending_idle():
                push = await client.wait_server_push()
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    client.idle_done()
                    await asyncio.wait_for(idle, timeout=10)
                    break
                changed = True
                client.idle_done()  # leave IDLE so the sync sees a settled folder
                await asyncio.wait_for(idle, timeout=10)
            if changed:
                await on_change()
    finally:
        await _close(client)


async def _close(client: aioimaplib.IMAP4) -> None:
    """Leave IDLE, LOG OUT (best effort: the connection may be dead), and close the socket
    whatever LOGOUT did: a watcher never leaks a connection."""
    with contextlib.suppress(BaseException):
        if client.has_pending_idle():
            client.idle_done()  # LOGOUT inside IDLE would wait for nothing
        await asyncio.wait_for(client.logout(), timeout=1)
    transport = getattr(getattr(client, "protocol", None), "transport", None)
    if transport is not None:
        transport.close()
