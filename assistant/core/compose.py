"""Build an automatic reply as a proper MIME message: threaded, marked, never a loop.

The reply carries ``In-Reply-To`` and ``References`` of the client's message, ``Subject: Re:``
once, ``Auto-Submitted: auto-replied`` (RFC 3834) and ``X-Auto-Response-Suppress: All`` so
other robots stay quiet, the mailbox's own From and a Reply-To to the shared address, a
deterministic Message-ID, and ``X-Followup-*`` markers so Followup knows its own mail when it
syncs it back. ``Precedence`` is deliberately not set: ``bulk`` would get it filtered as spam.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from .model import Address, Message

MAX_REFERENCES = 20
CONVERSATION_SUFFIX = "@thread-index.invalid"
#: Headers folded only past RFC 5322's 998-character limit (for unfoldable URLs).
LONG_HEADERS = SMTP.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything about one automatic mail except its rendered text."""

    sender: Address
    reply_to: str
    recipient: Address
    message_id: str
    key: str
    kind: str
    date: datetime
    in_reply_to: Message | None = None


def _one_line(value: str) -> str:
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _references(original: Message) -> list[str]:
    # An Outlook conversation id (see headers.outlook_conversation) is ours, not a message.
    chain = [r for r in original.references if not r.endswith(CONVERSATION_SUFFIX)]
    if not original.synthetic_id:
        chain.append(original.message_id)
    chain = list(dict.fromkeys(chain))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def reply_subject(subject: str) -> str:
    """``Re: subject`` with exactly one ``Re:``."""
    text = _one_line(subject)
    return text if text[:3].lower() == "re:" else f"Re: {text}"


def compose(out: Outgoing, subject: str, text: str, html: str) -> EmailMessage:
    """The MIME message (multipart/alternative: plain text and HTML)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((_one_line(out.sender.name), out.sender.email))
    msg["To"] = formataddr((_one_line(out.recipient.name), out.recipient.email))
    msg["Reply-To"] = out.reply_to
    msg["Subject"] = reply_subject(subject)
    msg["Date"] = format_datetime(out.date)
    msg["Message-ID"] = f"<{out.message_id}>"
    original = out.in_reply_to
    if original is not None:
        if not original.synthetic_id:
            msg["In-Reply-To"] = f"<{original.message_id}>"
        refs = _references(original)
        if refs:
            msg["References"] = " ".join(f"<{r}>" for r in refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Followup-Key"] = out.key
    msg["X-Followup-Action"] = out.kind
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


@dataclass(frozen=True, slots=True)
class Notice:
    """An automatic mail to a team member (reminder, escalation, digest, command answer)."""

    sender: Address
    recipient: Address
    reply_to: str
    message_id: str
    key: str
    kind: str
    date: datetime
    in_reply_to: str | None = None
    unsubscribe_url: str | None = None


def compose_notice(note: Notice, subject: str, text: str, html: str) -> EmailMessage:
    """The MIME message of a notice: not a reply to the client, never threaded with the
    client's conversation; ``Auto-Submitted: auto-generated`` (RFC 3834); for digests a
    one-click ``List-Unsubscribe`` (RFC 8058)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((_one_line(note.sender.name), note.sender.email))
    msg["To"] = formataddr((_one_line(note.recipient.name), note.recipient.email))
    msg["Reply-To"] = note.reply_to
    msg["Subject"] = _one_line(subject)
    msg["Date"] = format_datetime(note.date)
    msg["Message-ID"] = f"<{note.message_id}>"
    if note.in_reply_to:
        msg["In-Reply-To"] = f"<{note.in_reply_to}>"
        msg["References"] = f"<{note.in_reply_to}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Followup-Key"] = note.key
    msg["X-Followup-Action"] = note.kind
    if note.unsubscribe_url:
        # RFC 8058: providers read the URL as plain ASCII. Folded at 78 it would become an
        # RFC 2047 encoded-word (a URL has no space to fold at), so this message's headers
        # may run to RFC 5322's hard limit of 998.
        msg.policy = LONG_HEADERS
        msg["List-Unsubscribe"] = f"<{_one_line(note.unsubscribe_url)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
