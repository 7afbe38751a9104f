"""Tortoise models of OAuth2 sign-in: a mailbox's grant, and a sign-in under way on the web.

Secrets (refresh and access tokens, client secrets, PKCE verifiers) are Fernet tokens (see
:mod:`assistant.secrets`), never plain text. Imported by :mod:`assistant.store.models`, so the
ORM and the migrations see them as part of the one ``models`` app.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class OAuthGrant(Model):
    """How a mailbox signs in by OAuth2: the provider's endpoints, the client, the tokens.

    ``flow`` is ``user`` (a person consented: authorization code or device grant; a refresh
    token) or ``app`` (client credentials, app-only access to a shared mailbox: no refresh
    token, a new access token is asked for each time). ``needs_reauth_since`` is set when
    the provider refused the grant (revoked consent, ``invalid_grant``): syncing and sending
    stop until someone reconnects. ``lease_until``/``lease_owner`` make one refresh at a time
    across processes.
    """

    id = fields.IntField(primary_key=True)
    mailbox: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Mailbox", related_name="oauth", on_delete=fields.CASCADE
    )
    mailbox_id: int
    provider = fields.CharField(max_length=64)
    flow = fields.CharField(max_length=8, default="user")
    sasl = fields.CharField(max_length=16, default="xoauth2")
    issuer = fields.CharField(max_length=512, null=True)
    token_endpoint = fields.TextField()
    authorization_endpoint = fields.TextField(null=True)
    device_endpoint = fields.TextField(null=True)
    revocation_endpoint = fields.TextField(null=True)
    client_id = fields.CharField(max_length=512)
    client_secret = fields.TextField(null=True)
    scope = fields.TextField()
    refresh_secret = fields.TextField(null=True)
    access_secret = fields.TextField(null=True)
    access_expires_at = fields.DatetimeField(null=True)
    needs_reauth_since = fields.DatetimeField(null=True)
    needs_reauth_reason = fields.TextField(null=True)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "oauth_grant"


class OAuthPending(Model):
    """A sign-in started on the web page, waiting for the provider's redirect back.

    ``state`` is the random value the provider hands back; ``verifier`` the PKCE code
    verifier (encrypted); ``intent`` what to do with the tokens (a new mailbox's name,
    address and servers, or the id of a mailbox to reconnect). Single use; expires.
    """

    id = fields.IntField(primary_key=True)
    state = fields.CharField(max_length=128, unique=True)
    verifier = fields.TextField()
    provider = fields.CharField(max_length=64)
    intent: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    user_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "oauth_pending"
