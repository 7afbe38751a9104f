"""The text a person wrote in a message body: the plain part, else the HTML part without its
tags. Pure and tolerant: a sender controls the MIME tree, so what cannot be read is empty."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage


def body_text(raw: bytes) -> str:
    """The plain text a person wrote (the text part, else the HTML part without tags); empty
    when the body cannot be read (broken or absurdly deep MIME, unknown charsets)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        content = part.get_content()
    except (LookupError, ValueError, RecursionError, AssertionError, AttributeError):
        # A sender controls the MIME tree: a body we cannot read is no command.
        return ""
    text = str(content)
    if part.get_content_subtype() == "html":
        text = re.sub(r"<(br|/p|/div)[^>]*>", "\n", text, flags=re.IGNORECASE)
        text = re.sub(r"<[^>]+>", "", text)
    return text
