"""A thread's timeline: its messages, the automatic mails, owner and state changes, commands.

Each entry names the rule that made it (the machine rule of a message, the ladder step of a
mail, the ownership rule of an owner change, the command of a reply), so "why did this
happen" is always answered. Used by ``followup thread show`` and the web page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.errors import UsageError
from ..store.models import Folder, Mailbox, OutboxItem, StoredMessage, ThreadEvent, ThreadRecord


class TimelineError(UsageError, LookupError):
    """No such thread (or the id matches threads in several mailboxes)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a timeline."""

    at: datetime
    kind: str
    rule: str
    who: str
    text: str
    #: The rendered text of an automatic mail (empty for other entries).
    body: str = ""


@dataclass(frozen=True, slots=True)
class Timeline:
    """A thread's record and its entries, oldest first."""

    mailbox: str
    record: ThreadRecord
    entries: list[Entry]


async def find_thread(thread_id: str, mailbox: str | None = None) -> tuple[Mailbox, ThreadRecord]:
    """The thread with this id (in ``mailbox`` when given); a prefix of the id works too."""
    query = ThreadRecord.filter(thread_id__startswith=thread_id)
    if mailbox:
        box = await Mailbox.get_or_none(name=mailbox)
        if box is None:
            raise TimelineError(f"no mailbox named {mailbox!r}")
        query = query.filter(mailbox=box)
    found = await query.prefetch_related("mailbox").limit(5)
    exact = [r for r in found if r.thread_id == thread_id]
    found = exact or found
    if not found:
        raise TimelineError(
            f"no thread {thread_id!r} (ids are shown by `followup replay` and digests)"
        )
    if len(found) > 1:
        names = ", ".join(f"{r.mailbox.name}:{r.thread_id}" for r in found)
        raise TimelineError(
            f"{thread_id!r} matches several threads: {names}; give more of the id or --mailbox"
        )
    return found[0].mailbox, found[0]


async def timeline(thread_id: str, mailbox: str | None = None) -> Timeline:
    """Everything that happened in one thread, oldest first."""
    box, record = await find_thread(thread_id, mailbox)
    folders = {f.id: f.name for f in await Folder.filter(mailbox=box)}
    entries: list[Entry] = []
    for m in await StoredMessage.filter(mailbox=box, thread_id=record.thread_id):
        entries.append(
            Entry(
                m.date,
                "message",
                m.machine_rule or "",
                m.sender or "(no sender)",
                f"[{folders.get(m.folder_id, '?')}] {m.subject or '(no subject)'}",
            )
        )
    for o in await OutboxItem.filter(mailbox=box, thread_id=record.thread_id):
        when = o.sent_at or o.due_at
        status = o.status + (f" ({o.skip_rule})" if o.skip_rule else "")
        summary = f"{status}: {o.subject}".rstrip(": ")
        entries.append(Entry(when, f"mail:{o.kind}", o.rule, o.recipient, summary, o.text))
    for e in await ThreadEvent.filter(mailbox=box, thread_id=record.thread_id):
        entries.append(Entry(e.at, e.kind, e.rule, e.actor, e.detail))
    entries.sort(key=lambda e: (e.at, e.kind != "message"))
    return Timeline(box.name, record, entries)
