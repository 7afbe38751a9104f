"""A small OAuth 2.0 authorization server for tests, built on Authlib's Flask integration.

Run as its own process (``tests/servers/oauth.py`` starts it)::

    python tests/servers/oauth_app.py --state-dir DIR [--port 0]

It listens on 127.0.0.1 (plain HTTP), writes its port to ``DIR/port`` once listening, keeps
everything in memory and forgets it on exit. It imports nothing from the project, so it runs
from its path alone.

Endpoints (issuer ``http://127.0.0.1:PORT``):

- discovery: ``/.well-known/oauth-authorization-server`` (RFC 8414) and
  ``/.well-known/openid-configuration`` (same document), ``/jwks.json``;
- ``/authorize``: authorization code grant; an HTML page with user name and password fields and
  "Allow"/"Deny" buttons; PKCE S256 (required for public clients, ``plain`` refused);
- ``/token``: ``authorization_code``, ``refresh_token``, device code (RFC 8628),
  ``client_credentials`` and, for clients registered with it, ``password`` (tests only);
- ``/device_authorization`` and the ``/device`` page (user code, credentials, Allow/Deny);
- ``/revoke`` (RFC 7009), ``/introspect`` (RFC 7662), ``/userinfo``;
- ``/admin/...``: JSON API for tests (unauthenticated, loopback only).

Access tokens are RS256 JWTs (RFC 9068: ``typ`` ``at+jwt``; ``sub``, ``username`` and ``email``
are the mail user's name; ``scope``, ``exp``, ``client_id``). Every issued token is also kept
in memory, so revocation works and introspection answers ``active: false`` for a revoked or
expired one. Refresh tokens rotate by default (each refresh answers a new one and the old one
gives ``invalid_grant``); ``rotate_refresh_tokens: false`` keeps them (no new one returned).
"""

from __future__ import annotations

import argparse
import hmac
import html
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialMixin,
)
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, Response, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

ALL_AUTH = ("client_secret_basic", "client_secret_post", "none")
SECRET_AUTH = ("client_secret_basic", "client_secret_post")
GRANT_ALIASES = {"device_code": DEVICE_CODE_GRANT_TYPE}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# -- state ---------------------------------------------------------------------------------


@dataclass
class Settings:
    """What tests may change at run time (``/admin/settings``); lifetimes in seconds."""

    access_token_lifetime: int = 3600
    refresh_token_lifetime: int = 86400
    device_code_lifetime: int = 600
    device_interval: int = 1
    authorization_code_lifetime: int = 600
    rotate_refresh_tokens: bool = True
    # Reusing a rotated-away refresh token revokes its whole grant (OAuth 2.1 reuse detection).
    refresh_reuse_revokes_grant: bool = False
    # Seconds every token-endpoint call waits before it is handled (concurrency tests).
    token_delay: float = 0.0


@dataclass
class User:
    """A mail user: the name is the token subject (``sub``/``username``/``email``)."""

    name: str
    password: str

    def get_user_id(self) -> str:
        return self.name


@dataclass
class Client(ClientMixin):
    """A registered client; public when it has no secret. An empty scope list allows any."""

    client_id: str
    client_secret: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    app_user: str | None = None
    introspect: bool = False

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return " ".join(self.scope)
        requested = scope_to_list(scope)
        if self.scope and any(item not in self.scope for item in requested):
            return None  # invalid_scope
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match; a loopback URI (RFC 8252 §7.3) matches on any port."""
        if redirect_uri in self.redirect_uris:
            return True
        asked = urlsplit(redirect_uri)
        if asked.scheme != "http" or asked.hostname not in LOOPBACK_HOSTS:
            return False
        for registered in map(urlsplit, self.redirect_uris):
            if (registered.scheme, registered.hostname, registered.path, registered.query) == (
                asked.scheme,
                asked.hostname,
                asked.path,
                asked.query,
            ):
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and hmac.compare_digest(
            self.client_secret, client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_secret is None:
            return method == "none"
        return method in SECRET_AUTH

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Token(TokenMixin):
    """One token response: its access token and (maybe) refresh token, in one grant."""

    access_token: str
    refresh_token: str | None
    client_id: str
    subject: str | None  # the mail user (app-only tokens: the client's app_user)
    delegated: bool  # a user signed in (False: client_credentials)
    scope: str
    grant_type: str
    grant_id: str
    issued_at: float
    expires_in: int
    refresh_expires_at: float | None
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def access_active(self) -> bool:
        return not self.access_revoked and time.time() < self.issued_at + self.expires_in

    def refresh_active(self) -> bool:
        return (
            self.refresh_token is not None
            and not self.refresh_revoked
            and (self.refresh_expires_at is None or time.time() < self.refresh_expires_at)
        )


@dataclass
class Found(TokenMixin):
    """A token looked up by its string: which of the record's two tokens it is."""

    token: Token
    kind: str  # "access_token" or "refresh_token"

    def check_client(self, client: Client) -> bool:
        return self.token.client_id == client.client_id

    def get_scope(self) -> str:
        return self.token.scope

    def is_active(self) -> bool:
        if self.kind == "access_token":
            return self.token.access_active()
        return self.token.refresh_active()


@dataclass
class AuthCode:
    """An authorization code waiting for its exchange."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Device(DeviceCredentialMixin):
    """A device authorization (RFC 8628) and what the user answered on the /device page."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: int
    last_poll: float | None = None
    user: str | None = None
    approved: bool | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at


class Store:
    """Everything the server knows, in memory, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthCode] = {}
        self.by_access: dict[str, Token] = {}
        self.by_refresh: dict[str, Token] = {}
        self.devices: dict[str, Device] = {}
        self.by_user_code: dict[str, Device] = {}
        self.token_requests: list[tuple[str, str]] = []  # (grant_type, client_id)

    def find(self, value: str, hint: str | None = None) -> Found | None:
        with self.lock:
            order = ["refresh_token", "access_token"] if hint == "refresh_token" else None
            for kind in order or ["access_token", "refresh_token"]:
                index = self.by_access if kind == "access_token" else self.by_refresh
                if value in index:
                    return Found(index[value], kind)
        return None

    def revoke_grant(self, grant_id: str) -> int:
        """Revoke every token of one grant; how many records changed."""
        count = 0
        with self.lock:
            for token in self.by_access.values():
                if token.grant_id == grant_id and not (
                    token.access_revoked and token.refresh_revoked
                ):
                    token.access_revoked = token.refresh_revoked = True
                    count += 1
        return count

    def revoke_where(self, **match: Any) -> int:
        """Revoke every grant with a token whose attributes equal ``match``; grants revoked."""
        with self.lock:
            grant_ids = {
                token.grant_id
                for token in self.by_access.values()
                if all(getattr(token, key) == value for key, value in match.items())
            }
            for grant_id in grant_ids:
                self.revoke_grant(grant_id)
        return len(grant_ids)


STORE = Store()


def normalize_user_code(code: str) -> str:
    """User codes are compared without case, spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def check_user(name: str, password: str) -> User | None:
    with STORE.lock:
        user = STORE.users.get(name)
    if user is None or not hmac.compare_digest(user.password, password):
        return None
    return user


# -- Authlib grants and endpoints ------------------------------------------------------------


class S256Only(CodeChallenge):
    """PKCE: only S256; a public client must send a code challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        public = grant.request.client.client_secret is None
        if public and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        item = AuthCode(
            code=code,
            client_id=req.client.client_id,
            redirect_uri=req.payload.redirect_uri,
            scope=req.scope or "",
            user=req.user.name,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + STORE.settings.authorization_code_lifetime,
        )
        with STORE.lock:
            STORE.codes[code] = item

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        with STORE.lock:
            item = STORE.codes.get(code)
        if item is None or item.client_id != client.client_id or item.expires_at < time.time():
            return None
        return item

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        with STORE.lock:
            STORE.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthCode) -> User | None:
        with STORE.lock:
            return STORE.users.get(authorization_code.user)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        with STORE.lock:
            token = STORE.by_refresh.get(refresh_token)
            if token is None:
                return None
            if token.refresh_active():
                return token
            if token.refresh_revoked and STORE.settings.refresh_reuse_revokes_grant:
                STORE.revoke_grant(token.grant_id)
        return None

    def authenticate_user(self, refresh_token: Token) -> User | None:
        with STORE.lock:
            return STORE.users.get(refresh_token.subject or "")

    def issue_token(self, user: User, refresh_token: Token) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.generate_token(
            user=user, scope=scope, include_refresh_token=STORE.settings.rotate_refresh_tokens
        )

    def revoke_old_credential(self, refresh_token: Token) -> None:
        if STORE.settings.rotate_refresh_tokens:
            with STORE.lock:
                refresh_token.refresh_revoked = True


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    """For tests only (a client must be registered with the ``password`` grant)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH

    def authenticate_user(self, username: str, password: str) -> User | None:
        return check_user(username, password)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH


class DeviceGrant(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH

    def query_device_credential(self, device_code: str) -> Device | None:
        with STORE.lock:
            return STORE.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[User, bool] | None:
        with STORE.lock:
            device = STORE.by_user_code.get(normalize_user_code(user_code))
            if device is None or device.approved is None:
                return None
            user = STORE.users.get(device.user or "")
        if user is None:
            return None
        return user, device.approved

    def should_slow_down(self, credential: Device) -> bool:
        """RFC 8628 §3.5: polling faster than the interval answers ``slow_down`` and adds
        5 seconds to the interval for this and every later request."""
        now = time.time()
        with STORE.lock:
            last, credential.last_poll = credential.last_poll, now
            if last is not None and now - last < credential.interval:
                credential.interval += 5
                return True
        return False

    def create_token_response(self) -> Any:
        result = super().create_token_response()
        with STORE.lock:  # a device code is good for one token response
            device = STORE.devices.pop(self.request.credential.device_code, None)
            if device is not None:
                STORE.by_user_code.pop(normalize_user_code(device.user_code), None)
        return result


class DeviceEndpoint(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = ALL_AUTH

    @property
    def EXPIRES_IN(self) -> int:
        return STORE.settings.device_code_lifetime

    @property
    def INTERVAL(self) -> int:
        return STORE.settings.device_interval

    def get_verification_uri(self) -> str:
        return f"{ISSUER}/device"

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        device = Device(
            device_code=data["device_code"],
            user_code=data["user_code"],
            client_id=client_id,
            scope=scope or "",
            expires_at=time.time() + data["expires_in"],
            interval=data["interval"],
        )
        with STORE.lock:
            STORE.devices[device.device_code] = device
            STORE.by_user_code[normalize_user_code(device.user_code)] = device


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking a refresh token revokes its whole grant (and its access tokens);
    revoking an access token revokes that access token only."""

    CLIENT_AUTH_METHODS = ALL_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        return STORE.find(token_string, token_type_hint)

    def revoke_token(self, token: Found, req: Any) -> None:
        if token.kind == "refresh_token":
            STORE.revoke_grant(token.token.grant_id)
        else:
            with STORE.lock:
                token.token.access_revoked = True


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for resource servers (clients registered with ``introspect``) and a token's
    own client."""

    CLIENT_AUTH_METHODS = SECRET_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        return STORE.find(token_string, token_type_hint)

    def check_permission(self, token: Found, client: Client, req: Any) -> bool:
        return client.introspect or token.check_client(client)

    def create_introspection_payload(self, token: Found | None) -> dict[str, Any]:
        if token is None or not token.is_active():
            return {"active": False}
        record = token.token
        exp = record.issued_at + record.expires_in
        if token.kind == "refresh_token":
            exp = record.refresh_expires_at or exp
        payload: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "client_id": record.client_id,
            "scope": record.scope,
            "iss": ISSUER,
            "iat": int(record.issued_at),
            "exp": int(exp),
        }
        if record.subject:
            payload.update(sub=record.subject, username=record.subject, email=record.subject)
        return payload


class JWTTokens(JWTBearerTokenGenerator):
    """RS256 JWT access tokens (RFC 9068) naming the mail user, with configurable lifetime."""

    def get_jwks(self) -> RSAKey:
        return SIGNING_KEY

    def get_extra_claims(
        self, client: Client, grant_type: str, user: User | None, scope: str
    ) -> dict[str, Any]:
        subject = user.name if user is not None else client.app_user
        if subject is None:
            return {}
        return {"sub": subject, "username": subject, "email": subject}


def expires_in(client: Client, grant_type: str) -> int:
    return STORE.settings.access_token_lifetime


def refresh_token_generator(**_: Any) -> str:
    return generate_token(48)


def save_token(token: dict[str, Any], req: Any) -> None:
    """Keep every token response (Authlib calls this once per issued token)."""
    client: Client = req.client
    user: User | None = req.user
    previous = getattr(req, "refresh_token", None)
    now = time.time()
    refresh = token.get("refresh_token")
    record = Token(
        access_token=token["access_token"],
        refresh_token=refresh,
        client_id=client.client_id,
        subject=user.name if user is not None else client.app_user,
        delegated=user is not None,
        scope=token.get("scope", ""),
        grant_type=req.payload.grant_type or "",
        grant_id=previous.grant_id if isinstance(previous, Token) else uuid.uuid4().hex,
        issued_at=now,
        expires_in=int(token.get("expires_in", 0)),
        refresh_expires_at=now + STORE.settings.refresh_token_lifetime if refresh else None,
    )
    with STORE.lock:
        STORE.by_access[record.access_token] = record
        if refresh:
            STORE.by_refresh[refresh] = record


def query_client(client_id: str) -> Client | None:
    with STORE.lock:
        return STORE.clients.get(client_id)


# -- Flask app -------------------------------------------------------------------------------

ISSUER = ""  # set in main() once the port is known
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})

app = Flask(__name__)
server = AuthorizationServer(app, query_client=query_client, save_token=save_token)


def configure() -> None:
    """Register grants and endpoints (needs ISSUER)."""
    server.register_token_generator(
        "default",
        JWTTokens(
            ISSUER, refresh_token_generator=refresh_token_generator, expires_generator=expires_in
        ),
    )
    server.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(PasswordGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(DeviceGrant)
    server.register_endpoint(DeviceEndpoint(server))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)


def metadata() -> dict[str, Any]:
    """The RFC 8414 document (also served as OpenID Connect discovery)."""
    with STORE.lock:
        scopes = {"offline_access", *(s for c in STORE.clients.values() for s in c.scope)}
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "device_authorization_endpoint": f"{ISSUER}/device_authorization",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "introspection_endpoint": f"{ISSUER}/introspect",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "jwks_uri": f"{ISSUER}/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            DEVICE_CODE_GRANT_TYPE,
            "client_credentials",
            "password",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(ALL_AUTH),
        "revocation_endpoint_auth_methods_supported": list(ALL_AUTH),
        "introspection_endpoint_auth_methods_supported": list(SECRET_AUTH),
        "subject_types_supported": ["public"],
        "scopes_supported": sorted(scopes),
    }


@app.get("/.well-known/oauth-authorization-server")
@app.get("/.well-known/openid-configuration")
def discovery() -> Response:
    return jsonify(metadata())


@app.get("/jwks.json")
def jwks() -> Response:
    return jsonify({"keys": [SIGNING_KEY.as_dict(private=False)]})


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1>{title}</h1>{error}{body}
</body></html>
"""
LOGIN_FIELDS = """
<p><label for="username">User name</label>
<input id="username" name="username" autocomplete="username" value="{username}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button id="allow" type="submit" name="consent" value="allow">Allow</button>
<button id="deny" type="submit" name="consent" value="deny">Deny</button></p>
"""


def login_fields() -> str:
    """User name (kept after a failed attempt), password, Allow and Deny."""
    return LOGIN_FIELDS.format(username=html.escape(request.form.get("username", "")))


def page(title: str, body: str, error: str = "", status: int = 200) -> Response:
    shown = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    text = PAGE.format(title=html.escape(title), error=shown, body=body)
    return Response(text, status=status, mimetype="text/html")


def authorize_page(client_id: str, scope: str, error: str = "") -> Response:
    body = (
        f'<p>Application <b id="client">{html.escape(client_id)}</b> asks for: '
        f'<span id="scope">{html.escape(scope)}</span></p>'
        f'<form method="post">{login_fields()}</form>'
    )
    return page("Sign in", body, error)


@app.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return server.handle_error_response(None, error)
        return page("Authorization error", "", f"{error.error}: {error.description}", 400)
    scope = grant.request.scope or ""
    if request.method == "GET":
        return authorize_page(grant.client.client_id, scope)
    if request.form.get("consent") != "allow":
        return server.create_authorization_response(grant=grant, grant_user=None)
    user = check_user(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        return authorize_page(grant.client.client_id, scope, "Wrong user name or password.")
    return server.create_authorization_response(grant=grant, grant_user=user)


@app.post("/token")
def issue_token() -> Response:
    client_id = request.form.get("client_id") or extract_basic_authorization(request.headers)[0]
    with STORE.lock:
        STORE.token_requests.append((request.form.get("grant_type", ""), client_id or ""))
        delay = STORE.settings.token_delay
    if delay:
        time.sleep(delay)
    return server.create_token_response()


@app.post("/device_authorization")
def device_authorization() -> Response:
    return server.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME)


def device_form(user_code: str, error: str = "", status: int = 200) -> Response:
    body = (
        '<form method="post"><p><label for="user_code">Code</label>'
        f'<input id="user_code" name="user_code" value="{html.escape(user_code)}"></p>'
        f"{login_fields()}</form>"
    )
    return page("Connect a device", body, error, status)


@app.route("/device", methods=["GET", "POST"])
def device() -> Response:
    user_code = request.values.get("user_code", "")
    if request.method == "GET":
        return device_form(user_code)
    with STORE.lock:
        found = STORE.by_user_code.get(normalize_user_code(user_code))
    if found is None or found.is_expired():
        return device_form(user_code, "Unknown or expired code.", 400)
    user = check_user(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        return device_form(user_code, "Wrong user name or password.", 401)
    allowed = request.form.get("consent") == "allow"
    with STORE.lock:
        found.user, found.approved = user.name, allowed
    title = "Device connected" if allowed else "Access denied"
    return page(title, f'<p id="done">{html.escape(title)}. You may close this page.</p>')


@app.post("/revoke")
def revoke() -> Response:
    return server.create_endpoint_response(Revocation.ENDPOINT_NAME)


@app.post("/introspect")
def introspect() -> Response:
    return server.create_endpoint_response(Introspection.ENDPOINT_NAME)


@app.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response | tuple[Response, int, dict[str, str]]:
    auth = request.headers.get("Authorization", "")
    found = STORE.find(auth[7:]) if auth[:7].lower() == "bearer " else None
    if found is None or found.kind != "access_token" or not found.is_active():
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return jsonify({"error": "invalid_token"}), 401, challenge
    subject = found.token.subject or found.token.client_id
    return jsonify({"sub": subject, "email": subject, "preferred_username": subject})


# -- admin API -------------------------------------------------------------------------------


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@app.get("/admin/health")
def health() -> Response:
    return jsonify({"ok": True, "issuer": ISSUER})


@app.post("/admin/users")
def add_user() -> Response:
    data = body()
    user = User(str(data["name"]), str(data["password"]))
    with STORE.lock:
        STORE.users[user.name] = user
    return jsonify({"name": user.name})


@app.post("/admin/clients")
def add_client() -> Response:
    data = body()
    scope = data.get("scope") or []
    client = Client(
        client_id=str(data["client_id"]),
        client_secret=data.get("client_secret"),
        redirect_uris=list(data.get("redirect_uris") or []),
        grant_types=[GRANT_ALIASES.get(g, g) for g in data.get("grant_types") or []],
        scope=scope_to_list(scope) if isinstance(scope, str) else list(scope),
        app_user=data.get("app_user"),
        introspect=bool(data.get("introspect", False)),
    )
    with STORE.lock:
        STORE.clients[client.client_id] = client
    return jsonify(asdict(client))


@app.route("/admin/settings", methods=["GET", "POST"])
def settings() -> Response | tuple[Response, int]:
    names = {f.name: f.type for f in fields(Settings)}
    with STORE.lock:
        for key, value in body().items():
            if key not in names:
                return jsonify({"error": f"unknown setting {key!r}"}), 400
            setattr(STORE.settings, key, value)
        return jsonify(asdict(STORE.settings))


@app.post("/admin/settings/reset")
def reset_settings() -> Response:
    with STORE.lock:
        STORE.settings = Settings()
        return jsonify(asdict(STORE.settings))


@app.post("/admin/revoke_user")
def revoke_user() -> Response:
    """Revoke every grant a user gave (sign-ins; not app-only tokens)."""
    count = STORE.revoke_where(subject=str(body()["name"]), delegated=True)
    return jsonify({"revoked_grants": count})


@app.post("/admin/revoke_client")
def revoke_client() -> Response:
    """Revoke every grant of a client (including its app-only tokens)."""
    count = STORE.revoke_where(client_id=str(body()["client_id"]))
    return jsonify({"revoked_grants": count})


@app.get("/admin/token_requests")
def token_requests() -> Response:
    """Token-endpoint calls so far, by grant type (``?client_id=`` to count one client's)."""
    wanted = request.args.get("client_id")
    counts: dict[str, int] = {}
    with STORE.lock:
        for grant_type, client_id in STORE.token_requests:
            if wanted is None or client_id == wanted:
                counts[grant_type] = counts.get(grant_type, 0) + 1
    return jsonify(counts)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    global ISSUER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    http = make_server("127.0.0.1", args.port, app, threaded=True)
    ISSUER = f"http://127.0.0.1:{http.server_port}"
    configure()
    port_file = args.state_dir / "port"
    tmp = port_file.with_name(f".port.{secrets.token_hex(4)}")
    tmp.write_text(str(http.server_port))
    tmp.replace(port_file)
    http.serve_forever()


if __name__ == "__main__":
    main()
