"""Split a subject into the anchored pieces the subject rules compare, never its loose words.

A subject rule may only look at the start of a subject or at a whole phrase: a robot writes
its marker first ("Automatic reply: ...", "Undeliverable: ...", "[Auto-Reply] ...") or makes it
the whole subject ("Out of Office"), or, for a few ticket systems, closes the subject with it in
parentheses ("... (Automatic Response)"). A person's reply starts with their client's reply
prefix ("Re:", "AW:", "SV:"), so such a subject is never taken apart further: "Re: Automatic
reply: x" is a person answering a robot.

Everything is compared case-folded with runs of white space (including no-break spaces, which
French Outlook puts before its colon) collapsed to one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_LEADING_TAGS = re.compile(r"^(?:\[[^\[\]]{0,120}\] ?)+")
_TRAILING_TAGS = re.compile(r"(?: ?\[[^\[\]]{0,120}\])+$")
_TAG = re.compile(r"\[([^\[\]]{0,120})\]")
_TRAILING_PAREN = re.compile(r"\(([^()]{1,60})\)$")
_COLON = re.compile(r" ?[:：︰] ?")
_END_PUNCT = " .!-–—"
#: A head longer than this is prose, not a marker.
MAX_HEAD = 80


@dataclass(frozen=True, slots=True)
class SubjectParts:
    """The anchored pieces of one subject, case-folded.

    ``tags`` are the contents of leading ``[...]`` groups; ``head`` is the text before the
    first colon after them (empty when there is no colon); ``whole`` is the subject without
    its leading and trailing tags; ``tail`` is the content of a closing ``(...)`` group;
    ``rest`` is everything after the leading tags.
    """

    tags: tuple[str, ...]
    head: str
    whole: str
    tail: str
    rest: str

    def anchored(self) -> tuple[str, ...]:
        """The pieces a phrase table is matched against: tags, head and whole subject."""
        return (*self.tags, self.head, self.whole)


def normalise(text: str) -> str:
    """Case-fold and collapse white space; Turkish dotted and dotless i fold to ``i``."""
    # str.split() splits on what \s matches (no-break spaces included): no regex needed.
    folded = " ".join(text.split()).casefold()
    if folded.isascii():
        return folded
    return folded.replace("i\u0307", "i").replace("ı", "i")


@lru_cache(maxsize=16384)
def subject_parts(subject: str) -> SubjectParts:
    """Split ``subject`` (cached: a mailbox repeats its subjects thread by thread)."""
    text = normalise(subject)
    lead = _LEADING_TAGS.match(text) if text.startswith("[") else None
    tags = tuple(t.strip() for t in _TAG.findall(lead.group(0))) if lead else ()
    rest = text[lead.end() :] if lead else text
    colon = _COLON.search(rest, 0, MAX_HEAD + 2)
    head = rest[: colon.start()].strip() if colon else ""
    whole = _TRAILING_TAGS.sub("", rest).strip() if rest.endswith("]") else rest
    whole = whole.rstrip(_END_PUNCT)
    paren = _TRAILING_PAREN.search(whole) if whole.endswith(")") else None
    return SubjectParts(tags, head, whole, paren.group(1).strip() if paren else "", rest)


def match_table(subject: str, table: frozenset[str]) -> str | None:
    """The first anchored piece of ``subject`` that is a phrase of ``table``, else None."""
    for piece in subject_parts(subject).anchored():
        if piece and piece in table:
            return piece
    return None
