"""Plain records shared by the pure core.

Everything here is immutable data: parsing produces a :class:`Message`, threading groups them
into :class:`Thread` objects, and the rules read both. No behaviour lives here beyond trivial
accessors, so every other core module can import this one without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox address: ``email`` is normalised (lower case, Unicode domain)."""

    email: str
    name: str = ""

    @property
    def domain(self) -> str:
        """The part after the last ``@`` (empty for a bare local part)."""
        return self.email.rpartition("@")[2] if "@" in self.email else ""

    @property
    def local(self) -> str:
        """The part before the last ``@``."""
        return self.email.rpartition("@")[0] if "@" in self.email else self.email

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True, slots=True)
class Message:
    """The header record of one message: all the rules ever need, never the body.

    ``message_id`` is always set; when the header is missing or unusable a synthetic id is made
    from the message's content and ``synthetic_id`` is true, so it never links threads.
    ``date`` is timezone-aware UTC. ``headers`` keeps only the (lower-cased) fields that reveal
    machine mail, see :data:`assistant.core.headers.SIGNAL_HEADERS`. ``issues`` lists what was
    wrong with the input, in words, instead of raising.
    """

    message_id: str
    synthetic_id: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime
    date_source: str
    subject: str
    subject_key: str
    headers: dict[str, str] = field(default_factory=dict)
    issues: tuple[str, ...] = ()
    source: str = ""

    @property
    def recipients(self) -> tuple[Address, ...]:
        """To and Cc together."""
        return self.to + self.cc

    @property
    def parent_ids(self) -> tuple[str, ...]:
        """References then In-Reply-To, without repeats: the chain JWZ threading links."""
        seen: dict[str, None] = dict.fromkeys(self.references)
        for mid in self.in_reply_to:
            seen.pop(mid, None)
            seen[mid] = None
        seen.pop(self.message_id, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a message was written by a machine, and the name of the rule that said so."""

    machine: bool
    rule: str | None = None
    category: str | None = None
    detail: str = ""

    @property
    def human(self) -> bool:
        """True when no machine rule fired."""
        return not self.machine


HUMAN = Verdict(machine=False)


@dataclass(frozen=True, slots=True)
class Thread:
    """Messages that belong together, oldest first; ``id`` is the root Message-ID (maybe unseen)."""

    id: str
    messages: tuple[Message, ...]
    link_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The subject of the oldest message."""
        return self.messages[0].subject if self.messages else ""

    @property
    def last_date(self) -> datetime:
        """Date of the newest message."""
        return self.messages[-1].date
