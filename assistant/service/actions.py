"""Acting on a thread: done, snooze, assign, take. One implementation for reply commands
and the web page; each action is recorded in the thread's timeline with its rule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..core.commands import Command, CommandError, snooze_until
from ..core.ownership import Person
from ..core.state import State
from ..runtime import Runtime
from ..store.models import Mailbox, ThreadEvent, ThreadRecord

log = logging.getLogger("followup.actions")


@dataclass(frozen=True, slots=True)
class _Act:
    """One command about to change one thread."""

    runtime: Runtime
    mailbox: Mailbox
    record: ThreadRecord
    command: Command
    actor: str
    now: datetime
    people: Mapping[str, Person]

    @property
    def label(self) -> str:
        return f'"{self.record.subject or self.record.thread_id}"'


def _done(act: _Act) -> tuple[str, str | None]:
    act.record.done_at, act.record.state = act.now, str(State.HANDLED)
    return f"Done: {act.label} is marked handled; its reminders stop.", None


def _snooze(act: _Act) -> tuple[str, str | None]:
    calendar = act.runtime.policy(act.mailbox, act.people).calendar
    until = snooze_until(act.command.argument, act.now, calendar)
    act.record.snoozed_until = until
    local = until.astimezone(calendar.zone)
    return f"Snoozed: {act.label} stays quiet until {local:%a %d %b %H:%M %Z}.", None


def _assign(act: _Act) -> tuple[str, str | None]:
    new_owner = act.actor if act.command.verb == "take" else act.command.argument
    if new_owner not in act.people:
        raise CommandError(f"{new_owner} is not a team member Followup knows.")
    act.record.assigned_to = act.record.owner = new_owner
    act.record.owner_rule = "assigned"
    return f"Assigned: {act.label} is now owned by {act.people[new_owner].label}.", new_owner


#: Each verb's change to the thread: the answer, and the new owner when it names one.
_ACTIONS: dict[str, Callable[[_Act], tuple[str, str | None]]] = {
    "done": _done,
    "snooze": _snooze,
    "assign": _assign,
    "take": _assign,
}


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
    action = _ACTIONS.get(command.verb)
    if action is None:
        raise CommandError(f"{command.verb!r} cannot be applied to a thread.")
    rule = f"{rule_prefix}:{command.verb}"
    answer, owner = action(_Act(runtime, mailbox, record, command, actor, now, people))

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

    if owner is not None:
        await timeline("owner", owner)
    record.updated_at = now
    # A planner holding this thread as evaluated before the action rebuilds it from the store.
    record.revision = (record.revision or 0) + 1
    await record.save()
    await timeline("command", f"{command.verb} {command.argument}".strip())
    log.info(
        "action applied",
        extra={"mailbox": mailbox.name, "rule": rule, "from": actor, "thread_id": record.thread_id},
    )
    return answer
