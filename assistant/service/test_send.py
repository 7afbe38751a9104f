"""The template editor's "send to myself": a template rendered for the preview thread, sent
at once from the first mailbox that has an SMTP URL.

Not through the outbox, on purpose: an outbox row is sent later by a delivery pass that
re-checks its thread's guards, holds it while the mailbox is paused, files a copy in the
mailbox's Sent folder (which the next sync reads as the team's own mail) and lists it in the
audit log. A test is none of these: it goes now, or says at once why it could not. It takes
the same road to the SMTP server as the deliverer (:func:`.credentials.smtp_sender`, OAuth2
tokens included) and is composed like every notice to the team.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from ..core.compose import Notice, compose_notice
from ..core.errors import RemoteError
from ..core.model import Address
from ..render import renderer_for
from ..runtime import Runtime
from ..store.models import Mailbox
from . import credentials


async def send_test(
    runtime: Runtime, kind: str, sources: tuple[str, str, str], context: dict[str, Any], to: str
) -> str:
    """Send ``sources`` (a template of ``kind``) rendered with ``context`` to ``to``; what
    happened, in one line for the page."""
    box = await Mailbox.filter(smtp_secret__not_isnull=True).order_by("id").first()
    if box is None or box.smtp_secret is None:
        return "No mailbox with an SMTP URL to send the test from: connect one first."
    rendered = await asyncio.to_thread(renderer_for(None).render, kind, context, sources)
    note = Notice(
        sender=Address(box.address, f"{runtime.config.messages.team_name} (Followup test)"),
        recipient=Address(to),
        reply_to=box.address,
        message_id=f"followup.test.{secrets.token_hex(8)}@{box.address.rpartition('@')[2]}",
        key=f"test:{kind}",
        kind=f"test_{kind}",
        date=runtime.clock.now(),
    )
    msg = compose_notice(note, f"[test] {rendered.subject}", rendered.text, rendered.html)
    try:
        sender = await credentials.smtp_sender(box, runtime.clock)
        try:
            await sender.send(msg, box.address, [to])
        finally:
            await sender.close()
    except RemoteError as exc:  # the SMTP server, or the OAuth2 sign-in to it
        return f"The test could not be sent: {exc}"
    return f"Test sent to {to} from {box.name}."
