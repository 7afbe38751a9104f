"""Mail templates edited on the web page: versions in the store, checked before they are saved.

The newest version of a kind is the one in use (a mailbox's own version wins over the global
one); with none saved, the files in ``templates/`` are. Saving checks the three parts in the
same sandbox the sender uses, against a sample of every variable, and refuses a template
with a syntax error or an unknown variable, so a saved template never fails at send time.
Rolling back saves an old version again as the newest: history is never rewritten.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..core.errors import UsageError
from ..core.mail_kinds import TEMPLATED
from ..render import PARTS, file_sources, renderer_for
from ..store.models import Mailbox, TemplateVersion

#: The kinds an admin may edit: every kind of mail with a template, in the registry's order.
KINDS = TEMPLATED

#: A value for every variable a template may use, for checking and as the preview fallback.
SAMPLE: dict[str, Any] = {
    "client_name": "Anna Berg",
    "client_email": "anna@client.example",
    "thread_subject": "Invoice 4411 is wrong",
    "received_at": "Monday 23 November, 09:12 GMT",
    "promised_by": "Monday 23 November, 13:12 GMT",
    "owner_name": "Ann Lee",
    "owner_email": "ann@example.com",
    "owner_rule": "mailbox-default",
    "person_name": "Ann Lee",
    "waiting": "5h 30m",
    "thread_link": "http://127.0.0.1:8086/threads/support/a1",
    "team_name": "Acme Support",
    "mailbox_address": "support@example.com",
    "signature": "Acme Support",
    "date_label": "Tuesday 24 November 2026",
    "lines": [
        {
            "number": 1,
            "subject": "Invoice 4411 is wrong",
            "client": "anna@client.example",
            "mailbox": "support",
            "waiting": "5h 30m",
            "deadline": "Monday 23 November, 13:12 GMT",
            "overdue": "1h",
            "role": "owner",
            "link": "http://127.0.0.1:8086/threads/support/a1",
        }
    ],
    "overdue_count": 1,
    "team": None,
    "answer": "Done: the thread is marked handled.",
    "understood": True,
    "help": "Reply with one of these on the first line: done | snooze 2d | take",
    "original_subject": "Waiting 4h: Invoice 4411 is wrong",
}


#: The same variables at their edges: nothing known (no name, owner or lines, an empty
#: subject), and long Unicode. A template must render for every one of them.
EDGES: tuple[dict[str, Any], ...] = (
    SAMPLE
    | {
        "client_name": "",
        "thread_subject": "",
        "owner_name": "",
        "owner_email": "",
        "person_name": "",
        "signature": "",
        "lines": [],
        "overdue_count": 0,
        "understood": False,
    },
    SAMPLE
    | {
        "client_name": "Zoë Ōsaka-Ñúñez 李" * 8,
        "thread_subject": 'Ünïcode ✓ <b>&amp; "quotes"</b> ' * 30,
        "owner_name": "Åsa Øster",
    },
)


class TemplateCheckError(UsageError, ValueError):
    """A template that would not render; ``problems`` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


async def active(kind: str, mailbox: Mailbox | None) -> TemplateVersion | None:
    """The version in use for ``kind`` in ``mailbox`` (its own, else the global one)."""
    if mailbox is not None:
        own = await TemplateVersion.filter(kind=kind, mailbox=mailbox).order_by("-id").first()
        if own is not None:
            return own
    return await TemplateVersion.filter(kind=kind, mailbox=None).order_by("-id").first()


async def active_sources(kind: str, mailbox: Mailbox | None) -> tuple[str, str, str] | None:
    """``(subject, text, html)`` saved on the web page, or None (the files are used)."""
    version = await active(kind, mailbox)
    return (version.subject, version.text, version.html) if version else None


async def current_sources(kind: str, mailbox: Mailbox | None) -> tuple[str, str, str]:
    """What the editor shows: the version in use, else the default files."""
    return await active_sources(kind, mailbox) or file_sources(kind)


def check(sources: tuple[str, str, str], contexts: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Problems of edited templates rendered in the sender's sandbox against each of
    ``contexts`` (real threads), the sample and the edge values (empty: fine)."""
    renderer = renderer_for(None)
    problems: dict[str, None] = {}
    for context in (*contexts, SAMPLE, *EDGES):
        problems |= dict.fromkeys(renderer.check(sources, context))
    return list(problems)


async def save(
    kind: str,
    sources: tuple[str, str, str],
    author: str,
    at: datetime,
    mailbox: Mailbox | None = None,
    note: str = "",
    contexts: Sequence[dict[str, Any]] = (),
) -> TemplateVersion:
    """Check, then store as the newest version; raise :class:`TemplateCheckError`."""
    if kind not in KINDS:
        raise TemplateCheckError([f"unknown kind {kind!r}"])
    problems = await asyncio.to_thread(check, sources, contexts)  # bounded, off the loop
    if problems:
        raise TemplateCheckError(problems)
    subject, text, html = sources
    return await TemplateVersion.create(
        kind=kind,
        mailbox=mailbox,
        subject=subject,
        text=text,
        html=html,
        author=author,
        note=note,
        created_at=at,
    )


async def rollback(
    version_id: str | int, author: str, kind: str, mailbox: Mailbox | None, at: datetime
) -> TemplateVersion | None:
    """Save an old version of ``kind`` (for ``mailbox``) again as the newest; None when
    there is no such version there."""
    try:
        wanted = int(version_id)
    except ValueError:
        return None
    old = await TemplateVersion.get_or_none(id=wanted, kind=kind, mailbox=mailbox)
    if old is None:
        return None
    return await TemplateVersion.create(
        kind=old.kind,
        mailbox_id=old.mailbox_id,  # type: ignore[attr-defined]
        subject=old.subject,
        text=old.text,
        html=old.html,
        author=author,
        note=f"rollback to version {old.id}",
        created_at=at,
    )


def diff(before: tuple[str, str, str], after: tuple[str, str, str]) -> str:
    """A unified diff of the three parts."""
    out: list[str] = []
    for part, a, b in zip(PARTS, before, after, strict=True):
        out += difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            f"{part} (before)",
            f"{part} (after)",
        )
    return "".join(out)
