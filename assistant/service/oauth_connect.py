"""Signing a mailbox in with OAuth2: the provider from the settings (a preset, OIDC
discovery, or explicit endpoints), the grants (device, authorization code with PKCE, client
credentials), and the grant stored with the mailbox.

The token requests are Authlib's; the device grant's polling follows RFC 8628 §3.4-3.5
(``authorization_pending`` waits, ``slow_down`` adds 5 seconds, anything else ends it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
from authlib.integrations.base_client.errors import OAuthError

from ..clock import Clock
from ..core import oauth
from ..core.oauth import Endpoints, Provider
from ..mail.urls import LOOPBACK, MailURL, parse_url
from ..secrets import encrypt
from ..settings import FollowupConfig, OAuthClientConfig
from ..store.models import Mailbox, OAuthGrant
from .mailboxes import ConnectionCheck, MailboxError, check_connection
from .oauth_tokens import REQUEST_TIMEOUT, client_for, store_token

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclasses.dataclass(frozen=True, slots=True)
class Client:
    """A provider and the client registered with it."""

    name: str
    provider: Provider
    client_id: str
    client_secret: str | None


def _secure(url: str | None, what: str) -> str | None:
    """Provider endpoints over TLS only (plain HTTP to this machine, for local servers)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" or (
        parts.scheme == "http" and (host in LOOPBACK or host.startswith("127."))
    ):
        return url
    raise MailboxError(f"the {what} must be an https:// URL (got {url!r})")


async def discover(issuer: str) -> Endpoints:
    """Endpoints from the issuer's OIDC or RFC 8414 discovery document."""
    base = issuer.rstrip("/")
    tried = []
    async with httpx2.AsyncClient(timeout=10.0) as http:
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ):
            try:
                reply = await http.get(base + path)
                if reply.status_code == 200:
                    return oauth.endpoints_from_metadata(reply.json())
                tried.append(f"{path}: HTTP {reply.status_code}")
            except (httpx2.HTTPError, ValueError) as exc:
                tried.append(f"{path}: {exc.__class__.__name__}")
    raise MailboxError(f"no OAuth2 discovery document at {base} ({'; '.join(tried)})")


async def resolve(name: str, config: FollowupConfig) -> Client:
    """The provider called ``name`` with its client from ``[oauth.NAME]``."""
    cfg = config.oauth.get(name)
    if cfg is None:
        known = ", ".join(sorted(config.oauth)) or "none"
        raise MailboxError(
            f"no [oauth.{name}] section in the settings (configured: {known}); register an "
            "app with the provider and add its client_id there (see the README)"
        )
    preset = oauth.preset(cfg.preset or name, cfg.tenant)
    base = preset or Provider(name, Endpoints(token=""), scope="")
    found = await discover(cfg.issuer) if cfg.issuer else base.endpoints
    endpoints = _checked(_merge_endpoints(cfg, found))
    scope = _first(cfg.scope, base.scope)
    if not scope:
        raise MailboxError(f"[oauth.{name}] needs scope = ... (the provider's mail scopes)")
    provider = dataclasses.replace(
        base,
        name=name,
        endpoints=endpoints,
        scope=scope,
        app_scope=_first(cfg.app_scope, base.app_scope),
        sasl=_first(cfg.sasl, base.sasl) or "xoauth2",
        device_for_mail=base.device_for_mail and bool(endpoints.device),
        imap_url=_first(cfg.imap, base.imap_url),
        smtp_url=_first(cfg.smtp, base.smtp_url),
    )
    return Client(name, provider, cfg.client_id, cfg.secret(name))


def _first(*values: str | None) -> str | None:
    """The first value given (the settings file's, before a preset's)."""
    return next((v for v in values if v), None)


def _merge_endpoints(cfg: OAuthClientConfig, found: Endpoints) -> Endpoints:
    """The settings' explicit endpoints over the discovered (or preset) ones."""
    token = _first(cfg.token_endpoint, found.token)
    if not token:
        raise MailboxError("the OAuth2 provider needs issuer = ... or token_endpoint = ...")
    return Endpoints(
        token=token,
        authorization=_first(cfg.authorization_endpoint, found.authorization),
        device=_first(cfg.device_endpoint, found.device),
        revocation=_first(cfg.revocation_endpoint, found.revocation),
        issuer=_first(cfg.issuer, found.issuer),
    )


def _checked(endpoints: Endpoints) -> Endpoints:
    """Every endpoint over TLS (plain HTTP only to this machine)."""
    for what, url in (
        ("token endpoint", endpoints.token),
        ("authorization endpoint", endpoints.authorization),
        ("device endpoint", endpoints.device),
        ("revocation endpoint", endpoints.revocation),
    ):
        _secure(url, what)
    return endpoints


def mail_urls(client: Client, address: str) -> tuple[str, str | None]:
    """The mailbox's stored URLs: the provider's servers, the address as the user name, and
    ``auth=oauth`` (the token comes from the stored grant)."""
    if client.provider.imap_url is None:
        raise MailboxError(f"[oauth.{client.name}] needs imap = ... (the IMAP server URL)")

    def url(server: str) -> str:
        parts = urlsplit(server)
        return f"{parts.scheme}://{quote(address, safe='')}@{parts.netloc}?auth=oauth"

    smtp = client.provider.smtp_url
    return url(client.provider.imap_url), url(smtp) if smtp else None


def _grant_row(client: Client, flow: str) -> OAuthGrant:
    """An unsaved grant for ``client`` (its endpoints and scope, the secret encrypted). The
    device grant is a public client's: its secret is neither sent nor kept (Microsoft
    refuses a secret on a public client's token requests with ``invalid_client``)."""
    provider = client.provider
    secret = None if flow == "device" else client.client_secret
    return OAuthGrant(
        provider=client.name,
        sasl=provider.sasl,
        issuer=provider.endpoints.issuer,
        token_endpoint=provider.endpoints.token,
        authorization_endpoint=provider.endpoints.authorization,
        device_endpoint=provider.endpoints.device,
        revocation_endpoint=provider.endpoints.revocation,
        client_id=client.client_id,
        client_secret=encrypt(secret) if secret else None,
        flow="user" if flow == "device" else flow,
        scope=(provider.app_scope or provider.scope) if flow == "app" else provider.scope,
    )


async def grant_of(box: Mailbox) -> OAuthGrant:
    """The mailbox's stored OAuth2 grant; :class:`MailboxError` when it signs in otherwise."""
    grant = await OAuthGrant.get_or_none(mailbox_id=box.id)
    if grant is None:
        raise MailboxError(f"mailbox {box.name!r} does not sign in with OAuth2")
    return grant


async def save_grant(
    mailbox: Mailbox, client: Client, flow: str, token: dict[str, Any], clock: Clock
) -> OAuthGrant:
    """Store (or replace) the mailbox's grant with ``token`` (``flow``: user, device or
    app); a refused grant is cleared."""
    now = clock.now()
    await OAuthGrant.filter(mailbox_id=mailbox.id).delete()
    grant = _grant_row(client, flow)
    grant.mailbox_id, grant.created_at, grant.updated_at = mailbox.id, now, now
    await grant.save()
    await store_token(grant, token, now)
    await Mailbox.filter(id=mailbox.id).update(failing_since=None, failing_reason=None)
    return grant


def _probe_grant(client: Client, flow: str) -> OAuthGrant:
    """A grant not stored anywhere yet, to make the token requests of a sign-in with."""
    return _grant_row(client, flow)


def _failed(exc: OAuthError) -> MailboxError:
    detail = f" ({exc.description})" if exc.description else ""
    return MailboxError(f"the provider refused the sign-in: {exc.error}{detail}")


async def app_token(client: Client) -> dict[str, Any]:
    """App-only access (client credentials): for shared mailboxes of Microsoft 365."""
    if not client.client_secret:
        raise MailboxError(f"app-only access needs the client secret of [oauth.{client.name}]")
    grant = _probe_grant(client, "app")
    try:
        async with client_for(grant) as http:
            return dict(
                await http.fetch_token(grant.token_endpoint, grant_type="client_credentials")
            )
    except OAuthError as exc:
        raise _failed(exc) from None
    except httpx2.HTTPError as exc:
        raise MailboxError(f"token endpoint: {exc.__class__.__name__}: {exc}") from None


def authorization_url(client: Client, redirect_uri: str) -> tuple[str, str, str]:
    """Where to send the person's browser: ``(url, state, PKCE verifier)``."""
    endpoint = client.provider.endpoints.authorization
    if endpoint is None:
        raise MailboxError(f"{client.name} has no authorization endpoint")
    verifier = secrets.token_urlsafe(64)
    grant = _probe_grant(client, "user")
    http = client_for(grant, redirect_uri=redirect_uri, code_challenge_method="S256")
    url, state = http.create_authorization_url(
        endpoint, code_verifier=verifier, **client.provider.authorize_params
    )
    return str(url), str(state), verifier


async def exchange_code(
    client: Client, redirect_uri: str, code: str, verifier: str
) -> dict[str, Any]:
    """The tokens for an authorization code (PKCE)."""
    grant = _probe_grant(client, "user")
    try:
        async with client_for(grant, redirect_uri=redirect_uri) as http:
            return dict(
                await http.fetch_token(
                    grant.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                )
            )
    except OAuthError as exc:
        raise _failed(exc) from None
    except httpx2.HTTPError as exc:
        raise MailboxError(f"token endpoint: {exc.__class__.__name__}: {exc}") from None


async def device_grant(client: Client, show: Callable[[str, str], None]) -> dict[str, Any]:
    """The device authorization grant (RFC 8628): ``show(verification_uri, user_code)``,
    then poll until the person approved, refused, or the code expired."""
    endpoint = client.provider.endpoints.device
    if endpoint is None or not client.provider.device_for_mail:
        raise MailboxError(
            f"{client.name} offers no device sign-in for mail: use --sign-in browser"
        )
    form = {"client_id": client.client_id, "scope": client.provider.scope}
    try:
        async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            reply = await http.post(endpoint, data=form)
            started = reply.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise MailboxError(f"device endpoint: {exc.__class__.__name__}: {exc}") from None
    if "device_code" not in started:
        raise MailboxError(f"the provider refused the device sign-in: {started.get('error')}")
    show(
        str(started.get("verification_uri_complete") or started["verification_uri"]),
        str(started["user_code"]),
    )
    return await _poll_device(client, started)


async def _poll_device(client: Client, started: dict[str, Any]) -> dict[str, Any]:
    interval = float(started.get("interval") or 5)
    deadline = time.monotonic() + float(started.get("expires_in") or 900)
    grant = _probe_grant(client, "device")
    async with client_for(grant) as http:
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            try:
                return dict(
                    await http.fetch_token(
                        grant.token_endpoint,
                        grant_type=DEVICE_GRANT,
                        device_code=started["device_code"],
                    )
                )
            except OAuthError as exc:
                if exc.error == "slow_down":
                    interval += 5
                elif exc.error != "authorization_pending":
                    raise _failed(exc) from None
            except httpx2.HTTPError as exc:
                raise MailboxError(f"token endpoint: {exc.__class__.__name__}") from None
    raise MailboxError("the sign-in code expired before it was approved; try again")


async def tested_token(
    client: Client, imap: str, smtp: str | None, token: dict[str, Any], chosen: dict[str, str]
) -> ConnectionCheck:
    """The usual connection test, logging in with the new ``token``: signed in as another
    account, the mail servers refuse it. :class:`MailboxError` when it fails."""

    def ready(url: MailURL) -> MailURL:
        return dataclasses.replace(
            url, auth=client.provider.sasl, password=str(token["access_token"])
        )

    imap_url = ready(parse_url(imap, "imap"))
    check = await check_connection(
        imap_url, ready(parse_url(smtp, "smtp")) if smtp else None, chosen
    )
    if not (check.imap_ok and check.smtp_ok is not False):
        problems = "; ".join(e for e in (check.imap_error, check.smtp_error) if e)
        raise MailboxError(f"signed in, but the connection test failed: {problems}")
    return check
