"""Credentials at rest: Fernet encryption with a key from the environment.

``FOLLOWUP_SECRET_KEY`` holds the key (``followup secret-key`` prints a new one), or
``FOLLOWUP_SECRET_KEY_FILE`` names a file holding it. Without either, anything that reads or
writes a credential stops with :class:`SecretKeyError`, whose message says what to do.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .core.errors import ConfigurationError


class SecretKeyError(ConfigurationError, RuntimeError):
    """The key is missing, malformed, or not the one the credentials were stored with."""


def new_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode()


def _key() -> bytes:
    key = os.environ.get("FOLLOWUP_SECRET_KEY", "").strip()
    path = os.environ.get("FOLLOWUP_SECRET_KEY_FILE", "").strip()
    if not key and path:
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise SecretKeyError(f"FOLLOWUP_SECRET_KEY_FILE={path}: {exc.strerror}") from None
    if not key:
        raise SecretKeyError(
            "FOLLOWUP_SECRET_KEY is not set: credentials are stored encrypted with it. "
            "Create one with `followup secret-key` and export it (keep it safe: without it "
            "the stored credentials cannot be read)."
        )
    return key.encode()


def signing_key(purpose: str) -> bytes:
    """A key for HMAC signatures, derived from the secret key and kept apart per purpose."""
    _fernet()  # a missing or malformed key fails here with the usual message
    return hmac.new(_key(), f"followup-sign:{purpose}".encode(), hashlib.sha256).digest()


def _fernet() -> Fernet:
    try:
        return Fernet(_key())
    except ValueError:
        raise SecretKeyError(
            "FOLLOWUP_SECRET_KEY is not a valid key (expected 32 url-safe base64 bytes, "
            "as printed by `followup secret-key`)"
        ) from None


def encrypt(plain: str) -> str:
    """Encrypt a credential for storage."""
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a stored credential."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "stored credentials cannot be decrypted with FOLLOWUP_SECRET_KEY (was the key changed?)"
        ) from None
