"""The rule record, the verdict categories and the small helpers every rule module shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..model import Message

BOUNCE = "bounce"
AUTO_REPLY = "auto-reply"
LIST = "list"
BULK = "bulk"
ROBOT = "robot"
OWN = "own"

#: A rule's test: a short detail when it fires, else None.
Check = Callable[[Message], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """A named test: ``check`` returns a short detail when the rule fires, else None."""

    name: str
    category: str
    description: str
    check: Check


def local_part(email: str) -> str:
    """The case-folded part before the last ``@`` (the whole address without one)."""
    return (email.rpartition("@")[0] if "@" in email else email).casefold()


def subject_detail(msg: Message) -> str:
    """The detail a subject rule reports: the start of the subject."""
    return f"Subject {msg.subject[:60]!r}"
