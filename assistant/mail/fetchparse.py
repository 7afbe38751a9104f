"""A fast reader for the one FETCH shape a sync issues, with imapclient as the fallback.

imapclient's general response parser tokenises every byte of every FETCH response in Python
and is the measured floor of a header sync (``notes/mail-servers.md``: client CPU = wall
time). A sync asks for exactly ``UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (...)]
[MODSEQ]``, and imaplib already splits each response into its text and the header literal,
so the metadata is read here with four small regexes. Any response that does not have the
expected shape (no literal, a quoted or NIL header, an item we did not ask for, an unsolicited
FETCH) goes through imapclient's own ``parse_fetch_response`` instead, so the result is the
same as imapclient's in every case — a test checks the two against each other.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, BinaryIO, cast

from imapclient.response_parser import parse_fetch_response

_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_DATE = re.compile(rb'\bINTERNALDATE "([^"]*)"')
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)")
_HEADER = re.compile(rb"\bBODY\[HEADER[^\]]*\] \{\d+\}$")
#: The items a sync asks for; anything else in a response sends it to the slow path.
_KNOWN = re.compile(
    rb'^\d+ \((?:UID \d+|FLAGS \([^)]*\)|INTERNALDATE "[^"]*"|MODSEQ \(\d+\)| )*'
    rb"BODY\[HEADER[^\]]*\] \{\d+\}$"
)
_TRAILER = re.compile(
    rb"^(?: (?:UID \d+|FLAGS \([^)]*\)|INTERNALDATE \"[^\"]*\"|MODSEQ \(\d+\)))*\)$"
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            b"jan",
            b"feb",
            b"mar",
            b"apr",
            b"may",
            b"jun",
            b"jul",
            b"aug",
            b"sep",
            b"oct",
            b"nov",
            b"dec",
        )
    )
}
_ZONES: dict[bytes, timezone] = {}


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message's header block and metadata from a FETCH."""

    uid: int
    header: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None
    modseq: int | None


def internaldate(text: bytes) -> datetime | None:
    """``23-Nov-2026 14:12:00 +0000`` as an aware UTC datetime (None when unreadable)."""
    try:
        day, month, rest = text.strip().split(b"-", 2)
        year, clock, zone = rest.split(b" ")
        hh, mm, ss = clock.split(b":")
        tz = _ZONES.get(zone)
        if tz is None:
            sign = -1 if zone[:1] == b"-" else 1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
            tz = _ZONES.setdefault(zone, timezone(sign * offset))
        local = datetime(
            int(year), _MONTHS[month.lower()], int(day), int(hh), int(mm), int(ss), tzinfo=tz
        )
    except (ValueError, KeyError, IndexError):
        return None
    return local.astimezone(UTC)


def _flags(raw: bytes) -> tuple[str, ...]:
    return tuple(f.decode("utf-8", "replace") for f in raw.split())


def _fast(head: bytes, literal: bytes, trailer: bytes) -> Fetched | None:
    if not _KNOWN.match(head) or not _TRAILER.match(trailer):
        return None
    meta = head + trailer
    uid = _UID.search(meta)
    if uid is None:
        return None
    flags = _FLAGS.search(meta)
    date = _DATE.search(meta)
    modseq = _MODSEQ.search(meta)
    return Fetched(
        uid=int(uid.group(1)),
        header=literal,
        flags=_flags(flags.group(1)) if flags else (),
        internaldate=internaldate(date.group(1)) if date else None,
        modseq=int(modseq.group(1)) if modseq else None,
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def modseq_of(data: dict[bytes, Any]) -> int | None:
    """MODSEQ from an imapclient FETCH entry (a 1-tuple), or None."""
    value = data.get(b"MODSEQ")
    if isinstance(value, tuple | list) and value:
        return int(value[0])
    return int(value) if isinstance(value, int) else None


def from_imapclient(uid: int, data: dict[bytes, Any]) -> Fetched:
    """A :class:`Fetched` from one entry of imapclient's parsed FETCH response."""
    header = b""
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            header = value
            break
    internal = data.get(b"INTERNALDATE")
    if isinstance(internal, datetime):
        internal = internal.astimezone(UTC) if internal.tzinfo else internal.replace(tzinfo=UTC)
    return Fetched(
        uid=uid,
        header=header,
        flags=tuple(_text(f) for f in data.get(b"FLAGS", ())),
        internaldate=internal if isinstance(internal, datetime) else None,
        modseq=modseq_of(data),
    )


def _slow(parts: list[Any]) -> Iterator[Fetched]:
    parsed = parse_fetch_response(parts, normalise_times=False, uid_is_key=False)
    for data in parsed.values():
        uid = data.get(b"UID")
        if isinstance(uid, int):  # an unsolicited FETCH without UID is not ours
            yield from_imapclient(uid, data)


def read_fetch(data: list[Any]) -> Iterator[Fetched]:
    """Messages from imaplib's untagged FETCH data (``(text, literal)`` tuples and bytes)."""
    i, n = 0, len(data)
    while i < n:
        item = data[i]
        if item is None:
            i += 1
            continue
        if not isinstance(item, tuple):
            yield from _slow([item])
            i += 1
            continue
        if i + 1 < n and isinstance(data[i + 1], bytes):
            fetched = _fast(item[0], item[1], data[i + 1])
            if fetched is not None:
                yield fetched
                i += 2
                continue
        # Gather this response's pieces (more literals may follow) for imapclient.
        parts = [item]
        i += 1
        while i < n and isinstance(data[i], tuple):
            parts.append(data[i])
            i += 1
        if i < n:
            parts.append(data[i])
            i += 1
        yield from _slow(parts)


def answers(fetched: Iterable[Fetched], wanted: set[int]) -> dict[int, Fetched]:
    """The answer for each wanted UID. A server may also send an unsolicited FETCH of the
    same message (a flag change by another client: ``FLAGS`` and ``UID`` only); it never
    replaces the answer that carries the header block."""
    out: dict[int, Fetched] = {}
    for item in fetched:
        if item.uid in wanted:
            known = out.get(item.uid)
            if known is None or (item.header and not known.header):
                out[item.uid] = item
    return out


_FETCH_LINE = re.compile(rb"\* (\d+) FETCH (.*)", re.DOTALL)
_LITERAL = re.compile(rb"\{(\d+)\}$")
_UNTAGGED = re.compile(rb"\* (?:(\d+) )?([A-Z-]+)(?: (.*))?", re.DOTALL)


def uid_fetch(imap: imaplib.IMAP4, uid_set: str, query: str) -> list[Any]:
    """``UID FETCH uid_set query`` on imaplib's connection: the untagged FETCH data in
    imaplib's own shape (``(text, literal)`` tuples, then the trailing text), for
    :func:`read_fetch`.

    imaplib reads every response line through three or four regular expressions and list
    bookkeeping, which cost more than everything else a fetch does; this reads the lines
    and literals straight from the connection's buffered file. Responses other than FETCH
    (EXISTS, EXPUNGE...) are stored where imaplib would store them; BYE and a failed
    command raise imaplib's own errors.
    """
    tag: bytes = imap._command("UID", "FETCH", uid_set, query)
    connection = cast(BinaryIO, imap.file)  # typeshed says text: it is imaplib's "rb" file
    readline = connection.readline
    done = tag + b" "
    out: list[Any] = []
    try:
        while True:
            line = readline()
            if not line.endswith(b"\r\n"):
                raise imap.abort(f"connection closed during UID FETCH: {line[:80]!r}")
            line = line[:-2]
            fetch = _FETCH_LINE.match(line)
            if fetch is not None:
                _read_literals(imap, fetch.group(1) + b" " + fetch.group(2), connection, out)
            elif line.startswith(done):
                status = line[len(done) :].split(b" ", 1)[0]
                if status != b"OK":
                    raise imap.error(f"UID FETCH failed: {line.decode('utf-8', 'replace')}")
                return out
            else:
                _untagged(imap, line)
    finally:
        imap.tagged_commands.pop(tag, None)


def _read_literals(imap: imaplib.IMAP4, dat: bytes, connection: BinaryIO, out: list[Any]) -> None:
    """The rest of one FETCH response: each ``{n}`` literal read as ``(text, literal)``, then
    the trailing text, appended to ``out``."""
    while (literal := _LITERAL.search(dat)) is not None:
        size = int(literal.group(1))
        body = connection.read(size)
        if len(body) != size:
            raise imap.abort("connection closed inside a FETCH literal")
        out.append((dat, body))
        dat = connection.readline()
        if not dat.endswith(b"\r\n"):
            raise imap.abort("connection closed inside a FETCH response")
        dat = dat[:-2]
    out.append(dat)


def _untagged(imap: imaplib.IMAP4, line: bytes) -> None:
    found = _UNTAGGED.match(line)
    if found is None:
        raise imap.abort(f"unexpected response during UID FETCH: {line[:80]!r}")
    number, kind, rest = found.groups()
    typ = kind.decode("ascii")
    if typ == "BYE":
        raise imap.abort(f"server said BYE: {(rest or b'').decode('utf-8', 'replace')}")
    dat = number + (b" " + rest if rest else b"") if number else rest or b""
    imap._append_untagged(typ, dat)


def sequence_set(uids: list[int]) -> str:
    """``1:3,7,9:10`` for sorted ``uids``: short command lines whatever the count."""
    out: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        out.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    out.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(out)
