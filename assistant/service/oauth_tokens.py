"""Access tokens of OAuth2 mailboxes: read from the store, refreshed before expiry, one
refresh at a time across processes, and a refused grant turned into "needs re-authorisation".

The token requests themselves are Authlib's (:class:`AsyncOAuth2Client` over httpx). A
refresh takes a lease on the grant's row (a conditional UPDATE, so it works the same on
SQLite and PostgreSQL); a process that finds the lease taken waits for the holder's result
and shares it. When the provider answers ``invalid_grant`` (consent revoked, password
changed, refresh token expired) the grant is marked once, the log says it once, and every
later call fails fast from the store with :class:`NeedsReauth` until someone reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from datetime import datetime
from typing import Any

import httpx2
from authlib.integrations.base_client.errors import OAuthError as AuthlibError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from tortoise.expressions import Q

from ..clock import Clock
from ..core import oauth
from ..core.errors import OAuthError
from ..mail.imap import ConnectError
from ..secrets import decrypt, encrypt
from ..store.models import Mailbox, OAuthGrant

log = logging.getLogger("followup.oauth")
#: How long a token request may take before it counts as a transient failure.
REQUEST_TIMEOUT = 20.0
#: Each process names itself in the leases it takes.
_OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"


class NeedsReauth(ConnectError, OAuthError):
    """The provider refused the grant: a person has to connect the mailbox again."""

    def __init__(self, mailbox: str, reason: str) -> None:
        super().__init__(
            "reauth",
            f"mailbox {mailbox!r} needs re-authorisation ({reason}): reconnect it on the web "
            f"page or with `followup mailbox reconnect {mailbox}`",
        )


class TokenUnavailable(ConnectError, OAuthError):
    """The token endpoint could not be reached or failed; a later try may work."""

    def __init__(self, message: str) -> None:
        super().__init__("oauth", message)


def client_for(grant: OAuthGrant, **kwargs: Any) -> AsyncOAuth2Client:
    """An Authlib client for ``grant``'s provider (confidential when it has a secret)."""
    secret = decrypt(grant.client_secret) if grant.client_secret else None
    return AsyncOAuth2Client(
        client_id=grant.client_id,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_post" if secret else "none",
        scope=grant.scope,
        timeout=REQUEST_TIMEOUT,
        **kwargs,
    )


async def access_token(mailbox: Mailbox, clock: Clock, refused: str | None = None) -> str:
    """A valid access token for ``mailbox``; ``refused`` is a token the server just turned
    down (one forced refresh, unless another process already replaced it)."""
    grant = await _grant(mailbox)
    token = _usable(grant, clock.now(), refused)
    if token is not None:
        return token
    deadline = time.monotonic() + oauth.LEASE.total_seconds()
    while not await _take_lease(grant, clock.now(), steal=time.monotonic() > deadline):
        await asyncio.sleep(0.2)
        grant = await _grant(mailbox)
        token = _usable(grant, clock.now(), refused)
        if token is not None:
            return token  # the lease holder's result, shared
    try:
        return await _refresh(mailbox, grant, clock)
    finally:
        await OAuthGrant.filter(id=grant.id, lease_owner=_OWNER).update(
            lease_owner=None, lease_until=None
        )


async def _grant(mailbox: Mailbox) -> OAuthGrant:
    grant = await OAuthGrant.get_or_none(mailbox_id=mailbox.id)
    if grant is None:
        raise ConnectError("login", f"mailbox {mailbox.name!r} has no OAuth2 sign-in stored")
    if grant.needs_reauth_since is not None:
        raise NeedsReauth(mailbox.name, grant.needs_reauth_reason or "sign-in refused")
    return grant


def _usable(grant: OAuthGrant, now: datetime, refused: str | None) -> str | None:
    if grant.access_secret is None or oauth.needs_refresh(
        grant.access_expires_at, now, grant.updated_at
    ):
        return None
    token = decrypt(grant.access_secret)
    return None if token == refused else token


async def _take_lease(grant: OAuthGrant, now: datetime, steal: bool) -> bool:
    """One refresh at a time: a conditional UPDATE succeeds in exactly one process."""
    query = OAuthGrant.filter(id=grant.id)
    if not steal:  # a holder silent past the lease is presumed dead
        query = query.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    taken = await query.update(lease_owner=_OWNER, lease_until=now + oauth.LEASE)
    return bool(taken)


async def _refresh(mailbox: Mailbox, grant: OAuthGrant, clock: Clock) -> str:
    try:
        token = await _request(grant)
    except AuthlibError as exc:
        error = str(exc.error or "oauth_error")
        if oauth.needs_reauth(error):
            await mark_needs_reauth(mailbox, grant, f"{error}: {exc.description or ''}", clock)
            raise NeedsReauth(mailbox.name, error) from None
        raise TokenUnavailable(f"token endpoint refused: {error}") from None
    except (httpx2.HTTPError, ValueError, KeyError) as exc:
        raise TokenUnavailable(f"token endpoint: {exc.__class__.__name__}: {exc}") from None
    access = str(token.get("access_token") or "")
    if not access:
        raise TokenUnavailable("token endpoint answered without an access token")
    await store_token(grant, dict(token), clock.now())
    return access


async def _request(grant: OAuthGrant) -> dict[str, Any]:
    async with client_for(grant) as client:
        if grant.flow == "app":
            return dict(
                await client.fetch_token(grant.token_endpoint, grant_type="client_credentials")
            )
        if grant.refresh_secret is None:
            raise AuthlibError(error="invalid_grant", description="no refresh token stored")
        refresh = decrypt(grant.refresh_secret)
        return dict(await client.refresh_token(grant.token_endpoint, refresh_token=refresh))


async def store_token(grant: OAuthGrant, token: dict[str, Any], now: datetime) -> None:
    """Keep a token response: the access token and its expiry, a rotated refresh token."""
    grant.access_secret = encrypt(str(token["access_token"]))
    grant.access_expires_at = oauth.expiry(now, token.get("expires_in"))
    if token.get("refresh_token"):
        grant.refresh_secret = encrypt(str(token["refresh_token"]))
    grant.updated_at = now
    await grant.save(
        update_fields=["access_secret", "access_expires_at", "refresh_secret", "updated_at"]
    )


async def mark_needs_reauth(mailbox: Mailbox, grant: OAuthGrant, reason: str, clock: Clock) -> None:
    """Stop using the grant until someone reconnects; said once in the log."""
    now = clock.now()
    changed = await OAuthGrant.filter(id=grant.id, needs_reauth_since__isnull=True).update(
        needs_reauth_since=now, needs_reauth_reason=reason[:300], access_secret=None
    )
    if changed:  # exactly one process sees the change: one log line, one notice
        log.error(
            "mailbox needs re-authorisation",
            extra={"mailbox": mailbox.name, "reason": reason[:300]},
        )
        from .admin_notice import notify_reauth  # (it imports the delivery module)

        await notify_reauth(mailbox, reason[:300], now)


async def needing_reauth() -> dict[int, str]:
    """``{mailbox id: reason}`` of every mailbox whose sign-in was refused."""
    rows = await OAuthGrant.filter(needs_reauth_since__isnull=False).values_list(
        "mailbox_id", "needs_reauth_reason"
    )
    return {int(mailbox_id): str(reason or "") for mailbox_id, reason in rows}
