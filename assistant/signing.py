"""Signed addresses and links: reply commands and one-click digest unsubscribe.

A reminder or digest goes out with ``Reply-To: support+fu.<id>.<sig>@example.com``: the plus
address still reaches the shared mailbox (every major server delivers ``local+tag``), and the
tag names the outbox row the reply answers and carries an HMAC of it and its recipient, so a
command cannot be forged by someone who never received that mail. The unsubscribe link of a
digest (RFC 8058) carries the person's address and an HMAC of it. Signatures are 80 bits of
HMAC-SHA256, lower-case base32 (mail servers may fold the case of a local part).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .core.command_rules import read_command_address
from .secrets import signing_key

__all__ = [
    "command_address",
    "command_signature_ok",
    "read_command_address",
    "read_unsubscribe_token",
    "unsubscribe_token",
]


def _sign(purpose: str, text: str) -> str:
    digest = hmac.new(signing_key(purpose), text.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def command_address(mailbox_address: str, row_id: int, recipient: str) -> str:
    """The Reply-To of an automatic mail to a team member (outbox row ``row_id``)."""
    local, _, domain = mailbox_address.partition("@")
    return f"{local}+fu.{row_id}.{_sign('command', f'{row_id}:{recipient.lower()}')}@{domain}"


def command_signature_ok(row_id: int, recipient: str, signature: str) -> bool:
    """True when ``signature`` is the one made for that row and recipient."""
    expected = _sign("command", f"{row_id}:{recipient.lower()}")
    return hmac.compare_digest(expected.encode(), signature.lower().encode())


def unsubscribe_token(email: str) -> str:
    """``email.signature`` for a digest's one-click unsubscribe link."""
    address = email.lower()
    encoded = base64.urlsafe_b64encode(address.encode()).decode().rstrip("=")
    return f"{encoded}.{_sign('unsubscribe', address)}"


def read_unsubscribe_token(token: str) -> str | None:
    """The address a valid token was made for, else None."""
    encoded, _, signature = token.partition(".")
    try:
        address = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = _sign("unsubscribe", address)
    return address if hmac.compare_digest(expected.encode(), signature.lower().encode()) else None
