"""Render automatic mail from Jinja templates, sandboxed and strict; never send a broken one.

Each kind (``acknowledge``, the ladder's reminders and updates, digests, command answers)
has ``subject.j2``, ``text.j2`` and ``html.j2`` in the templates folder. Rendering runs in
Jinja's :class:`SandboxedEnvironment` with :class:`StrictUndefined`, HTML autoescaped. When a
template fails (syntax error, unknown variable, sandbox violation), the error is returned with
the built-in default rendered instead, so the caller records the problem and still sends a
correct mail.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from .core.text import decode_text

PARTS = ("subject", "text", "html")

#: Last-resort templates, used when the configured ones fail.
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
#: Kinds that share a built-in default.
BUILTIN_ALIASES = {
    "remind_owner": "notice",
    "escalate_backup": "notice",
    "escalate_lead": "notice",
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


def clean_header(value: str, limit: int = 250) -> str:
    """One line of safe header text: no CR/LF (header injection), no control characters."""
    text, _ = decode_text(" ".join(value.replace("\r", " ").replace("\n", " ").split()))
    return text[:limit]


class Renderer:
    """Renders a kind of mail from a templates folder, falling back to :data:`BUILTIN`."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loader = FileSystemLoader(str(templates_dir or default_templates_dir()))
        common: dict[str, Any] = {"undefined": StrictUndefined, "keep_trailing_newline": True}
        self._plain = SandboxedEnvironment(loader=loader, autoescape=False, **common)
        self._html = SandboxedEnvironment(loader=loader, autoescape=True, **common)
        self._builtin_plain = SandboxedEnvironment(autoescape=False, **common)
        self._builtin_html = SandboxedEnvironment(autoescape=True, **common)

    def _render_files(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        subject = self._plain.get_template(f"{kind}/subject.j2").render(context)
        text = self._plain.get_template(f"{kind}/text.j2").render(context)
        html = self._html.get_template(f"{kind}/html.j2").render(context)
        return subject, text, html

    def _render_builtin(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        source = BUILTIN[BUILTIN_ALIASES.get(kind, kind)]
        return (
            self._builtin_plain.from_string(source["subject"]).render(context),
            self._builtin_plain.from_string(source["text"]).render(context),
            self._builtin_html.from_string(source["html"]).render(context),
        )

    def _render_sources(
        self, sources: tuple[str, str, str], context: dict[str, Any]
    ) -> tuple[str, str, str]:
        subject, text, html = sources
        return (
            self._plain.from_string(subject).render(context),
            self._plain.from_string(text).render(context),
            self._html.from_string(html).render(context),
        )

    def check(self, sources: tuple[str, str, str], context: dict[str, Any]) -> list[str]:
        """What is wrong with edited templates (syntax, unknown variables, sandbox), each
        message naming the part; empty when they render against ``context``."""
        problems = []
        for part, source, env in zip(
            PARTS, sources, (self._plain, self._plain, self._html), strict=True
        ):
            try:
                env.from_string(source).render(context)
            except TemplateSyntaxError as exc:
                problems.append(f"{part}: line {exc.lineno}: {exc.message}")
            except (TemplateError, ValueError, TypeError, AttributeError) as exc:
                problems.append(f"{part}: {exc.__class__.__name__}: {exc}")
        if not problems and not clean_header(self._plain.from_string(sources[0]).render(context)):
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
        except (TemplateError, OSError, ValueError, TypeError, AttributeError) as exc:
            error = (
                f"{kind} template failed, built-in default used: {exc.__class__.__name__}: {exc}"
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
