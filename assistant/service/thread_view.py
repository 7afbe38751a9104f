"""One thread as a person sees it on the web page, and what they may do to it.

The page's buttons are the reply commands (done, snooze, take, assign) applied by
:func:`.actions.apply_action`, recorded with the rule ``web:VERB``. Admins act on every
thread; a member acts on the threads they own, and may take any thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.commands import HELP, CommandError, parse_command
from ..core.errors import UsageError
from ..runtime import Runtime
from ..store.models import Mailbox, ThreadRecord, User
from .actions import apply_action
from .people import everyone
from .timeline import Timeline, TimelineError, timeline


class NotYourThread(UsageError, PermissionError):
    """A member acting on a thread someone else owns (taking it is allowed)."""


@dataclass(frozen=True, slots=True)
class ThreadView:
    """The thread's timeline, the people it can be assigned to, whether ``user`` may act."""

    story: Timeline
    people: list[str]
    may_act: bool


def may_act(user: User, owner: str | None) -> bool:
    """Admins act on every thread, members on their own."""
    return user.role == "admin" or owner == user.email


async def thread_view(runtime: Runtime, user: User, mailbox: str, thread_id: str) -> ThreadView:
    """The thread ``thread_id`` of ``mailbox``; raise :class:`TimelineError` when there is none."""
    story = await timeline(thread_id, mailbox)
    people = await everyone(runtime.config)
    return ThreadView(story, sorted(people), may_act(user, story.record.owner))


def command_line(action: str, value: str) -> str:
    """The reply command a button of the thread page stands for ("" for none)."""
    if action in ("snooze", "assign"):
        return f"{action} {value.strip()}"
    return action if action in ("done", "take") else ""


async def act(
    runtime: Runtime, user: User, mailbox: str, thread_id: str, action: str, value: str
) -> str:
    """Apply a button of the thread page; the one-line answer. Raises :class:`TimelineError`
    (no such thread), :class:`NotYourThread`, or :class:`CommandError` (said for the page:
    without the help for replies by mail)."""
    box = await Mailbox.get_or_none(name=mailbox)
    record = await ThreadRecord.get_or_none(mailbox=box, thread_id=thread_id) if box else None
    if box is None or record is None:
        raise TimelineError("No such thread.")
    if action != "take" and not may_act(user, record.owner):
        raise NotYourThread("Members act on their own threads (or take one).")
    try:
        command = parse_command(command_line(action, value))
        people = await everyone(runtime.config)
        now = runtime.clock.now()
        return await apply_action(runtime, box, record, command, user.email, now, people, "web")
    except CommandError as exc:
        raise CommandError(str(exc).partition(f" {HELP}")[0]) from None
