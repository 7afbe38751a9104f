"""One mail to the admins when a mailbox's OAuth2 sign-in was refused: which mailbox, why,
and how to reconnect it. Sent by another mailbox that can still send (the refused one cannot);
without one, the notice is the web page, ``followup mailbox list``, ``/health`` and the log."""

from __future__ import annotations

import html
import logging
from datetime import datetime

from ..core.outbox import message_id_for
from ..store.models import Mailbox, OAuthGrant, OutboxItem, User
from .deliver import ADMIN_NOTICE

log = logging.getLogger("followup.oauth")


async def _sender(refused: Mailbox) -> Mailbox | None:
    """The first other mailbox with SMTP whose own sign-in was not refused."""
    refused_ids = await OAuthGrant.filter(needs_reauth_since__isnull=False).values_list(
        "mailbox_id", flat=True
    )
    return (
        await Mailbox.filter(smtp_secret__not_isnull=True)
        .exclude(id__in=[refused.id, *refused_ids])
        .order_by("id")
        .first()
    )


async def notify_reauth(refused: Mailbox, reason: str, since: datetime) -> int:
    """Queue the notice to every admin, once per refusal; how many were queued."""
    sender = await _sender(refused)
    admins = await User.filter(role="admin", disabled=False).values_list("email", flat=True)
    if sender is None or not admins:
        log.warning(
            "no mailbox can send the re-authorisation notice",
            extra={"mailbox": refused.name},
        )
        return 0
    subject = f"Followup: mailbox {refused.name} needs re-authorisation"
    text = (
        f"The provider refused Followup's sign-in for the mailbox {refused.name} "
        f"({refused.address}): {reason}.\n\nNothing is synced or sent for it until someone "
        "connects it again: the Reconnect button on the Mailboxes page, or\n\n"
        f"    followup mailbox reconnect {refused.name}\n\n"
        "Mail that arrives meanwhile is acknowledged as usual after the reconnect.\n"
    )
    domain = sender.address.rpartition("@")[2] or "followup.invalid"
    queued = 0
    for email in admins:
        key = f"notice:reauth:{refused.id}:{since.isoformat()}:{email}"
        _, created = await OutboxItem.get_or_create(
            key=key,
            defaults={
                "mailbox": sender,
                "kind": ADMIN_NOTICE,
                "rule": "notice-reauth",
                "thread_id": "",
                "recipient": str(email),
                "message_id": message_id_for(key, domain),
                "due_at": since,
                "created_at": since,
                "subject": subject,
                "text": text,
                "html": f"<pre>{html.escape(text)}</pre>",
            },
        )
        queued += created
    return queued
