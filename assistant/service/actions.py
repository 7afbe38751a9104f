"""Acting on a thread: done, snooze, assign, take. One implementation for reply commands
and the web page; each action is recorded in the thread's timeline with its rule."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from ..core.commands import Command, CommandError, snooze_until
from ..core.ownership import Person
from ..core.state import State
from ..runtime import Runtime
from ..store.models import Mailbox, ThreadEvent, ThreadRecord

log = logging.getLogger("followup.actions")


async def apply_action(
    runtime: Runtime,
    mailbox: Mailbox,
    record: ThreadRecord,
    command: Command,
    actor: str,
    now: datetime,
    people: Mapping[str, Person],
    rule_prefix: str,
) -> str:
    """Apply ``command`` to ``record``; return the one-line answer; raise CommandError."""
    label = f'"{record.subject or record.thread_id}"'
    rule = f"{rule_prefix}:{command.verb}"

    async def timeline(kind: str, detail: str) -> None:
        await ThreadEvent.create(
            mailbox=mailbox,
            thread_id=record.thread_id,
            at=now,
            kind=kind,
            rule=rule,
            actor=actor,
            detail=detail,
        )

    if command.verb == "done":
        record.done_at, record.state = now, str(State.HANDLED)
        answer = f"Done: {label} is marked handled; its reminders stop."
    elif command.verb == "snooze":
        calendar = runtime.policy(mailbox, people).calendar
        until = snooze_until(command.argument, now, calendar)
        record.snoozed_until = until
        local = until.astimezone(calendar.zone)
        answer = f"Snoozed: {label} stays quiet until {local:%a %d %b %H:%M %Z}."
    elif command.verb in ("assign", "take"):
        new_owner = actor if command.verb == "take" else command.argument
        if new_owner not in people:
            raise CommandError(f"{new_owner} is not a team member Followup knows.")
        record.assigned_to = record.owner = new_owner
        record.owner_rule = "assigned"
        answer = f"Assigned: {label} is now owned by {people[new_owner].label}."
        await timeline("owner", new_owner)
    else:
        raise CommandError(f"{command.verb!r} cannot be applied to a thread.")
    record.updated_at = now
    await record.save()
    await timeline("command", f"{command.verb} {command.argument}".strip())
    log.info(
        "action applied",
        extra={"mailbox": mailbox.name, "rule": rule, "from": actor, "thread_id": record.thread_id},
    )
    return answer
