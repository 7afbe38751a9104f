"""Render automatic mail from Jinja templates, sandboxed and strict; never send a broken one.

Each kind with a template (:data:`assistant.core.mail_kinds.TEMPLATED`: ``acknowledge``, the
ladder's reminders and updates, digests, command answers) has ``subject.j2``, ``text.j2`` and
``html.j2`` in the templates folder. Rendering runs in Jinja's :class:`SandboxedEnvironment`
with :class:`StrictUndefined`, HTML autoescaped. When a
template fails (syntax error, unknown variable, sandbox violation), the error is returned with
the built-in default rendered instead, so the caller records the problem and still sends a
correct mail.
"""

from __future__ import annotations

import functools
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .core.mail_kinds import MAIL_KINDS
from .core.text import decode_text

PARTS = ("subject", "text", "html")

#: Last-resort templates, used when the configured ones fail; keyed by the registry's
#: ``KindSpec.builtin`` (a test checks every key is named there, and every name is a key).
BUILTIN: dict[str, dict[str, str]] = {
    "acknowledge": {
        "subject": "Re: {{ thread_subject }}",
        "text": (
            "Hello {{ client_name or 'there' }},\n\nThank you for your message about "
            '"{{ thread_subject }}". It has reached {{ team_name }} and we will get back to you '
            "by {{ promised_by }}.\n\n{{ signature }}\n"
        ),
        "html": (
            "<p>Hello {{ client_name or 'there' }},</p><p>Thank you for your message about "
            "&ldquo;{{ thread_subject }}&rdquo;. It has reached {{ team_name }} and we will get "
            "back to you by <strong>{{ promised_by }}</strong>.</p><p>{{ signature }}</p>"
        ),
    },
    "client_update": {
        "subject": "Re: {{ thread_subject }}",
        "text": (
            "Hello {{ client_name or 'there' }},\n\nWe are still on your message about "
            '"{{ thread_subject }}": {{ owner_name or "one of us" }} is looking into it.\n\n'
            "{{ signature }}\n"
        ),
        "html": (
            "<p>Hello {{ client_name or 'there' }},</p><p>We are still on your message about "
            "&ldquo;{{ thread_subject }}&rdquo;: {{ owner_name or 'one of us' }} is looking "
            "into it.</p><p>{{ signature }}</p>"
        ),
    },
    "notice": {
        "subject": "Waiting {{ waiting }}: {{ thread_subject }}",
        "text": (
            "{{ client_email }} has waited {{ waiting }} (business time) about "
            '"{{ thread_subject }}". Owner: {{ owner_name or "nobody" }}.\n{{ thread_link }}\n\n'
            "Reply with: done | snooze 2d | snooze until monday | assign ADDRESS | take\n"
        ),
        "html": (
            "<p>{{ client_email }} has waited {{ waiting }} (business time) about "
            "&ldquo;{{ thread_subject }}&rdquo;. Owner: {{ owner_name or 'nobody' }}.</p>"
            '<p><a href="{{ thread_link }}">{{ thread_link }}</a></p><p>Reply with: done | '
            "snooze 2d | snooze until monday | assign ADDRESS | take</p>"
        ),
    },
    "digest": {
        "subject": "{{ lines | length }} waiting on you · {{ date_label }}",
        "text": (
            "{% for l in lines %}#{{ l.number }} {{ l.subject }} ({{ l.client }}, waiting "
            "{{ l.waiting }}) {{ l.link }}\n{% else %}Nothing waits on you today.\n{% endfor %}"
        ),
        "html": (
            "<ul>{% for l in lines %}<li>#{{ l.number }} {{ l.subject }} ({{ l.client }}, "
            "waiting {{ l.waiting }})</li>{% else %}<li>Nothing waits on you today.</li>"
            "{% endfor %}</ul>"
        ),
    },
    "command_reply": {
        "subject": "Re: {{ original_subject }}",
        "text": "{{ answer }}\n{% if not understood %}{{ help }}\n{% endif %}",
        "html": "<p>{{ answer }}</p>{% if not understood %}<p>{{ help }}</p>{% endif %}",
    },
}
#: Kinds whose built-in default has another name (shared by several kinds), from the registry.
BUILTIN_ALIASES: dict[str, str] = {
    kind.value: spec.builtin
    for kind, spec in MAIL_KINDS.items()
    if spec.builtin is not None and spec.builtin != kind
}


def default_templates_dir() -> Path:
    """The packaged templates (wheel) or the repository's ``templates/`` (editable install)."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parents[1] / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered mail; ``error`` says why the built-in default was used instead."""

    subject: str
    text: str
    html: str
    error: str | None = None


#: A render's budgets: a template that runs longer or writes more is a broken template.
RENDER_SECONDS = 2.0
MAX_OUTPUT = 500_000
#: Most items a ``range`` may give, and the largest sequence ``*`` may build.
MAX_ITEMS = 10_000


_DEADLINE: ContextVar[float] = ContextVar("render_deadline", default=0.0)


class BudgetExceeded(SecurityError):
    """A template ran past its time or size budget."""


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no ``list.extend`` on what it is given), strict about
    unknown variables, with ``*``/``**`` capped and ``range`` bounded by the render's
    deadline, so nested loops end instead of holding the process."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, keep_trailing_newline=True, **options)
        self.globals = {"range": self._range, "dict": dict}

    def _range(self, *args: int) -> Any:
        values = range(*args)
        if len(values) > MAX_ITEMS:
            raise BudgetExceeded(f"range of {len(values)} items (at most {MAX_ITEMS})")
        for n, value in enumerate(values):
            if n % 256 == 0 and time.monotonic() > _DEADLINE.get():
                raise BudgetExceeded(f"rendering took over {RENDER_SECONDS:g} s")
            yield value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise BudgetExceeded("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_OUTPUT:
                    raise BudgetExceeded("repetition too large")
        return super().call_binop(context, operator, left, right)


def bounded(template: Any, context: dict[str, Any]) -> str:
    """Render ``template`` within the time and size budgets (checked as output is made)."""
    deadline = time.monotonic() + RENDER_SECONDS
    _DEADLINE.set(deadline)  # per thread and task: renders never share one
    out: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise BudgetExceeded(f"output over {MAX_OUTPUT:,} characters")
        if time.monotonic() > deadline:
            raise BudgetExceeded(f"rendering took over {RENDER_SECONDS:g} s")
        out.append(chunk)
    return "".join(out)


def clean_header(value: str, limit: int = 250) -> str:
    """One line of safe header text: no CR/LF (header injection), no control characters."""
    text, _ = decode_text(" ".join(value.replace("\r", " ").replace("\n", " ").split()))
    return text[:limit]


class Renderer:
    """Renders a kind of mail from a templates folder, falling back to :data:`BUILTIN`.

    Every render is bounded (:class:`BoundedEnvironment`): a template cannot mutate what it
    is given, run past :data:`RENDER_SECONDS` or write more than :data:`MAX_OUTPUT`
    characters; one that tries fails like any broken template."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loader = FileSystemLoader(str(templates_dir or default_templates_dir()))
        self._plain = BoundedEnvironment(loader=loader, autoescape=False)
        self._html = BoundedEnvironment(loader=loader, autoescape=True)
        self._builtin_plain = BoundedEnvironment(autoescape=False)
        self._builtin_html = BoundedEnvironment(autoescape=True)

    def _render_files(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        return (
            bounded(self._plain.get_template(f"{kind}/subject.j2"), context),
            bounded(self._plain.get_template(f"{kind}/text.j2"), context),
            bounded(self._html.get_template(f"{kind}/html.j2"), context),
        )

    def _render_builtin(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        source = BUILTIN[BUILTIN_ALIASES.get(kind, kind)]
        return (
            bounded(self._builtin_plain.from_string(source["subject"]), context),
            bounded(self._builtin_plain.from_string(source["text"]), context),
            bounded(self._builtin_html.from_string(source["html"]), context),
        )

    def _render_sources(
        self, sources: tuple[str, str, str], context: dict[str, Any]
    ) -> tuple[str, str, str]:
        subject, text, html = sources
        return (
            bounded(self._plain.from_string(subject), context),
            bounded(self._plain.from_string(text), context),
            bounded(self._html.from_string(html), context),
        )

    def check(self, sources: tuple[str, str, str], context: dict[str, Any]) -> list[str]:
        """What is wrong with edited templates (syntax, unknown variables, sandbox), each
        message naming the part; empty when they render against ``context``."""
        problems = []
        for part, source, env in zip(
            PARTS, sources, (self._plain, self._plain, self._html), strict=True
        ):
            try:
                bounded(env.from_string(source), context)
            except TemplateSyntaxError as exc:
                problems.append(f"{part}: line {exc.lineno}: {exc.message}")
            except Exception as exc:  # whatever a template can raise is a problem to show
                problems.append(f"{part}: {exc.__class__.__name__}: {str(exc)[:300]}")
        if not problems and not clean_header(bounded(self._plain.from_string(sources[0]), context)):
            problems.append("subject: renders empty")
        return problems

    def render(
        self, kind: str, context: dict[str, Any], sources: tuple[str, str, str] | None = None
    ) -> Rendered:
        """Render ``kind`` (from ``sources`` when an admin saved some, else the files); on any
        template failure, the built-in default and the error."""
        error = None
        try:
            if sources is not None:
                subject, text, html = self._render_sources(sources, context)
            else:
                subject, text, html = self._render_files(kind, context)
        except Exception as exc:  # any failure of this row's template: the built-in, this row
            error = (
                f"{kind} template failed, built-in default used: {exc.__class__.__name__}: "
                f"{str(exc)[:300]}"
            )
            subject, text, html = self._render_builtin(kind, context)
        if not clean_header(subject):
            error = error or f"{kind} template rendered an empty subject; built-in default used"
            subject = self._render_builtin(kind, context)[0]
        return Rendered(clean_header(subject), text, html, error)


@functools.lru_cache(maxsize=16)
def file_sources(kind: str, templates_dir: Path | None = None) -> tuple[str, str, str]:
    """The default templates of ``kind`` as text (what the editor starts from)."""
    folder = (templates_dir or default_templates_dir()) / kind
    parts = []
    for part in PARTS:
        path = folder / f"{part}.j2"
        parts.append(path.read_text(encoding="utf-8") if path.exists() else "")
    return parts[0], parts[1], parts[2]


def renderer_for(templates_dir: Path | None) -> Renderer:
    """One :class:`Renderer` per templates folder, kept: Jinja compiles each template once
    per environment (and reloads it when the file changes), so a fresh environment per
    delivery pass re-compiled every template every time."""
    return Renderer(templates_dir)


def format_when(when: datetime, zone: ZoneInfo, locale: str) -> str:
    """``Monday 23 November, 13:00 GMT`` in the mailbox's locale and zone."""
    local = when.astimezone(zone)
    try:
        loc = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        loc = Locale.parse("en_GB")
    day = format_skeleton("MMMMEEEEd", local, locale=loc)
    hour = format_time(local, "short", tzinfo=zone, locale=loc)
    return f"{day}, {hour} {local.strftime('%Z')}".strip()
