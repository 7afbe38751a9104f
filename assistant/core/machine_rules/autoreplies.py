"""Auto-replies: RFC 3834 and vendor headers, then anchored auto-reply subjects.

The headers come first; the subject is the fallback for responders that send none (Outlook
rules run in the client, Lotus Domino, gateways that strip headers). Subject markers are
listed per language in :mod:`.autoreply_subjects` and compared only where
:mod:`.subjects` anchors them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..model import Message
from ..signals import AUTOREPLY_HEADERS
from .autoreply_subjects import MARKERS, TAIL_MARKERS, WHOLE_SUBJECT_ONLY
from .base import AUTO_REPLY, Rule, subject_detail
from .subjects import subject_parts

_SUPPRESS_VALUES = re.compile(r"\b(?:all|oof|autoreply|dr|ndr|rn|nrn)\b", re.IGNORECASE)
#: An away marker followed by when the writer is back: "OOO until 5 May", "Out of the
#: office through Friday", "Abwesend bis 12.08.", "Absent jusqu'au 3 mai".
_AWAY_UNTIL_RE = re.compile(
    r"^(?:ooo|out of (?:the )?office|on (?:vacation|holiday|leave|annual leave)|"
    r"away from (?:the office|my desk)|abwesend|nicht im büro|absent|absente|afwezig|"
    r"fuera de la oficina|fuori ufficio|ausente) "
    r"(?:until|till|through|thru|back on|returning|bis|jusqu'?au|hasta el|fino al|tot)\b"
)
#: Ticket systems' acknowledgements (RT's "AutoReply:" is a marker): the whole subject or
#: the text before its colon, with at most a ticket number after it ...
_TICKET_ACK_RE = re.compile(
    r"^(?:(?:your )?(?:request|ticket|message|e-?mail|case|enquiry|inquiry) "
    r"(?:has been |was )?received|ticket (?:created|opened|received)|"
    r"we(?:'ve| have) received your (?:e-?mail|message|request|enquiry|inquiry))"
    r"(?: \(?(?:ticket |case )?#?\d[\w-]*\)?)?$"
)
#: ... or a thank-you that names the ticket it opened.
_TICKET_THANKS_RE = re.compile(
    r"^thank you for (?:contacting|your (?:e-?mail|message|request|enquiry|inquiry))\b"
    r".*(?:\bticket\b|#\d|\[#)"
)


def _auto_submitted(msg: Message) -> str | None:
    value = msg.headers.get("auto-submitted", "").strip().lower()
    if value and not value.startswith("no"):
        return f"Auto-Submitted: {value[:40]}"
    return None


def _autoreply_header(msg: Message) -> str | None:
    headers = msg.headers
    for name in AUTOREPLY_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return f"{name}: {value[:40]}"
    return None


def _response_suppress(msg: Message) -> str | None:
    value = msg.headers.get("x-auto-response-suppress", "")
    return f"X-Auto-Response-Suppress: {value}" if _SUPPRESS_VALUES.search(value) else None


def _microsoft_auto(msg: Message) -> str | None:
    for name in ("x-ms-exchange-inbox-rules-loop", "x-ms-exchange-generated-message-source"):
        if name in msg.headers:
            return f"{name}: {msg.headers.get(name, '')[:40]}"
    return None


def _autoreply_marker(subject: str) -> str | None:
    """The auto-reply marker that anchors ``subject``, or None."""
    parts = subject_parts(subject)
    for piece in parts.anchored():
        if piece in MARKERS and (piece == parts.whole or piece not in WHOLE_SUBJECT_ONLY):
            return piece
    if parts.tail in TAIL_MARKERS:
        return parts.tail
    for piece in (parts.head, parts.whole):
        if _AWAY_UNTIL_RE.match(piece) or _TICKET_ACK_RE.match(piece):
            return piece
    return parts.rest if _TICKET_THANKS_RE.match(parts.rest) else None


# Memoised for the rules; the screen's own memo (machine.plainly_human) calls _autoreply_marker.
autoreply_marker = lru_cache(maxsize=16384)(_autoreply_marker)


def _autoreply_subject(msg: Message) -> str | None:
    return subject_detail(msg) if autoreply_marker(msg.subject) is not None else None


def marks_subject(subject: str) -> bool:
    """True when a rule of this module may fire on a message with ``subject``."""
    return _autoreply_marker(subject) is not None


AUTO_SUBMITTED = Rule(
    "auto-submitted", AUTO_REPLY, "RFC 3834 Auto-Submitted header", _auto_submitted
)
AUTOREPLY_HEADER = Rule(
    "autoreply-header", AUTO_REPLY, "X-Autoreply / X-Autorespond family", _autoreply_header
)
MS_AUTO_RESPONSE_SUPPRESS = Rule(
    "ms-auto-response-suppress",
    AUTO_REPLY,
    "Microsoft X-Auto-Response-Suppress",
    _response_suppress,
)
MS_EXCHANGE_AUTO = Rule(
    "ms-exchange-auto", AUTO_REPLY, "Exchange inbox-rule or generated message", _microsoft_auto
)
AUTOREPLY_SUBJECT = Rule(
    "autoreply-subject",
    AUTO_REPLY,
    "auto-reply or out-of-office subject marker (40+ languages), anchored",
    _autoreply_subject,
)
