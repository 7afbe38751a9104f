"""What an automatic mail about a thread says, and the message that carries it: the template
context of an outbox row, and its MIME message (to a client, threaded into the client's
conversation; to a team member, with the signed reply address that takes commands)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from ..core.compose import Notice, Outgoing, compose, compose_notice
from ..core.digest import business_hours
from ..core.evaluate import MailboxPolicy
from ..core.ladder import promised_reply
from ..core.mail_kinds import MailKind
from ..core.model import Address
from ..core.ownership import Person
from ..core.subject import strip_prefixes
from ..render import format_when
from ..settings import FollowupConfig
from ..signing import command_address
from ..store.models import Mailbox, OutboxItem, ThreadRecord
from .loops import CLIENT_KINDS
from .thread_rows import LoadedThread

COMMAND_REPLY = str(MailKind.COMMAND_REPLY)


def thread_link(config: FollowupConfig, mailbox: str, thread_id: str) -> str:
    """The thread's page on the web app."""
    return f"{config.web.base_url.rstrip('/')}/threads/{quote(mailbox)}/{quote(thread_id, safe='')}"


def _subject(loaded: LoadedThread) -> str:
    start = loaded.state.episode_start or loaded.thread.messages[0]
    return strip_prefixes(start.subject) or "your message"


def _owner(record: ThreadRecord | None, people: Mapping[str, Person]) -> dict[str, str]:
    owner = (record.owner if record else None) or ""
    person = people.get(owner)
    return {
        "owner_name": (person.label if person else owner) or "",
        "owner_email": owner,
        "owner_rule": (record.owner_rule if record else None) or "",
    }


async def render_context(
    mailbox: Mailbox,
    config: FollowupConfig,
    policy: MailboxPolicy,
    row: OutboxItem,
    loaded: LoadedThread,
    now: datetime,
) -> dict[str, Any]:
    """The values an outbox row's template sees (times in the mailbox's zone and locale)."""
    messages, calendar = config.messages, policy.calendar
    start, waiting = loaded.state.episode_start, loaded.state.waiting_since
    client = loaded.state.client or Address(row.recipient)
    promised = row.promised_by or promised_reply(loaded.state, policy.ladder, calendar)
    record = await ThreadRecord.get_or_none(mailbox=mailbox, thread_id=row.thread_id)
    recipient = policy.people.get(row.recipient)
    return {
        "client_name": client.name,
        "client_email": client.email,
        "thread_subject": _subject(loaded),
        "received_at": format_when(start.date, calendar.zone, messages.locale) if start else "",
        "promised_by": format_when(promised, calendar.zone, messages.locale) if promised else "",
        **_owner(record, policy.people),
        "person_name": recipient.label if recipient else row.recipient,
        "waiting": business_hours(calendar.elapsed(waiting, now)) if waiting else "",
        "thread_link": thread_link(config, mailbox.name, row.thread_id),
        "team_name": messages.team_name,
        "mailbox_address": mailbox.address,
        "signature": messages.signature or messages.team_name,
    }


def build_message(
    mailbox: Mailbox,
    config: FollowupConfig,
    people: Mapping[str, Person],
    row: OutboxItem,
    loaded: LoadedThread | None,
    now: datetime,
) -> EmailMessage:
    """The mail of ``row`` as it goes out (``loaded``: its thread, for mail to a client)."""
    team_name = config.messages.team_name
    if row.kind in CLIENT_KINDS:
        assert loaded is not None
        start = loaded.state.episode_start
        client = loaded.state.client or Address(row.recipient)
        sender = Address(mailbox.address, team_name)
        out = Outgoing(
            sender, mailbox.address, client, row.message_id, row.key, row.kind, now, start
        )
        return compose(out, row.subject, row.text, row.html)
    person = people.get(row.recipient)
    payload = row.payload or {}
    note = Notice(
        sender=Address(mailbox.address, f"{team_name} (Followup)"),
        recipient=Address(row.recipient, person.name if person else ""),
        reply_to=command_address(mailbox.address, row.id, row.recipient),
        message_id=row.message_id,
        key=row.key,
        kind=row.kind,
        date=now,
        in_reply_to=row.reply_to_message_id if row.kind == COMMAND_REPLY else None,
        unsubscribe_url=str(payload["unsubscribe"]) if payload.get("unsubscribe") else None,
    )
    return compose_notice(note, row.subject, row.text, row.html)
