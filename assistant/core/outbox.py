"""Deterministic identities for automatic mail: idempotency keys and Message-IDs.

The same (mailbox, thread, step, episode) always yields the same key, and the same key always
yields the same Message-ID, so a retried send can be recognised in the Sent folder.
"""

from __future__ import annotations

import base64
import hashlib

#: Message-IDs Followup generates start with this, so its own mail is recognised on sync.
MESSAGE_ID_PREFIX = "followup."


def idempotency_key(mailbox: str, thread_id: str, step: str, episode: str = "") -> str:
    """``mailbox:step:digest`` where the digest covers every part (stable across runs)."""
    digest = hashlib.sha256("\0".join((mailbox, thread_id, step, episode)).encode()).digest()
    short = base64.b32encode(digest[:15]).decode().lower()
    return f"{mailbox}:{step}:{short}"


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID (without angle brackets) of the mail sent for ``key``."""
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()[:15]).decode().lower()
    return f"{MESSAGE_ID_PREFIX}{digest}@{domain}"


def is_own_message_id(message_id: str) -> bool:
    """True for Message-IDs made by :func:`message_id_for`."""
    return message_id.startswith(MESSAGE_ID_PREFIX)
