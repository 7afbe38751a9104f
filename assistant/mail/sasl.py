"""SASL for OAuth2 bearer tokens (XOAUTH2, OAUTHBEARER of RFC 7628) and where the token
comes from: handed in with the URL (a stored grant) or printed by ``token_command``."""

from __future__ import annotations

import base64
import shlex
import subprocess

from ..core.errors import OAuthError
from .urls import MailURL


class TokenError(OAuthError, ValueError):
    """No access token could be had; the message names why, never the token."""


def token_from(url: MailURL) -> str:
    """The access token of ``url``: its password slot (filled from a stored grant), or the
    output of its ``token_command`` (run without a shell)."""
    if url.token_command is None:
        if not url.password:
            raise TokenError("no OAuth2 access token for this mailbox")
        return url.password
    try:
        done = subprocess.run(
            shlex.split(url.token_command), capture_output=True, text=True, timeout=30, check=True
        )
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        raise TokenError(f"token_command failed: {exc.__class__.__name__}") from None
    token = done.stdout.strip()
    if not token:
        raise TokenError("token_command printed no access token")
    return token


def initial_response(mechanism: str, user: str, token: str) -> str:
    """The base64 initial client response of ``mechanism`` (xoauth2 or oauthbearer)."""
    if mechanism == "oauthbearer":
        # RFC 7628 §3.1: a GS2 header naming the user (',' and '=' escaped), then auth.
        name = user.replace("=", "=3D").replace(",", "=2C")
        raw = f"n,a={name},\x01auth=Bearer {token}\x01\x01"
    else:
        raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")
