"""OAuth2 sign-in decisions: the providers Followup knows, when a token is due for refresh,
and what a refused token request means. Pure: no I/O, no clock, no environment.

Presets follow the providers' documentation (not tried from here: no internet):

- Google: scope ``https://mail.google.com/`` for IMAP and SMTP (XOAUTH2); ``access_type=
  offline`` and ``prompt=consent`` so a refresh token comes back. Google's device grant does
  not allow the mail scope, so the command line uses a loopback redirect instead.
- Microsoft (Entra ID): delegated scopes ``IMAP.AccessAsUser.All`` and ``SMTP.Send`` on
  ``https://outlook.office.com`` with ``offline_access``; the device grant is offered for
  them. App-only access (a shared mailbox, client credentials) asks for
  ``https://outlook.office365.com/.default`` against a named tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

GOOGLE_SCOPE = "https://mail.google.com/"
MICROSOFT_SCOPE = (
    "https://outlook.office.com/IMAP.AccessAsUser.All "
    "https://outlook.office.com/SMTP.Send offline_access"
)
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
#: Refresh this long before the provider's expiry: a login never races the deadline.
REFRESH_MARGIN = timedelta(minutes=5)
#: How long one process may hold the refresh lease before another takes over.
LEASE = timedelta(seconds=30)
#: Token endpoint errors that no retry will cure: a person has to sign in again.
REAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_scope"}
)
SASL_MECHANISMS = ("xoauth2", "oauthbearer")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a provider signs people in and hands out tokens."""

    token: str
    authorization: str | None = None
    device: str | None = None
    revocation: str | None = None
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider's endpoints, scopes and mail servers."""

    name: str
    endpoints: Endpoints
    scope: str
    app_scope: str | None = None
    sasl: str = "xoauth2"
    #: Extra parameters of the authorization request (Google: offline access).
    authorize_params: dict[str, str] = field(default_factory=dict)
    #: The device grant is offered for the mail scopes (RFC 8628).
    device_for_mail: bool = True
    imap_url: str | None = None
    smtp_url: str | None = None


def google() -> Provider:
    """Google Workspace and Gmail."""
    return Provider(
        name="google",
        endpoints=Endpoints(
            token="https://oauth2.googleapis.com/token",
            authorization="https://accounts.google.com/o/oauth2/v2/auth",
            revocation="https://oauth2.googleapis.com/revoke",
            issuer="https://accounts.google.com",
        ),
        scope=GOOGLE_SCOPE,
        authorize_params={"access_type": "offline", "prompt": "consent"},
        device_for_mail=False,
        imap_url="imaps://imap.gmail.com:993",
        smtp_url="smtps://smtp.gmail.com:465",
    )


def microsoft(tenant: str = "organizations") -> Provider:
    """Microsoft 365 (Exchange Online); ``tenant`` is a tenant id or domain for app-only."""
    base = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
    return Provider(
        name="microsoft",
        endpoints=Endpoints(
            token=f"{base}/token",
            authorization=f"{base}/authorize",
            device=f"{base}/devicecode",
            issuer=f"https://login.microsoftonline.com/{tenant}/v2.0",
        ),
        scope=MICROSOFT_SCOPE,
        app_scope=MICROSOFT_APP_SCOPE,
        imap_url="imaps://outlook.office365.com:993",
        smtp_url="smtp+starttls://smtp.office365.com:587",
    )


def preset(name: str, tenant: str | None = None) -> Provider | None:
    """The built-in provider called ``name``, if there is one."""
    if name == "google":
        return google()
    if name == "microsoft":
        return microsoft(tenant or "organizations")
    return None


def endpoints_from_metadata(metadata: dict[str, object]) -> Endpoints:
    """Endpoints from an OIDC / RFC 8414 discovery document; ``ValueError`` without a token
    endpoint."""

    def text(key: str) -> str | None:
        value = metadata.get(key)
        return (
            value if isinstance(value, str) and value.startswith(("https://", "http://")) else None
        )

    token = text("token_endpoint")
    if token is None:
        raise ValueError("the discovery document names no token_endpoint")
    issuer = metadata.get("issuer")
    return Endpoints(
        token=token,
        authorization=text("authorization_endpoint"),
        device=text("device_authorization_endpoint"),
        revocation=text("revocation_endpoint"),
        issuer=issuer if isinstance(issuer, str) else None,
    )


def needs_refresh(
    expires_at: datetime | None, now: datetime, issued_at: datetime | None = None
) -> bool:
    """True when the access token is missing, expired, or expires within the margin: five
    minutes, or half the token's life when it is shorter (a 60-second token is used for 30)."""
    if expires_at is None:
        return True
    margin = REFRESH_MARGIN
    if issued_at is not None:
        margin = min(margin, max(timedelta(0), expires_at - issued_at) / 2)
    return expires_at - margin <= now


def expiry(now: datetime, expires_in: object) -> datetime:
    """When a token handed out at ``now`` with ``expires_in`` seconds expires (1 hour when
    the provider does not say, as RFC 6749 leaves it optional)."""
    try:
        seconds = max(0.0, float(expires_in))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 3600.0
    return now + timedelta(seconds=seconds)


def needs_reauth(error: str) -> bool:
    """True when a token endpoint error means a person must sign in again."""
    return error in REAUTH_ERRORS


def lease_free(lease_until: datetime | None, now: datetime) -> bool:
    """True when nobody holds the refresh lease (or its holder's time ran out)."""
    return lease_until is None or lease_until <= now
