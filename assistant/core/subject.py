"""Subject normalisation for threading: strip reply/forward prefixes and list tags.

The prefix table follows the localised forms mail clients really write (English, German,
Scandinavian, Dutch, Polish, Italian, Spanish, French, Portuguese, Chinese, ...), including
counted forms such as ``Re[2]:``, ``Re^3:`` and ``RE(2):``. Stripping repeats until nothing
changes, so ``Re: AW: [list] Fwd: Hello`` becomes ``hello``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_PREFIXES = (
    "re|aw|sv|vs|antw|antwort|odp|r|rif|ref|réf|rép|rv|res|fw|fwd|fwdd|wg|tr|enc|doorst|"
    "vl|i|továbbítás|回复|回覆|答复|转发|轉寄|返信|転送"
)
# A prefix word, an optional counter ([2], (2), ^2), then a colon (ASCII or full width).
_PREFIX_RE = re.compile(
    rf"^\s*(?:(?:{_PREFIXES})\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*)",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"^\s*\[[^\[\]]{1,60}\]\s*")
_TRAILER_RE = re.compile(r"\s*\((?:fwd|fw)\)\s*$", re.IGNORECASE)

#: Subjects too generic to thread by: two clients writing "Question" are two threads.
GENERIC_SUBJECTS = frozenset(
    {
        "",
        "(no subject)",
        "no subject",
        "question",
        "questions",
        "quick question",
        "hello",
        "hi",
        "hey",
        "help",
        "inquiry",
        "enquiry",
        "request",
        "support",
        "info",
        "information",
        "contact",
        "test",
        "urgent",
        "problem",
        "issue",
        "thanks",
        "thank you",
        "fyi",
        "invoice",
        "order",
        "booking",
        "feedback",
        "meeting",
        "follow up",
        "follow-up",
        "update",
    }
)


@lru_cache(maxsize=32768)
def strip_prefixes(subject: str) -> str:
    """``subject`` without reply/forward prefixes, list tags and ``(fwd)``; spaces folded."""
    text = " ".join(subject.split())
    if ":" not in text and "：" not in text and "[" not in text and "(" not in text:
        return text  # no prefix, tag or trailer to strip: the common case
    while True:
        stripped = _PREFIX_RE.sub("", text, count=1)
        stripped = _TAG_RE.sub("", stripped, count=1)
        stripped = _TRAILER_RE.sub("", stripped)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def normalise_subject(subject: str) -> str:
    """The thread key of ``subject``: prefixes and tags removed, spaces folded, casefolded."""
    return strip_prefixes(subject).casefold()


def has_reply_prefix(subject: str) -> bool:
    """True when the subject starts with a reply or forward prefix."""
    return bool(_PREFIX_RE.match(_TAG_RE.sub("", subject, count=1)) or _PREFIX_RE.match(subject))


def is_generic(subject_key: str) -> bool:
    """True for normalised subjects that say nothing about which conversation they belong to."""
    return subject_key in GENERIC_SUBJECTS or len(subject_key) < 4
