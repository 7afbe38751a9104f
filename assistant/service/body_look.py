"""A second look before an acknowledgement goes out: the first few KB of the client's message
body, for the robots whose headers say nothing (an out-of-office with a plain subject, a
failure notice without a delivery-status part).

Only at send time and only for the message about to be acknowledged: the bulk sync never
reads a body. The verdict is the core's (:func:`assistant.core.body_signs.body_verdict`),
with the rule that fired; the acknowledgement is then skipped under that rule, which the
thread's timeline and the audit log show. A body that cannot be fetched or read is no
verdict: the header rules already let the message through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from imapclient.exceptions import IMAPClientError

from ..core.body_signs import body_verdict
from ..core.body_text import body_text
from ..core.model import Verdict
from ..mail.imap import ConnectError, ImapSession
from ..store.models import Folder, StoredMessage

log = logging.getLogger("followup.deliver")
#: Bytes of the message fetched (headers and the start of the body): enough for the first
#: ~2 KB of text after the MIME headers of a multipart message.
PEEK_BYTES = 8192


def _peek(session: ImapSession, folder: str, uid: int) -> bytes:
    session.select(folder)
    try:
        fetched = session.client.fetch([uid], [f"BODY.PEEK[]<0.{PEEK_BYTES}>"])
    finally:
        session.unselect()
    for data in fetched.values():
        for key, value in data.items():
            if isinstance(key, bytes) and key.startswith(b"BODY[") and isinstance(value, bytes):
                return value
    return b""


async def second_look(
    session: Callable[[], Awaitable[ImapSession]], row: StoredMessage | None
) -> Verdict | None:
    """The body's verdict for the client's message ``row`` (None: nothing machine-made seen,
    or the body could not be had)."""
    if row is None:
        return None
    folder = await Folder.get_or_none(id=row.folder_id)
    if folder is None:
        return None
    try:
        raw = await asyncio.to_thread(_peek, await session(), folder.name, row.uid)
    except (ConnectError, IMAPClientError, OSError) as exc:
        log.warning("second look failed", extra={"uid": row.uid, "error": str(exc)})
        return None
    return body_verdict(body_text(raw))
