"""Connecting a mailbox from the command line (``followup mailbox add`` and ``mailbox
reconnect``): typed URLs, servers looked up by address, or an OAuth2 sign-in.

A person signs in with the device grant where the provider offers it for mail (Microsoft),
else in a browser through a loopback redirect (Google), with a copy-paste fallback for a
headless server: open the link anywhere, then paste the address the browser ended on.
``--app`` uses app-only access (client credentials) for a shared mailbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import click

from ..runtime import Runtime
from ..service.find_servers import find_servers
from ..service.mailboxes import (
    ConnectionCheck,
    InboxMark,
    MailboxError,
    check_connection,
    parse_urls,
)
from ..service.oauth_connect import (
    Client,
    app_token,
    authorization_url,
    device_grant,
    exchange_code,
    mail_urls,
    resolve,
    save_grant,
    tested_token,
)
from .input import password_for

if TYPE_CHECKING:  # the ORM only as a type: entry points call service functions
    from ..store.models import Mailbox

#: How a person signs in: "device", "browser", or "auto" (device when offered).
SignIn = str


async def sign_in(client: Client, how: SignIn, app: bool) -> tuple[str, dict[str, Any]]:
    """``(flow, token)`` from the grant that fits: app-only, device, or browser."""
    if app:
        return "app", await app_token(client)
    device = how == "device" or (how == "auto" and client.provider.device_for_mail)
    if device:
        return "device", await device_grant(client, _show_device_code)
    return "user", await _browser_grant(client)


def _show_device_code(uri: str, code: str) -> None:
    click.echo(f"To connect the mailbox, open {uri} and enter the code {code}")
    click.echo("Waiting for the sign-in to be approved (Ctrl-C to give up)...")


async def _browser_grant(client: Client) -> dict[str, Any]:
    """Authorization code with PKCE, back to a one-shot server on 127.0.0.1 (RFC 8252), or
    the address pasted from wherever the browser ran."""
    arrived: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode("latin-1").split(" ")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        writer.write(b"Followup: signed in. You can close this window.\n")
        await writer.drain()
        writer.close()
        if len(line) > 1 and not arrived.done():
            arrived.set_result(line[1])

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/"
    url, state, verifier = authorization_url(client, redirect)
    click.echo(f"Open this link in a browser and sign in:\n\n  {url}\n")
    click.echo("On another machine? Paste here the address the browser ends on, then Enter.")
    pasted = _read_line()
    try:
        done, _ = await asyncio.wait({arrived, pasted}, return_when=asyncio.FIRST_COMPLETED)
        back = arrived.result() if arrived in done else str(pasted.result()).strip()
    finally:
        server.close()
        pasted.cancel()
    code = _code_from(back, state)
    return await exchange_code(client, redirect, code, verifier)


def _read_line() -> asyncio.Future[str]:
    """A line from standard input, read by a daemon thread: when the browser's redirect comes
    first, the process ends without waiting for Enter."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        text = sys.stdin.readline()
        if text.strip():  # end of input (no terminal) is no answer: wait for the redirect
            loop.call_soon_threadsafe(_settle, line, text)

    threading.Thread(target=read, name="paste", daemon=True).start()
    return line


def _settle(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)


def _code_from(back: str, state: str) -> str:
    """The code of a redirect back (a path with a query, or a whole URL); the state must
    be ours (RFC 6749 §10.12)."""
    query = parse_qs(urlsplit(back).query)
    if query.get("error"):
        raise MailboxError(f"the provider refused the sign-in: {query['error'][0]}")
    if query.get("state", [""])[0] != state:
        raise MailboxError("the address does not belong to this sign-in (state differs)")
    code = query.get("code", [""])[0]
    if not code:
        raise MailboxError("no authorization code in the address")
    return code


@dataclasses.dataclass(frozen=True, slots=True)
class Way:
    """How ``mailbox add`` was asked to connect: typed URLs, a provider, or neither (look
    the address up)."""

    provider: str | None
    imap: str | None
    smtp: str | None
    how: SignIn
    app: bool
    chosen: dict[str, str]
    no_check: bool


async def connect_any(
    runtime: Runtime, address: str, way: Way
) -> tuple[InboxMark | None, tuple[str, str | None], Connected | None]:
    """``(inbox mark, (imap, smtp) URLs to store, OAuth sign-in or None)``."""
    provider, imap, smtp = way.provider, way.imap, way.smtp
    if provider is None and imap is None:
        route = await find_servers(address, runtime.config)
        click.echo(f"{address}: {route.describe()}")
        if not route.found.trusted and not _confirmed():
            raise MailboxError("settings from an unauthenticated source: give --imap/--smtp")
        provider = route.provider
        if route.imap is not None:
            imap = password_for(route.imap, "IMAP")
            smtp = password_for(route.smtp, "SMTP") if route.smtp else None
    if provider is not None:
        connected = await connect(runtime, provider, address, way.how, way.app, way.chosen)
        return connected.check.inbox, (connected.imap, connected.smtp), connected
    assert imap is not None
    return await tested(imap, smtp, way.chosen, way.no_check), (imap, smtp), None


def _confirmed() -> bool:
    click.echo("These settings came over plain HTTP or from outside the domain (RFC 6186 §6).")
    return sys.stdin.isatty() and click.confirm("Use them?", default=False)


async def connect(
    runtime: Runtime, provider: str, address: str, how: SignIn, app: bool, chosen: dict[str, str]
) -> Connected:
    """Sign in with ``provider`` for ``address`` and test the connection with the token."""
    client = await resolve(provider, runtime.config)
    imap, smtp = mail_urls(client, address)
    flow, token = await sign_in(client, how, app)
    check = await tested_token(client, imap, smtp, token, chosen)  # nothing stored if not
    return Connected(client, flow, token, imap, smtp, check)


@dataclasses.dataclass(frozen=True, slots=True)
class Connected:
    """A sign-in that worked: what to store."""

    client: Client
    flow: str
    token: dict[str, Any]
    imap: str
    smtp: str | None
    check: ConnectionCheck


async def store_grant(runtime: Runtime, box: Mailbox, connected: Connected) -> None:
    """Keep the grant with the new (or reconnected) mailbox."""
    await save_grant(box, connected.client, connected.flow, connected.token, runtime.clock)


async def tested(
    imap: str, smtp: str | None, chosen: dict[str, str], no_check: bool
) -> InboxMark | None:
    """The connection test before storing (``None`` when skipped)."""
    if no_check:
        return None
    imap_url, smtp_url = parse_urls(imap, smtp)
    check = await check_connection(imap_url, smtp_url, chosen)
    if not (check.imap_ok and check.smtp_ok is not False):
        raise MailboxError(
            "connection test failed, nothing stored: "
            + "; ".join(e for e in (check.imap_error, check.smtp_error) if e)
        )
    return check.inbox
