"""Machine reports: read receipts (MDN), abuse feedback (ARF) and DMARC reports, in all forms.

The standard forms are ``multipart/report`` messages (RFC 8098 MDN; RFC 5965 ARF, also
carrying RFC 6591 ``Feedback-Type: auth-failure`` DMARC failure reports). Providers also send
them as ``multipart/mixed`` or plain text; those are recognised by what the provider always
writes: its report address or its subject (sources on each table).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..model import Address, Message
from .base import AUTO_REPLY, ROBOT, Rule, local_part, subject_detail
from .bounces import report_kind
from .subjects import subject_parts

#: Report senders that do not use multipart/report (sisimai lib/Sisimai/ARF.pm: Microsoft's
#: JMRP and Amazon SES complaints; AOL's feedback loop writes from scomp@aol.net).
FEEDBACK_SENDERS = frozenset(
    {"staff@hotmail.com", "complaints@email-abuse.amazonses.com", "scomp@aol.net"}
)
#: Subject starts of feedback-loop reports (sisimai Order.pm "complaint-about",
#: "email-feedback", "abuse-report"; AOL "Client TOS Notification").
_FEEDBACK_SUBJECT_RE = re.compile(
    r"^(?:complaint about message from \S|email feedback report for ip|"
    r"abuse report for (?:ip|message)|client tos notification|"
    r"(?:fbl|feedback[- ]loop|arf) (?:abuse )?report\b)"
)
#: DMARC reports by subject: RFC 7489 section 7.2.1.1 prescribes "Report Domain: <domain>
#: Submitter: <submitter> Report-ID: <id>" for aggregate reports; failure reports carry the
#: reporter's own wording (parsedmarc samples: "DMARC Forensic Report for", "DMARC Failure
#: Report for", "[Netease DMARC Failure Report] ...").
_DMARC_SUBJECT_RE = re.compile(
    r"^(?:report domain: ?\S+ submitter: ?\S+|"
    r"(?:netease )?(?:dmarc|dkim|spf)(?: aggregate| forensic| failure"
    r"| auth(?:entication)?[- ]failure)+ report\b|"
    r"auth(?:entication)?[- ]failure report\b)"
)
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


def _mdn(msg: Message) -> str | None:
    kind = report_kind(msg)
    return f"multipart/report; report-type={kind}" if kind == "disposition-notification" else None


def _feedback_subject(subject: str) -> bool:
    return _FEEDBACK_SUBJECT_RE.match(subject_parts(subject).whole) is not None


# Memoised for the rules; the screen's own memo (machine.plainly_human) calls _feedback_subject.
_is_feedback_subject = lru_cache(maxsize=16384)(_feedback_subject)


def _feedback_report(msg: Message) -> str | None:
    kind = report_kind(msg)
    if kind == "feedback-report":
        return f"multipart/report; report-type={kind}"
    if "feedback" in msg.headers.get("x-report-type", "").lower():
        return "X-Report-Type: feedback-report"
    if msg.sender is not None and msg.sender.email.casefold() in FEEDBACK_SENDERS:
        return f"From {msg.sender.email}"
    return subject_detail(msg) if _is_feedback_subject(msg.subject) else None


def _dmarc_subject(subject: str) -> bool:
    """True for an RFC 7489 aggregate-report subject or a reporter's failure-report wording."""
    parts = subject_parts(subject)
    return any(_DMARC_SUBJECT_RE.match(piece) for piece in (*parts.tags, parts.whole))


# Memoised for the rules; the screen's own memo (machine.plainly_human) calls _dmarc_subject.
is_dmarc_subject = lru_cache(maxsize=16384)(_dmarc_subject)


@lru_cache(maxsize=16384)
def _is_dmarc_sender(email: str) -> bool:
    local = local_part(email)
    return "dmarc" in local and any(_is_dmarc_token(t) for t in _TOKEN_SPLIT.split(local))


def _is_dmarc_token(token: str) -> bool:
    return token in ("dmarc", "opendmarc") or (
        token.startswith("dmarc") and token.endswith(("report", "reports"))
    )


def _dmarc_report(msg: Message) -> str | None:
    if is_dmarc_subject(msg.subject):
        return subject_detail(msg)
    sender = msg.sender
    return f"From {sender.email}" if sender is not None and _is_dmarc_sender(sender.email) else None


def marks_sender(sender: Address) -> bool:
    """True when a rule of this module may fire on a message from ``sender``."""
    return sender.email.casefold() in FEEDBACK_SENDERS or _is_dmarc_sender(sender.email)


def marks_subject(subject: str) -> bool:
    """True when a rule of this module may fire on a message with ``subject``."""
    return _feedback_subject(subject) or _dmarc_subject(subject)


MDN_REPORT = Rule(
    "mdn-report", AUTO_REPLY, "RFC 8098 read receipt / disposition notification", _mdn
)
FEEDBACK_REPORT = Rule(
    "feedback-report",
    ROBOT,
    "abuse or auth-failure feedback report (RFC 5965/6591 ARF, provider forms)",
    _feedback_report,
)
DMARC_REPORT = Rule(
    "dmarc-report",
    ROBOT,
    "DMARC aggregate or failure report (RFC 7489 subject, reporter wording, dmarc sender)",
    _dmarc_report,
)
