"""Who may act by reply, and through which mail: the refusals of a reply command
(:mod:`.commands`) as ordered tables of named rules (:mod:`.rules`).

- :data:`SILENT_RULES`: a forged, misdirected or stranger's command. It is logged and never
  answered: answering would feed whoever forged it.
- :data:`TAG_RULES`: a team member acting through a mail that is not theirs, too old, or about
  an earlier waiting episode. They are answered with the rule's reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import Message
from .rules import Skip
from .team import Team

#: A reply command works this long after the mail it answers went out.
TAG_LIFETIME = timedelta(days=14)

#: The verdict of mail sent to a command address: a command, never a conversation.
COMMAND_RULE = "followup-command"

# support+fu.<outbox row id>.<signature>@domain (assistant.signing makes and checks them).
_TAG = re.compile(r"\+fu\.(\d+)\.([a-z2-7]{16})@", re.IGNORECASE)


def read_command_address(address: str) -> tuple[int, str] | None:
    """``(row id, signature)`` from an address carrying a command tag (unchecked)."""
    match = _TAG.search(address)
    return (int(match.group(1)), match.group(2).lower()) if match else None


def command_tag(msg: Message) -> tuple[int, str] | None:
    """The command tag of the first To/Cc address that carries one."""
    for address in msg.recipients:
        # Addresses are stored case-folded: the plain test spares most mail the regex.
        if "+fu." in address.email:
            tag = read_command_address(address.email)
            if tag is not None:
                return tag
    return None


def command_rule(msg: Message) -> str | None:
    """:data:`COMMAND_RULE` for mail addressed to a command address, decided when it is
    stored: the reply is evaluated once, as what it is, and never counts as the team
    answering a client (its thread is Followup's mail to a team member)."""
    return COMMAND_RULE if command_tag(msg) is not None else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply sent to a signed command address, as :data:`SILENT_RULES` read it."""

    #: The tag names an outbox row, and its signature matches that row and its recipient.
    signed: bool
    #: It came back to the mailbox that sent that row.
    same_mailbox: bool
    #: The reply's From, lower-case.
    sender: str
    people: Collection[str]
    team: Team


def command_bad_signature(reply: Reply) -> Skip | None:
    """A forged or damaged tag, or one naming a row that does not exist."""
    return None if reply.signed else Skip("command-bad-signature", "the signature is wrong")


def command_wrong_mailbox(reply: Reply) -> Skip | None:
    """A tag of another mailbox's mail (commands act where their mail came from)."""
    if reply.same_mailbox:
        return None
    return Skip("command-wrong-mailbox", "the mail was sent by another mailbox")


def command_from_stranger(reply: Reply) -> Skip | None:
    """The sender is neither a person of the team nor a team address."""
    if reply.sender in reply.people or reply.sender in reply.team:
        return None
    return Skip("command-from-stranger", "the sender is not of the team")


#: Refused outright, in this order, and never answered.
SILENT_RULES: tuple[Callable[[Reply], Skip | None], ...] = (
    command_bad_signature,
    command_wrong_mailbox,
    command_from_stranger,
)


@dataclass(frozen=True, slots=True)
class Tagged:
    """The mail a command replies to, as the command's sender may use it."""

    addressee: str
    sent_at: datetime | None
    #: The mail was about an earlier waiting episode of its thread than the current one.
    stale: bool = False


@dataclass(frozen=True, slots=True)
class TagUse:
    """A team member (``sender``) acting at ``now`` through the ``tagged`` mail."""

    tagged: Tagged
    sender: str
    now: datetime


def command_not_yours(use: TagUse) -> Skip | None:
    """A tag is bound to the person it was sent to."""
    addressee = use.tagged.addressee
    if use.sender.lower() == addressee.lower():
        return None
    return Skip("command-not-yours", f"that mail went to {addressee}: only they can act on it.")


def command_expired(use: TagUse) -> Skip | None:
    """A tag works for :data:`TAG_LIFETIME` after its mail went out."""
    sent_at = use.tagged.sent_at
    if sent_at is not None and use.now - sent_at <= TAG_LIFETIME:
        return None
    days = TAG_LIFETIME.days
    return Skip(
        "command-expired", f"commands work for {days} days after the mail; use the web page."
    )


def command_stale_episode(use: TagUse) -> Skip | None:
    """A reminder about an earlier waiting episode than the thread's current one."""
    if not use.tagged.stale:
        return None
    return Skip("command-stale-episode", "the conversation has moved on since that reminder.")


#: Refused with an answer that says why, in this order.
TAG_RULES: tuple[Callable[[TagUse], Skip | None], ...] = (
    command_not_yours,
    command_expired,
    command_stale_episode,
)
