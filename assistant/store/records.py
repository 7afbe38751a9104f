"""Converting between the core's :class:`Message` and stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..core.model import Address, Message
from .models import StoredMessage


def _addrs(values: tuple[Address, ...]) -> list[list[str]]:
    return [[a.email, a.name] for a in values]


def _from_addrs(
    values: list[list[str]], known: dict[tuple[str, str], Address] | None
) -> tuple[Address, ...]:
    if known is None:
        return tuple(Address(email, name) for email, name in values)
    out = []
    for email, name in values:
        key = (email, name)
        address = known.get(key)
        if address is None:
            address = known[key] = Address(email, name)
        out.append(address)
    return tuple(out)


def message_fields(msg: Message) -> dict[str, Any]:
    """Column values for a parsed message (everything but mailbox, folder, uid, flags)."""
    return {
        "message_id": msg.message_id[:512],
        "synthetic_id": msg.synthetic_id,
        "in_reply_to": list(msg.in_reply_to),
        "references": list(msg.references),
        "sender": msg.sender.email[:320] if msg.sender else None,
        "sender_name": msg.sender.name[:256] if msg.sender else "",
        "to": _addrs(msg.to),
        "cc": _addrs(msg.cc),
        "reply_to": _addrs(msg.reply_to),
        "date": msg.date,
        "date_source": msg.date_source,
        "subject": msg.subject,
        "subject_key": msg.subject_key[:255],
        "headers": msg.headers,
        "issues": list(msg.issues),
    }


def to_message(
    row: StoredMessage | Any, addresses: dict[tuple[str, str], Address] | None = None
) -> Message:
    """The core record of a stored row (a model, or the same columns as attributes).

    ``addresses``, shared over many rows, makes every row with the same address use one
    :class:`Address` (the team and each client appear in thousands of messages)."""
    sender = _from_addrs([[row.sender, row.sender_name]], addresses)[0] if row.sender else None
    date: datetime = row.date
    return Message(
        message_id=row.message_id,
        synthetic_id=row.synthetic_id,
        in_reply_to=tuple(row.in_reply_to),
        references=tuple(row.references),
        sender=sender,
        to=_from_addrs(row.to, addresses),
        cc=_from_addrs(row.cc, addresses),
        reply_to=_from_addrs(row.reply_to, addresses),
        date=date,
        date_source=row.date_source,
        subject=row.subject,
        subject_key=row.subject_key,
        headers=dict(row.headers),
        issues=tuple(row.issues),
        source=f"uid:{row.uid}",
    )
