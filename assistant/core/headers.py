"""Parse a raw message (bytes) into a :class:`~assistant.core.model.Message` header record.

Only the header block is read; the body, and so every attachment, is never touched. Malformed
input never raises: whatever was wrong is listed in ``Message.issues``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32

from .addresses import parse_addresses
from .dates import parse_date
from .model import Address, Message
from .signals import SIGNAL_HEADERS, SIGNAL_PREFIXES
from .subject import normalise_subject
from .text import decode_text

_ID_RE = re.compile(r"<\s*([^<>\s]+?)\s*>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PARSER = BytesParser(policy=compat32)
MAX_REFERENCES = 50


def header_block(raw: bytes) -> bytes:
    """The bytes up to (not including) the blank line that ends the header."""
    match = _HEADER_END.search(raw)
    return raw[: match.start() + 1] if match else raw


def parse_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a Message-ID / In-Reply-To / References value, in order, deduplicated."""
    if not value:
        return ()
    found = _ID_RE.findall(value)
    if not found:
        # Broken clients omit the angle brackets; accept bare tokens that look like ids.
        found = [tok.strip(",;") for tok in value.split() if "@" in tok]
    return tuple(dict.fromkeys(mid for mid in found if mid))


def _cap_references(refs: tuple[str, ...]) -> tuple[str, ...]:
    """Keep the root and the nearest ancestors of a huge References chain."""
    if len(refs) <= MAX_REFERENCES:
        return refs
    return (refs[0], *refs[-(MAX_REFERENCES - 1) :])


Fields = dict[str, list[str]]


def _fields(msg: EmailMessage) -> Fields:
    """Raw values by lower-case name. raw_items() keeps 8-bit bytes as surrogate escapes
    (decode_text recovers them) where get() would hand back Header objects."""
    fields: Fields = {}
    for key, value in msg.raw_items():
        fields.setdefault(key.lower(), []).append(str(value))
    return fields


def _first(fields: Fields, name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _text(fields: Fields, name: str, problems: list[str]) -> str:
    raw = _first(fields, name)
    if raw is None:
        return ""
    value, found = decode_text(raw)
    problems.extend(f"{name}: {p}" for p in found)
    return " ".join(value.split())


def _addresses(fields: Fields, name: str, problems: list[str]) -> tuple[Address, ...]:
    values = fields.get(name)
    if not values:
        return ()
    found, errors = parse_addresses(values)
    problems.extend(f"{name}: {e}" for e in errors)
    return found


def _signal_headers(fields: Fields) -> dict[str, str]:
    kept: dict[str, str] = {}
    for low, values in fields.items():
        if low in SIGNAL_HEADERS or low.startswith(SIGNAL_PREFIXES):
            kept[low] = decode_text(" ".join(values[0].split()))[0]
    return kept


def parse_message(raw: bytes, internaldate: datetime | None = None, source: str = "") -> Message:
    """Parse raw message bytes (or just their header block) into a header record."""
    block = header_block(raw)
    problems: list[str] = []
    try:
        msg = _PARSER.parsebytes(block, headersonly=True)
    except Exception as exc:  # the stdlib parser is lenient, but never trust it to be total
        problems.append(f"header block unparseable: {exc.__class__.__name__}")
        msg = EmailMessage()
    if msg.defects:
        problems.extend(sorted({d.__class__.__name__ for d in msg.defects}))
    fields = _fields(msg)

    ids = parse_ids(_first(fields, "message-id"))
    synthetic = not ids
    if synthetic:
        digest = hashlib.sha1(block).hexdigest()[:20]
        message_id = f"synthetic.{digest}@followup.invalid"
        problems.append("no usable Message-ID")
    else:
        message_id = ids[0]

    senders = _addresses(fields, "from", problems)
    if not senders:
        senders = _addresses(fields, "sender", problems)
    date_header = _first(fields, "date")
    date, date_source, date_problems = parse_date(
        decode_text(date_header)[0] if date_header else date_header, internaldate
    )
    problems.extend(date_problems)
    subject = _text(fields, "subject", problems)

    return Message(
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=parse_ids(_first(fields, "in-reply-to"))[:5],
        references=_cap_references(parse_ids(_first(fields, "references"))),
        sender=senders[0] if senders else None,
        to=_addresses(fields, "to", problems),
        cc=_addresses(fields, "cc", problems),
        reply_to=_addresses(fields, "reply-to", problems),
        date=date,
        date_source=date_source,
        subject=subject,
        subject_key=normalise_subject(subject),
        headers=_signal_headers(fields),
        issues=tuple(problems),
        source=source,
    )
