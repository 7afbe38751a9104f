"""Every kind of automatic mail Followup writes, in one table: who it goes to, whether it is a
step of the escalation ladder, which built-in template it falls back to, and what it is for.

The values are the strings stored in ``outbox.kind`` and ``template_versions.kind`` and the
names of the folders under ``templates/``: they never change. Everything else that lists
kinds derives from :data:`MAIL_KINDS` (the ladder's :class:`~.ladder.Kind`, the template
editor's list, the built-in defaults of :mod:`assistant.render`, the client throttle, the
delivery's "rendered when planned"); ``tests/test_mail_kinds.py`` checks they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class MailKind(StrEnum):
    """A kind of automatic mail (stored as these strings; each names its template folder)."""

    ACKNOWLEDGE = "acknowledge"
    REMIND_OWNER = "remind_owner"
    ESCALATE_BACKUP = "escalate_backup"
    ESCALATE_LEAD = "escalate_lead"
    CLIENT_UPDATE = "client_update"
    DIGEST = "digest"
    COMMAND_REPLY = "command_reply"
    ADMIN_NOTICE = "admin_notice"


class Audience(StrEnum):
    """Who a kind of mail is written to."""

    #: The client who wrote: threaded into their conversation, counted by the client throttle.
    CLIENT = "client"
    #: A member of the team (owner, backup, lead, whoever sent a command).
    TEAM = "team member"
    #: The admins of Followup itself.
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What differs between kinds of mail."""

    audience: Audience
    #: A step of the escalation ladder: planned by :func:`.ladder.decide` and rendered and
    #: re-vetted at send time; every other kind is rendered when it is planned.
    ladder: bool
    #: The key of :data:`assistant.render.BUILTIN` it falls back to (its own name, or one
    #: shared by several kinds); None: no template, the text is written in code.
    builtin: str | None
    #: One line for the template list on the web page.
    description: str

    @property
    def to_client(self) -> bool:
        """Threaded into the client's conversation and counted by the client throttle."""
        return self.audience is Audience.CLIENT

    @property
    def has_template(self) -> bool:
        """Whether a template folder (and an editor on the web page) exists for it."""
        return self.builtin is not None


#: The registry: every kind and what differs, in the order the web page lists them.
MAIL_KINDS: Mapping[MailKind, KindSpec] = MappingProxyType(
    {
        MailKind.ACKNOWLEDGE: KindSpec(
            Audience.CLIENT, True, "acknowledge", "the holding reply a client gets once per thread"
        ),
        MailKind.REMIND_OWNER: KindSpec(
            Audience.TEAM, True, "notice", "the owner's reminder (their backup's while away)"
        ),
        MailKind.ESCALATE_BACKUP: KindSpec(
            Audience.TEAM, True, "notice", "to the owner's backup (else the lead): still waiting"
        ),
        MailKind.ESCALATE_LEAD: KindSpec(
            Audience.TEAM, True, "notice", "to the team lead, when the thread still waits"
        ),
        MailKind.CLIENT_UPDATE: KindSpec(
            Audience.CLIENT, True, "client_update", '"still on it": a note to a waiting client'
        ),
        MailKind.DIGEST: KindSpec(
            Audience.TEAM, False, "digest", "each person's daily list of what waits on them"
        ),
        MailKind.COMMAND_REPLY: KindSpec(
            Audience.TEAM, False, "command_reply", "the answer to a reply command (or the help)"
        ),
        MailKind.ADMIN_NOTICE: KindSpec(
            Audience.ADMIN, False, None, "a mailbox needs re-authorisation"
        ),
    }
)


def kinds_where(test: Callable[[KindSpec], bool]) -> tuple[str, ...]:
    """The kinds whose spec passes ``test``, as plain strings (what the store is queried
    with), in registry order."""
    return tuple(kind.value for kind, spec in MAIL_KINDS.items() if test(spec))


def spec(kind: str) -> KindSpec:
    """The spec of ``kind`` (a :class:`MailKind` or its stored string); ValueError if none."""
    return MAIL_KINDS[MailKind(kind)]


#: Kinds with a template folder (the template editor's list), in registry order.
TEMPLATED = kinds_where(lambda s: s.has_template)
#: Mail to clients: threaded into the client's conversation, counted by the client throttle.
TO_CLIENT = kinds_where(lambda s: s.to_client)
#: The escalation ladder's kinds.
LADDER = kinds_where(lambda s: s.ladder)
#: Rendered when planned (no thread to re-check at send time): every kind off the ladder.
RENDERED_WHEN_PLANNED = kinds_where(lambda s: not s.ladder)
#: Ladder steps after the acknowledgement: re-decided by the core at send time.
LATER_STEPS = tuple(k for k in LADDER if k != MailKind.ACKNOWLEDGE)
