"""Parse a raw message (bytes) into a :class:`~assistant.core.model.Message` header record.

Only the header block is read; the body, and so every attachment, is never touched. Malformed
input never raises: whatever was wrong is listed in ``Message.issues``.

The header block is split and unfolded here (RFC 5322 section 2.2.3) rather than by
``email.parser``: it is the hot path of every sync and replay, the stdlib's feed parser alone
costs more than the whole budget, and splitting ``name: value`` lines with continuation lines
is all that is needed. Bytes are decoded exactly as the stdlib's compat32 policy does (ASCII
with surrogate escapes for 8-bit bytes); the hard parts (RFC 2047 encoded words, address
lists, dates) still go through the stdlib. A test checks agreement with ``email.parser``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import sys
from datetime import datetime
from functools import lru_cache

from .addresses import parse_addresses
from .dates import parse_date
from .model import Address, Message
from .signals import SIGNAL_HEADERS, SIGNAL_PREFIXES
from .subject import normalise_subject
from .text import MAX_ID, canonical_id, decode_text

_ID_RE = re.compile(r"<\s*([^<>\s]+)\s*>")  # greedy: the class cannot overrun the ">"
MAX_REFERENCES = 50


def header_block(raw: bytes) -> bytes:
    """The bytes up to (not including) the blank line that ends the header."""
    lf = raw.find(b"\n\n")
    # Look for the CRLF form only before the LF one: never scan a whole body (or attachment).
    crlf = raw.find(b"\n\r\n", 0, lf + 2 if lf >= 0 else len(raw))
    end = crlf if crlf >= 0 else lf
    return raw[: end + 1] if end >= 0 else raw


def _printable_ascii(value: str) -> bool:
    """ASCII with no control character but the tabs folding leaves (``References``)."""
    return value.isascii() and (value.isprintable() or value.replace("\t", " ").isprintable())


def parse_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs in a Message-ID / In-Reply-To / References value, in order, deduplicated."""
    if not value:
        return ()
    found = _ID_RE.findall(value)
    if not found:
        # Broken clients omit the angle brackets; accept bare tokens that look like ids.
        found = [tok.strip(",;") for tok in value.split() if "@" in tok]
    elif _printable_ascii(value) and max(map(len, found)) <= MAX_ID:
        # Printable ASCII without spaces is already canonical: skip the per-id check.
        return tuple(dict.fromkeys(map(sys.intern, found)))
    # Interned: the same ids recur in every reply's References; share one string each.
    return tuple(dict.fromkeys(sys.intern(canonical_id(mid)) for mid in found if mid))


def first_id(value: str | None) -> str | None:
    """The first Message-ID in ``value`` as :func:`parse_ids` gives it, found without
    collecting the rest (a Message-ID field holds one)."""
    match = _ID_RE.search(value) if value else None
    if match is None:
        ids = parse_ids(value)  # no id in brackets: the bare-token fallback, or nothing
        return ids[0] if ids else None
    mid = match.group(1)
    if not (mid.isascii() and mid.isprintable() and len(mid) <= MAX_ID):
        mid = canonical_id(mid)
    return sys.intern(mid)


#: Where the conversation id an Outlook ``Thread-Index`` names lives (never a real host).
CONVERSATION_DOMAIN = "thread-index.invalid"


def outlook_conversation(value: str | None) -> tuple[str, ...]:
    """The conversation a ``Thread-Index`` names, as a reference id (empty if it names none).

    Outlook and Exchange write 22 bytes for a conversation's first message (a timestamp and a
    GUID) and append 5 bytes per reply, base64-encoded: the first 22 bytes are the
    conversation. Messages of one conversation thus share a parent, even when a reply carries
    no In-Reply-To or References (Outlook's "RE: Question" from another mailbox)."""
    if not value:
        return ()
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (ValueError, binascii.Error):
        return ()
    if len(raw) < 22 or (len(raw) - 22) % 5:
        return ()
    return (f"{raw[:22].hex()}@{CONVERSATION_DOMAIN}",)


def _cap_references(refs: tuple[str, ...]) -> tuple[str, ...]:
    """Keep the root and the nearest ancestors of a huge References chain."""
    if len(refs) <= MAX_REFERENCES:
        return refs
    return (refs[0], *refs[-(MAX_REFERENCES - 1) :])


Fields = dict[str, list[str]]


# One match per non-empty line: a field (name, value) or, in the third group, a line that is
# not one. The loop over lines runs in C; Python only files the pairs.
_LINE = re.compile(r"^(?:([^ \t:\n]+)[ \t]*:[ \t]*(.*)|(.+))$", re.MULTILINE)


def split_fields(block: bytes) -> tuple[Fields, list[str]]:
    """Unfolded raw values by lower-case field name, and the problems met."""
    text = block.decode("ascii", "surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    # Unfold first (str.replace runs in C): one line per field afterwards.
    text = text.replace("\n ", " ").replace("\n\t", "\t")
    fields: Fields = {}
    problems: list[str] = []
    for key, value, other in _LINE.findall(text):
        if other:
            _not_a_field(other, not fields, problems)
            continue
        name = key.lower()
        if name in fields:
            fields[name].append(value)
        else:
            fields[name] = [value]
    return fields, problems


def _not_a_field(line: str, first: bool, problems: list[str]) -> None:
    if line[0] in " \t":
        problems.append("continuation line before any field")
    elif not (line.startswith("From ") and first):  # an mbox From_ line
        problems.append(f"line without a field name: {line[:40]!r}")


def _first(fields: Fields, name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _text(fields: Fields, name: str, problems: list[str]) -> str:
    raw = _first(fields, name)
    if raw is None:
        return ""
    if _plain(raw):
        return raw.rstrip(" ")  # the common case: nothing to decode, collapse or report
    value, found = decode_text(" ".join(raw.split()))
    if found:  # rare: skip building a generator for every clean value
        problems.extend(f"{name}: {p}" for p in found)
    return value


def _addresses(fields: Fields, name: str, problems: list[str]) -> tuple[Address, ...]:
    values = fields.get(name)
    if not values:
        return ()
    found, errors = parse_addresses(values)
    if errors:
        problems.extend(f"{name}: {e}" for e in errors)
    return found


_SENDERS = frozenset(("from", "sender"))


def _worth_keeping(name: str, value: str, has_sender: bool) -> bool:
    """Drop what the rules would never look at: records stay small (100,000 in memory)."""
    if name == "content-type":
        return value[:16].lower() == "multipart/report"
    if name == "authentication-results":
        return len(value) <= 4096  # the receiving server's is short; a huge one is the sender's
    if name in _SENDERS:
        return not has_sender
    return True


@lru_cache(maxsize=4096)
def _is_signal(name: str) -> bool:
    return name in SIGNAL_HEADERS or name.startswith(SIGNAL_PREFIXES)


def _plain(raw: str) -> bool:
    """Printable ASCII with no encoded word and no run of spaces: already clean text."""
    return raw.isascii() and raw.isprintable() and "=?" not in raw and "  " not in raw


def _clean(raw: str) -> str:
    """A raw value as decoded, whitespace-collapsed text."""
    if _plain(raw):
        return raw.rstrip(" ")  # the common case: nothing to decode or collapse
    return decode_text(" ".join(raw.split()))[0]


def _plainly_not_report(raw: str) -> bool:
    """Cleaning cannot make this Content-Type ``multipart/report`` (printable ASCII, no
    encoded words, another start): it is dropped without being cleaned."""
    return (
        raw[:16].lower() != "multipart/report"
        and raw.isascii()
        and raw.isprintable()
        and "=?" not in raw
    )


# The signal fields among a header's field names, by the names in order: the mail of one
# sender or MTA repeats a handful of such shapes.
@lru_cache(maxsize=4096)
def _signal_names_of(shape: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in shape if _is_signal(name))


def _signal_names(fields: Fields) -> tuple[str, ...]:
    return _signal_names_of(tuple(fields))


def _signal_headers(fields: Fields, has_sender: bool) -> dict[str, str]:
    kept: dict[str, str] = {}
    for low in _signal_names(fields):
        if has_sender and low in _SENDERS:
            continue  # a readable sender is in the record already: its raw field is not kept
        raw = fields[low][0]
        if low == "content-type" and _plainly_not_report(raw):
            continue  # most mail: decided without cleaning the value
        value = _clean(raw)
        if _worth_keeping(low, value, has_sender):
            kept[low] = value
    return kept


def _message_id(fields: Fields, block: bytes, problems: list[str]) -> tuple[str, bool]:
    """The first usable Message-ID, else one made from the header's bytes (and say so)."""
    message_id = first_id(_first(fields, "message-id"))
    if message_id:
        return message_id, False
    problems.append("no usable Message-ID")
    return f"synthetic.{hashlib.sha1(block).hexdigest()[:20]}@followup.invalid", True


def _date(
    fields: Fields, internaldate: datetime | None, problems: list[str]
) -> tuple[datetime, str]:
    header = _first(fields, "date")
    date, source, found = parse_date(decode_text(header)[0] if header else header, internaldate)
    problems.extend(found)
    return date, source


def _parents(fields: Fields) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """In-Reply-To and References (capped); Outlook's Thread-Index when both are missing."""
    in_reply_to = parse_ids(_first(fields, "in-reply-to"))[:5]
    references = _cap_references(parse_ids(_first(fields, "references")))
    if not in_reply_to and not references:
        # Outlook's replies may carry only Thread-Index: its conversation is their parent.
        references = outlook_conversation(_first(fields, "thread-index"))
    return in_reply_to, references


def parse_message(raw: bytes, internaldate: datetime | None = None, source: str = "") -> Message:
    """Parse raw message bytes (or just their header block) into a header record."""
    block = header_block(raw)
    fields, problems = split_fields(block)
    message_id, synthetic = _message_id(fields, block, problems)
    senders = _addresses(fields, "from", problems) or _addresses(fields, "sender", problems)
    date, date_source = _date(fields, internaldate, problems)
    subject = _text(fields, "subject", problems)
    in_reply_to, references = _parents(fields)
    return Message(
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=in_reply_to,
        references=references,
        sender=senders[0] if senders else None,
        to=_addresses(fields, "to", problems),
        cc=_addresses(fields, "cc", problems),
        reply_to=_addresses(fields, "reply-to", problems),
        date=date,
        date_source=date_source,
        subject=subject,
        subject_key=normalise_subject(subject),
        headers=_signal_headers(fields, bool(senders)),
        issues=tuple(problems),
        source=source,
    )
