"""The web page's template editor: one kind of mail, for every mailbox or for one mailbox's
own version; what its buttons do (check and save, roll back, send a test), the preview with
a real waiting thread's values, and the history of versions with their diffs.

Saving and rolling back are :mod:`.templates`' (checked in the sender's sandbox, history never
rewritten); a save is also checked against the newest few waiting threads, so a template
that fails on real values is refused before it reaches a client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.queryset import QuerySet

from ..core.errors import UsageError
from ..core.mail_kinds import spec
from ..core.ownership import Person
from ..core.state import State
from ..render import Rendered, renderer_for
from ..runtime import Runtime
from ..store.models import Mailbox, TemplateVersion, ThreadRecord
from .people import everyone
from .templates import KINDS, SAMPLE, TemplateCheckError, current_sources, diff, rollback, save
from .test_send import send_test

Sources = tuple[str, str, str]  # (subject, text, html)
#: Waiting threads offered for the preview, and versions shown in the history.
LISTED = 20
#: The newest waiting threads a save is checked against (besides the sample and the edges).
CHECKED = 3


class UnknownTemplate(UsageError, LookupError):
    """No such template kind, or no such mailbox to edit it for."""


@dataclass
class Edit:
    """What the editor holds after a button: its sources, why a save was refused, a note."""

    sources: Sources
    problems: list[str] = field(default_factory=list)
    message: str | None = None


@dataclass(frozen=True, slots=True)
class EditorView:
    """Everything the editor page shows."""

    kind: str
    scope: Mailbox | None
    sources: Sources
    problems: list[str]
    message: str | None
    preview: Rendered | None
    #: Newest first: each version with the diff from the one before it.
    diffs: list[tuple[TemplateVersion, str]]
    #: Waiting threads to preview with.
    threads: list[ThreadRecord]
    boxes: list[Mailbox]


@dataclass(frozen=True, slots=True)
class KindEntry:
    """One line of the template list: a kind, what it is for, and who receives it."""

    kind: str
    description: str
    audience: str
    #: How many versions were saved for every mailbox (0: the default file is in use).
    versions: int


async def kind_list() -> list[KindEntry]:
    """Every kind with a template, in the registry's order, with its saved versions."""
    entries = []
    for kind in KINDS:
        about = spec(kind)
        versions = await TemplateVersion.filter(kind=kind, mailbox=None).count()
        entries.append(KindEntry(kind, about.description, str(about.audience), versions))
    return entries


async def open_editor(runtime: Runtime, kind: str, mailbox: str | None) -> Editor:
    """The editor of ``kind`` (for ``mailbox``'s own version when named); raise
    :class:`UnknownTemplate`."""
    if kind not in KINDS:
        raise UnknownTemplate(f"No template kind {kind!r}.")
    if not mailbox:
        return Editor(runtime, kind, None)
    box = await Mailbox.get_or_none(name=mailbox)
    if box is None:
        raise UnknownTemplate(f"No mailbox named {mailbox!r}.")
    return Editor(runtime, kind, box)


class Editor:
    """One template being edited: ``kind`` for ``scope`` (None: every mailbox)."""

    def __init__(self, runtime: Runtime, kind: str, scope: Mailbox | None) -> None:
        self.runtime, self.kind, self.scope = runtime, kind, scope
        self._contexts: dict[str | None, dict[str, Any]] = {}

    # --- the buttons ---

    async def current(self) -> Edit:
        """The version in use (else the default file), untouched."""
        return Edit(await current_sources(self.kind, self.scope))

    async def save(self, sources: Sources, author: str) -> Edit:
        """Check ``sources`` and save them as the version in use, or say why not."""
        now = self.runtime.clock.now()
        try:
            contexts = await self._real_contexts()
            version = await save(self.kind, sources, author, now, self.scope, contexts=contexts)
        except TemplateCheckError as exc:
            return Edit(sources, exc.problems)
        where = f" in {self.scope.name}" if self.scope else ""
        return Edit(
            sources,
            message=f"Saved as version {version.id}: the next {self.kind} mail{where} uses it.",
        )

    async def rollback(self, version_id: str, author: str) -> Edit:
        """Save version ``version_id`` again as the newest."""
        now = self.runtime.clock.now()
        version = await rollback(version_id, author, self.kind, self.scope, now)
        if version is None:
            problem = "That version does not exist for this template."
            return Edit(await current_sources(self.kind, self.scope), [problem])
        sources = (version.subject, version.text, version.html)
        return Edit(sources, message=f"Rolled back: version {version.id} is now in use.")

    async def send_test(self, to: str, thread: str | None) -> Edit:
        """Send the version in use, rendered for the preview thread, to ``to``."""
        edit = await self.current()
        context = await self.context(thread)
        edit.message = await send_test(self.runtime, self.kind, edit.sources, context, to)
        return edit

    # --- what the page shows ---

    async def view(self, edit: Edit, thread: str | None) -> EditorView:
        """The page after ``edit``, previewed with ``thread`` (else the newest waiting one)."""
        preview = None
        if not edit.problems:  # bounded, and off the event loop: other requests go on
            context = await self.context(thread)
            render = renderer_for(None).render
            preview = await asyncio.to_thread(render, self.kind, context, edit.sources)
        return EditorView(
            self.kind,
            self.scope,
            edit.sources,
            edit.problems,
            edit.message,
            preview,
            await self._history(),
            await self._waiting().order_by("-id").limit(LISTED),
            await Mailbox.all().order_by("name"),
        )

    async def preview(
        self, sources: Sources, thread: str | None
    ) -> tuple[Rendered | None, list[str]]:
        """The live preview of what is in the editor now: ``(rendered, [])`` or
        ``(None, problems)``."""
        renderer = renderer_for(None)
        context = await self.context(thread)
        problems = await asyncio.to_thread(renderer.check, sources, context)
        if problems:
            return None, problems
        return await asyncio.to_thread(renderer.render, self.kind, context, sources), []

    async def context(self, thread: str | None) -> dict[str, Any]:
        """SAMPLE with the values of a real waiting thread: ``thread`` when given, else the
        newest of the scope (SAMPLE alone when none waits)."""
        if thread not in self._contexts:
            query = self._waiting().filter(thread_id=thread) if thread else self._waiting()
            record = await query.order_by("-id").prefetch_related("mailbox").first()
            people = await everyone(self.runtime.config) if record else {}
            self._contexts[thread] = _context(record, people)
        return self._contexts[thread]

    async def _real_contexts(self) -> list[dict[str, Any]]:
        """The preview values of the newest few waiting threads."""
        records = await self._waiting().order_by("-id").limit(CHECKED).prefetch_related("mailbox")
        people = await everyone(self.runtime.config) if records else {}
        return [_context(record, people) for record in records]

    async def _history(self) -> list[tuple[TemplateVersion, str]]:
        versions = (
            await TemplateVersion.filter(kind=self.kind, mailbox=self.scope)
            .order_by("-id")
            .limit(LISTED)
        )
        out = []
        for newer, older in zip(versions, [*versions[1:], None], strict=False):
            before = (older.subject, older.text, older.html) if older else ("", "", "")
            out.append((newer, diff(before, (newer.subject, newer.text, newer.html))))
        return out

    def _waiting(self) -> QuerySet[ThreadRecord]:
        """The threads awaiting the team (in the scope's mailbox, when there is one)."""
        query = ThreadRecord.filter(state=str(State.AWAITING_TEAM))
        return query.filter(mailbox=self.scope) if self.scope is not None else query


def _context(record: ThreadRecord | None, people: Mapping[str, Person]) -> dict[str, Any]:
    """SAMPLE, with ``record``'s values when there is one."""
    context = dict(SAMPLE)
    if record is not None:
        owner = people.get(record.owner or "")
        context.update(
            client_email=record.client or "",
            client_name="",
            thread_subject=record.subject,
            owner_name=owner.label if owner else (record.owner or ""),
            owner_email=record.owner or "",
            mailbox_address=record.mailbox.address,
        )
    return context
