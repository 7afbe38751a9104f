"""The small HTTP endpoint of `followup web` (scale-out mode): /health and unsubscribe links.

`followup run` answers the same paths from its own loop (:mod:`assistant.service.run`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..store.models import Mailbox, OutboxItem
from .deliver import ACTIVE
from .digest import unsubscribe_page

log = logging.getLogger("followup.web")


async def store_health() -> dict[str, Any]:
    """What the store says: mailboxes, and mail waiting to go out."""
    return {
        "status": "ok",
        "mailboxes": await Mailbox.all().count(),
        "outbox_active": await OutboxItem.filter(status__in=ACTIVE).count(),
        "paused": [m.name for m in await Mailbox.filter(paused_reason__not_isnull=True)],
    }


async def respond(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    health: Callable[[], Awaitable[dict[str, Any]]],
) -> None:
    """Answer one HTTP/1.1 request (GET /health, GET/POST /digest/unsubscribe)."""
    try:
        request = await asyncio.wait_for(reader.readline(), timeout=5)
        method, _, rest = request.partition(b" ")
        path = (rest.split(b" ")[0] if rest else b"/").decode("latin-1")
        kind = "application/json"
        route = path.split("?")[0]
        if route == "/health":
            status, body = "200 OK", json.dumps(await health(), default=str)
        elif route == "/digest/unsubscribe":
            kind = "text/html; charset=utf-8"
            status, body = await unsubscribe_page(method.decode("latin-1"), path)
        else:
            status, body = "404 Not Found", json.dumps({"error": "not found"})
        data = body.encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    except (TimeoutError, ConnectionError, UnicodeDecodeError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await respond(reader, writer, store_health)

    server = await asyncio.start_server(handle, host, port)
    log.info("web endpoint", extra={"url": f"http://{host}:{port}/health"})
    async with server:
        await stop.wait()
