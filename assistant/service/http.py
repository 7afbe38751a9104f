"""What ``GET /health`` answers where no single-process service runs (``followup web``)."""

from __future__ import annotations

from typing import Any

from ..store.models import Mailbox, OutboxItem
from .deliver import ACTIVE


async def store_health() -> dict[str, Any]:
    """What the store says: mailboxes, and mail waiting to go out."""
    return {
        "status": "ok",
        "mailboxes": await Mailbox.all().count(),
        "outbox_active": await OutboxItem.filter(status__in=ACTIVE).count(),
        "paused": [m.name for m in await Mailbox.filter(paused_reason__not_isnull=True)],
        "needs_reauth": sorted(
            m.name for m in await Mailbox.filter(oauth__needs_reauth_since__isnull=False)
        ),
    }
