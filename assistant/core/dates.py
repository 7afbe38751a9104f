"""Date header parsing that survives what real mail sends.

Order of trust: a parseable Date header that is plausible against the server's INTERNALDATE;
otherwise INTERNALDATE (the server's arrival time, which the sender cannot forge); otherwise a
lenient parse; otherwise the epoch, recorded as a problem. The result is always aware UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import mktime_tz, parsedate_tz
from functools import lru_cache

from dateutil import parser as dateutil_parser

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A Date header further than this from the arrival time is a sender's clock or a forgery.
PLAUSIBLE_SKEW = timedelta(days=2)

_PAREN = re.compile(r"\([^)]*\)")
_TZ_NAME_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*([+-]\d{1,2})(?::?(\d{2}))?\b", re.IGNORECASE)
_DOT_TIME = re.compile(r"\b(\d{1,2})\.(\d{2})(?:\.(\d{2}))?\b(?=\s*(?:[+-]\d{4}|[A-Z]{2,5}|$))")


def _repair(text: str) -> str:
    """Fix the usual breakages: comments, 'GMT+0100', '10.30.00' times, stray commas."""
    text = _PAREN.sub(" ", text)
    text = _TZ_NAME_OFFSET.sub(
        lambda m: f"{m.group(1)[0]}{int(m.group(1)[1:]):02d}{m.group(2) or '00'}", text
    )
    text = _DOT_TIME.sub(lambda m: f"{m.group(1)}:{m.group(2)}:{m.group(3) or '00'}", text)
    return " ".join(text.replace(",", ", ").split())


_MONTHS = {
    form: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
    for form in (m, m.title(), m.upper())
}

# The canonical RFC 5322 form nearly all mail uses: parsed without the generic parser.
_CANONICAL = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s+([+-])(\d{2})(\d{2})\s*(?:\([^)]*\)\s*)?"
)


def _canonical(text: str) -> datetime | None:
    match = _CANONICAL.fullmatch(text)
    if match is None:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    month = _MONTHS.get(mon) or _MONTHS.get(mon.lower())
    if month is None:
        return None
    try:
        local = datetime(int(year), month, int(day), int(hh), int(mm), int(ss or 0), tzinfo=UTC)
    except ValueError:
        return None
    return local - _offset(sign, oh, om)


# Signed UTC offsets ("+", "02", "00"): a mailbox has a few dozen, each parsed once.
@lru_cache(maxsize=1024)
def _offset(sign: str, hours: str, minutes: str) -> timedelta:
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return offset if sign == "+" else -offset


def _from_tuple(text: str) -> tuple[datetime | None, bool]:
    """Parse with the RFC 5322 parser; the flag says whether a zone was given."""
    parsed = parsedate_tz(text)
    if parsed is None:
        return None, False
    has_zone = parsed[9] is not None
    try:
        stamp = mktime_tz(parsed if has_zone else (*parsed[:9], 0))
        return datetime.fromtimestamp(stamp, UTC), has_zone
    except (OverflowError, ValueError, OSError):
        return None, False


def _lenient(text: str) -> datetime | None:
    try:
        value = dateutil_parser.parse(text, fuzzy=True)
    except (ValueError, OverflowError, TypeError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _from_header(header: str, problems: list[str]) -> datetime | None:
    """The Date header's instant: canonical form, then RFC 5322, then repaired, then lenient."""
    value, has_zone = _canonical(header), True
    if value is None:
        odd_zone = ("GMT" in header or "UTC" in header) and _TZ_NAME_OFFSET.search(header)
        value, has_zone = (None, False) if odd_zone else _from_tuple(header)
    if value is None:
        repaired = _repair(header)
        value, has_zone = _from_tuple(repaired)
        if value is None:
            value = _lenient(repaired)
            has_zone = True
        word = "malformed" if value is not None else "unparseable"
        problems.append(f"{word} Date header {header.strip()[:60]!r}")
    if value is not None and not has_zone:
        problems.append("Date header without a time zone, read as UTC")
    return value


def parse_date(
    header: str | None, internaldate: datetime | None = None
) -> tuple[datetime, str, list[str]]:
    """Return ``(date, source, problems)`` where source is header, internaldate or missing."""
    problems: list[str] = []
    value: datetime | None = None
    if header and header.strip():
        value = _from_header(header, problems)
    else:
        problems.append("no Date header" if header is None else "empty Date header")
    if internaldate is None:
        return (value, "header", problems) if value is not None else (EPOCH, "missing", problems)
    internal = internaldate if internaldate.tzinfo else internaldate.replace(tzinfo=UTC)
    internal = internal.astimezone(UTC)
    if value is None:
        return internal, "internaldate", problems
    if abs(value - internal) > PLAUSIBLE_SKEW:
        problems.append("Date header far from arrival time; using INTERNALDATE")
        return internal, "internaldate", problems
    return value, "header", problems
