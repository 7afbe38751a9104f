"""Decoding header text: RFC 2047 encoded words and raw 8-bit bytes, never raising."""

from __future__ import annotations

import hashlib
import re
from email.header import decode_header
from functools import lru_cache

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_CTL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _recover_8bit(value: str) -> tuple[str, bool]:
    """Undo compat32's surrogateescape for raw 8-bit header bytes: UTF-8, else Windows-1252."""
    try:
        value.encode("utf-8")
        return value, False  # no surrogate escapes: already clean text
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8"), True
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace"), True


# The same encoded display names and subjects recur across a mailbox (every reply in a
# thread, every mail from a sender): decoding each once halves the cost of the encoded ones.
@lru_cache(maxsize=8192)
def _decode_words(value: str) -> str:
    parts: list[str] = []
    for chunk, charset in decode_header(value):
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        if charset is None:  # decode_header hands plain runs back as raw-unicode-escape bytes
            parts.append(chunk.decode("raw-unicode-escape", "replace"))
            continue
        try:
            parts.append(chunk.decode(charset))
        except (LookupError, UnicodeDecodeError):
            parts.append(chunk.decode("utf-8", "replace"))
    return "".join(parts)


def decode_text(value: str) -> tuple[str, list[str]]:
    """Decode a header value to clean text; return it with the list of problems met."""
    if value.isascii():
        if value.isprintable() and "=?" not in value:
            return value, []  # the common case: nothing to decode or clean
        was_8bit = False
    else:
        value, was_8bit = _recover_8bit(value)
    problems: list[str] = []
    if was_8bit:
        problems.append("8-bit header bytes")
    if "=?" in value and _ENCODED_WORD.search(value):
        try:
            value = _decode_words(value)
        except Exception:  # the stdlib raises several types on broken encoded words
            problems.append("undecodable encoded word")
    value = value.replace("\r", " ").replace("\n", " ")
    if _CTL.search(value):
        value = _CTL.sub("", value)
        problems.append("control characters in header")
    return value, problems


#: Longest id kept as it is: every column holding an id (thread, reply-to, ref) takes it.
MAX_ID = 250
_NOT_ID_TEXT = re.compile(r"[\x00-\x20\x7f\ufffd]")


def canonical_id(value: str) -> str:
    """A Message-ID as stored and compared: raw 8-bit bytes read as UTF-8 where valid (else
    Windows-1252), control characters, spaces and undecodable bytes as ``%XX``. The same
    bytes always give the same id, and the result is plain text any database stores."""
    if not (value.isascii() and value.isprintable() and " " not in value):
        if not value.isascii():
            value, _ = _recover_8bit(value)
        value = _NOT_ID_TEXT.sub(lambda m: f"%{ord(m.group()) & 0xFF:02X}", value)
    if len(value) > MAX_ID:
        # Over-long ids keep a readable head and a digest of the whole (still one id each).
        digest = hashlib.sha256(value.encode()).hexdigest()[:24]
        value = f"{value[: MAX_ID - 26]}..{digest}"
    return value
