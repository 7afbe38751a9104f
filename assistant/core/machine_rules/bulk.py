"""Lists and bulk mail: list headers, List-Unsubscribe, Precedence, ESP sending markers.

Every rule here reads a header the *sending* side adds. Email providers also add headers on
the *receiving* side when they route a customer's inbound mail (Mailgun routes and its spam
filter add X-Mailgun-Incoming, X-Mailgun-Sflag, X-Mailgun-Sscore, X-Mailgun-Spf and
X-Mailgun-Dkim-Check-Result; SES receipt rules X-SES-Spam-Verdict, X-SES-Receipt). A person's
message forwarded by such a route is still a person's message, so those never count.
"""

from __future__ import annotations

import re

from ..model import Message
from ..signals import ESP_HEADERS, ESP_PREFIXES, LIST_HEADERS
from .base import BULK, LIST, Rule

_ESP_FEEDBACK_RE = re.compile(
    r"amazonses|sendgrid|mailchimp|mandrill|mcsv|sparkpost|mailgun|postmark|hubspot|"
    r"sendinblue|brevo|klaviyo|braze|mailjet|constantcontact|exacttarget|salesforce|marketo|"
    r"campaign|newsletter|iterable|customer\.?io",
    re.IGNORECASE,
)
#: Receiving-side header names of ESPs' inbound routing (see the module docstring).
INBOUND_ROUTING_HEADERS = frozenset(
    {
        "x-mailgun-incoming",
        "x-mailgun-sflag",
        "x-mailgun-sscore",
        "x-mailgun-spf",
        "x-mailgun-dkim-check-result",
        "x-mailgun-route",
    }
)
#: Words that name receiving-side processing in an ESP header name.
_INBOUND_WORDS = re.compile(
    r"incoming|inbound|sflag|sscore|spam|spf|dkim-check|virus|verdict|receipt|route|forward"
)


def is_sending_side(name: str) -> bool:
    """True for an ESP header the sender's platform adds, False for inbound routing."""
    return name not in INBOUND_ROUTING_HEADERS and _INBOUND_WORDS.search(name) is None


def _list_header(msg: Message) -> str | None:
    for name in LIST_HEADERS:
        if name in msg.headers:
            return f"{name}: {msg.headers.get(name, '')[:60]}"
    return None


def _list_unsubscribe(msg: Message) -> str | None:
    value = msg.headers.get("list-unsubscribe", "")
    return f"List-Unsubscribe: {value[:60]}" if value else None


def _precedence(msg: Message) -> str | None:
    value = (
        (msg.headers.get("precedence", "") or msg.headers.get("x-precedence", "")).strip().lower()
    )
    if value in ("bulk", "list", "junk", "auto_reply", "auto-reply"):
        return f"Precedence: {value}"
    return None


def _esp_feedback_id(msg: Message) -> str | None:
    value = msg.headers.get("feedback-id", "")
    return f"Feedback-ID: {value[:60]}" if value and _ESP_FEEDBACK_RE.search(value) else None


def _esp_marker(msg: Message) -> str | None:
    for name in msg.headers:
        esp = name in ESP_HEADERS or name.startswith(ESP_PREFIXES)
        if esp and is_sending_side(name):
            return f"{name}: {msg.headers.get(name, '')[:40]}"
    return None


LIST_HEADER = Rule(
    "list-header", LIST, "RFC 2369/2919 list header (List-Id, List-Post, ...)", _list_header
)
LIST_UNSUBSCRIBE = Rule(
    "list-unsubscribe", BULK, "List-Unsubscribe: bulk or newsletter", _list_unsubscribe
)
PRECEDENCE = Rule("precedence", BULK, "Precedence: bulk / list / junk", _precedence)
ESP_FEEDBACK_ID = Rule(
    "esp-feedback-id", BULK, "Feedback-ID of a bulk email service", _esp_feedback_id
)
ESP_MARKER = Rule(
    "esp-marker",
    BULK,
    "header a bulk email service adds when sending (never its inbound routing headers)",
    _esp_marker,
)
