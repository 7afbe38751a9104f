"""Acting by reply: a team member answers a reminder or digest with a command line.

A reply is a command when it was sent to a signed plus address made by
:func:`assistant.signing.command_address`. It is accepted only when

- the signature matches the outbox row it names and that row's recipient,
- it came back to the mailbox that sent that row, and
- its sender is a team member (a person, or an address of the mailbox's team).

Strangers and forged tags are refused and logged, never answered (answering would feed
whoever forged it). Team members always get one line back: what was done, or why not and
the help. The answer is an outbox row keyed by the command's Message-ID, so a command is
applied and answered once however often the mailbox is synced. The command message itself is
marked ``followup-command`` so it never shows up as a conversation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from ..core.body_text import body_text
from ..core.command_rules import COMMAND_RULE, SILENT_RULES, TAG_RULES, Reply, Tagged, TagUse
from ..core.commands import HELP, Command, CommandError, parse_command
from ..core.evaluate import MailboxPolicy
from ..core.outbox import message_id_for
from ..core.rules import vet
from ..mail.imap import ImapSession
from ..mail.urls import MailURL
from ..render import renderer_for
from ..runtime import Runtime
from ..signing import command_signature_ok, read_command_address
from ..store.models import Folder, Mailbox, OutboxItem, StoredMessage, ThreadRecord
from . import credentials
from .actions import apply_action
from .deliver import DIGEST
from .outbox import load_thread
from .outgoing import COMMAND_REPLY
from .people import everyone
from .storing import database_answers, quarantine
from .templates import active_sources

log = logging.getLogger("followup.commands")

BODY_LIMIT = 64 * 1024


@dataclass
class CommandReport:
    """What one pass over new messages did."""

    applied: list[str] = field(default_factory=list)
    answered: int = 0
    refused: list[str] = field(default_factory=list)


def _tagged(row: StoredMessage) -> tuple[int, str] | None:
    for address, _name in [*row.to, *row.cc]:
        tag = read_command_address(address)
        if tag is not None:
            return tag
    return None


def _fetch_bodies(url: MailURL, wanted: dict[str, list[int]]) -> dict[tuple[str, int], bytes]:
    found: dict[tuple[str, int], bytes] = {}
    with ImapSession(url) as session:
        for folder, uids in wanted.items():
            session.select(folder)
            try:
                for uid, data in session.client.fetch(
                    uids, [f"BODY.PEEK[]<0.{BODY_LIMIT}>"]
                ).items():
                    for key, value in data.items():
                        if key.startswith(b"BODY[") and isinstance(value, bytes):
                            found[(folder, uid)] = value
            finally:
                session.unselect()
    return found


async def handle_commands(
    runtime: Runtime, mailbox: Mailbox, changed_ids: list[int], now: datetime
) -> CommandReport:
    """Apply and answer the reply commands among ``changed_ids`` (stored rows). They were
    stored as commands (:func:`assistant.core.command_rules.command_rule`) and evaluated as
    such: nothing here re-evaluates."""
    report = CommandReport()
    if not changed_ids:
        return report
    candidates = [
        row
        for row in await StoredMessage.filter(id__in=changed_ids, machine_rule=COMMAND_RULE)
        if _tagged(row) is not None
    ]
    if not candidates:
        return report
    folders = {f.id: f.name for f in await Folder.filter(mailbox=mailbox)}
    wanted: dict[str, list[int]] = {}
    for row in candidates:
        wanted.setdefault(folders[row.folder_id], []).append(row.uid)
    url = await credentials.imap_url(mailbox, runtime.clock)
    bodies = await asyncio.to_thread(_fetch_bodies, url, wanted)
    people = await everyone(runtime.config)
    policy = runtime.policy(mailbox, people)
    for row in candidates:
        raw = bodies.get((folders[row.folder_id], row.uid))
        await _isolated(runtime, mailbox, policy, row, raw, now, report)
    return report


async def _isolated(
    runtime: Runtime,
    mailbox: Mailbox,
    policy: MailboxPolicy,
    row: StoredMessage,
    raw: bytes | None,
    now: datetime,
    report: CommandReport,
) -> None:
    """Handle one command; one that fails is quarantined and the others go on."""
    try:
        await _one(runtime, mailbox, policy, row, raw, now, report)
    except Exception as exc:
        if not await database_answers():
            raise
        report.refused.append("command-failed")
        await quarantine(await Folder.get(id=row.folder_id), row.uid, "command", exc, now)


def _answer_key(mailbox: Mailbox, row: StoredMessage) -> str:
    return f"{mailbox.name}:command:{row.message_id}"[:255]


async def _one(
    runtime: Runtime,
    mailbox: Mailbox,
    policy: MailboxPolicy,
    row: StoredMessage,
    raw: bytes | None,
    now: datetime,
    report: CommandReport,
) -> None:
    if await OutboxItem.exists(key=_answer_key(mailbox, row)):
        return  # answered before: a command is applied once
    tag = _tagged(row)
    assert tag is not None
    target = await OutboxItem.get_or_none(id=tag[0])
    sender = (row.sender or "").lower()
    refusal = vet(_reply(target, tag[1], mailbox, sender, policy), SILENT_RULES)
    if refusal is not None:
        report.refused.append(refusal.rule)
        extra = {"mailbox": mailbox.name, "rule": refusal.rule, "from": sender}
        log.warning("command refused", extra=extra | {"message_id": row.message_id})
        return  # never answered: whoever forged it would be fed
    assert target is not None  # a tag naming no row is unsigned: refused above
    try:
        use = TagUse(await _tagged_mail(mailbox, policy, target), sender, now)
        problem = vet(use, TAG_RULES)
        if problem is not None:
            report.refused.append(problem.rule)
            raise CommandError(problem.reason)
        command = parse_command(body_text(raw) if raw else "")
        answer, thread = await _apply(runtime, mailbox, policy, target, command, sender, now)
        understood = True
        report.applied.append(f"{command.verb} {thread}".strip())
    except CommandError as exc:
        answer, understood = f"Not done: {str(exc).replace(HELP, '').strip()}", False
    await _answer(runtime, mailbox, row, sender, answer, understood, now)
    report.answered += 1


def _reply(
    target: OutboxItem | None, signature: str, mailbox: Mailbox, sender: str, policy: MailboxPolicy
) -> Reply:
    """The facts of :data:`SILENT_RULES` (checking the signature needs the secret key)."""
    signed = target is not None and command_signature_ok(target.id, target.recipient, signature)
    same = target is not None and target.mailbox_id == mailbox.id  # type: ignore[attr-defined]
    return Reply(signed, same, sender, policy.people, policy.team)


async def _tagged_mail(mailbox: Mailbox, policy: MailboxPolicy, target: OutboxItem) -> Tagged:
    """The replied-to mail as :data:`TAG_RULES` read it: a reminder about an earlier
    waiting episode than the thread's current one is stale (a digest is about many)."""
    stale = False
    if target.kind != DIGEST:
        loaded = await load_thread(mailbox, target.thread_id, policy)
        start = loaded.state.episode_start if loaded is not None else None
        stale = start is None or start.message_id != target.reply_to_message_id
    return Tagged(target.recipient, target.sent_at, stale)


async def _thread_of(target: OutboxItem, command: Command) -> tuple[Mailbox, ThreadRecord]:
    if target.kind == DIGEST:
        refs = list((target.payload or {}).get("threads", []))  # type: ignore[call-overload]
        if command.item is None:
            if len(refs) != 1:
                raise CommandError(
                    f"which thread? Add its number from the digest, e.g. '{command.verb} #1'."
                )
            index = 0
        else:
            index = command.item - 1
            if not 0 <= index < len(refs):
                raise CommandError(f"the digest has no thread #{command.item}.")
        box_name, thread_id = refs[index]
        box = await Mailbox.get_or_none(name=box_name)
    else:
        box, thread_id = await Mailbox.get_or_none(id=target.mailbox_id), target.thread_id  # type: ignore[attr-defined]
    record = (
        await ThreadRecord.get_or_none(mailbox=box, thread_id=thread_id)
        if box is not None
        else None
    )
    if box is None or record is None:
        raise CommandError("that thread no longer exists (it may have been merged or deleted).")
    return box, record


async def _apply(
    runtime: Runtime,
    mailbox: Mailbox,
    policy: MailboxPolicy,
    target: OutboxItem,
    command: Command,
    sender: str,
    now: datetime,
) -> tuple[str, str]:
    if command.verb == "help":
        return HELP, ""
    box, record = await _thread_of(target, command)
    answer = await apply_action(
        runtime, box, record, command, sender, now, policy.people, rule_prefix="reply-command"
    )
    return answer, record.thread_id


async def _answer(
    runtime: Runtime,
    mailbox: Mailbox,
    row: StoredMessage,
    sender: str,
    answer: str,
    understood: bool,
    now: datetime,
) -> None:
    sources = await active_sources(COMMAND_REPLY, mailbox)
    rendered = renderer_for(runtime.config.messages.templates_dir).render(
        COMMAND_REPLY,
        {
            "answer": answer,
            "understood": understood,
            "help": HELP,
            "original_subject": row.subject or "your command",
        },
        sources,
    )
    key = _answer_key(mailbox, row)
    domain = mailbox.address.rpartition("@")[2] or "followup.invalid"
    await OutboxItem.create(
        mailbox=mailbox,
        key=key,
        kind=COMMAND_REPLY,
        rule="reply-command" if understood else "reply-command-help",
        thread_id="",
        reply_to_message_id=row.message_id,
        recipient=sender,
        message_id=message_id_for(key, domain),
        due_at=now,
        created_at=now,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        template_error=rendered.error,
    )
