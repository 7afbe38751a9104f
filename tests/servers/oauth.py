"""A private OAuth 2.0 authorization server for tests (``tests/servers/oauth_app.py``, Authlib).

Runs the server in a child process on a free port of 127.0.0.1 (plain HTTP, in-memory state)
and drives it: the admin API (users, clients, lifetimes, revocation, counts) and, like any
client would, the flows (password grant for quick tokens, authorization code + PKCE with the
sign-in form filled programmatically, device flow, client credentials, refresh, introspection).

>>> with OAuthServer(path) as oauth:
...     oauth.add_user("alice@example.com", "secret")
...     token = oauth.user_token("alice@example.com")["access_token"]
...     oauth.set_lifetimes(access=3)          # later tokens expire after 3 s
...     oauth.revoke_user("alice@example.com")  # refresh: invalid_grant, introspection: inactive
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from tests.servers.common import (
    ManagedServer,
    ServerStartError,
    log_tail,
    wait_pids_gone,
    wait_until,
)

APP = Path(__file__).with_name("oauth_app.py")
# Scopes named like Microsoft's (the server checks them only against a client's allowed list).
USER_SCOPE = "IMAP.AccessAsUser.All SMTP.Send offline_access"
APP_SCOPE = "IMAP.AccessAsApp SMTP.SendAsApp"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
USER_GRANTS = ("authorization_code", "refresh_token", DEVICE_CODE)
# A public client registered at start for quick user tokens (it may use the password grant).
TEST_CLIENT_ID = "followup-tests"
# The resource servers' client (Dovecot, the OAuth SMTP server): may introspect every token.
INTROSPECTION_CLIENT_ID = "mail-servers"


class OAuthError(RuntimeError):
    """An OAuth error answer (``error``, ``error_description``) or an unexpected HTTP status."""

    def __init__(self, status: int, error: str, description: str = "", body: Any = None) -> None:
        super().__init__(f"HTTP {status}: {error}" + (f" ({description})" if description else ""))
        self.status = status
        self.error = error
        self.description = description
        self.body = body


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP answer (redirects are not followed)."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http_request(
    method: str,
    url: str,
    *,
    form: dict[str, str] | None = None,
    json_body: Any = None,
    basic: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """A plain HTTP request (urllib); any status comes back as a response, never raises."""
    all_headers = dict(headers or {})
    data = None
    if form is not None:
        data = urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers["Content-Type"] = "application/json"
    if basic is not None:
        pair = f"{quote(basic[0], safe='')}:{quote(basic[1], safe='')}".encode()
        all_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(req, timeout=timeout) as answer:
            return HttpResponse(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as answer:
        with answer:
            return HttpResponse(answer.code, answer.headers, answer.read())


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 code challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class OAuthClient:
    """A client registered with the server; public (PKCE, no secret) when ``secret`` is None."""

    client_id: str
    secret: str | None = None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = USER_GRANTS
    scope: str = ""
    app_user: str | None = None

    @property
    def public(self) -> bool:
        return self.secret is None

    def credentials(self, form: dict[str, str]) -> tuple[str, str] | None:
        """Client authentication for a token-endpoint style request: HTTP Basic for a
        confidential client (returned), ``client_id`` in ``form`` for a public one."""
        if self.secret is None:
            form["client_id"] = self.client_id
            return None
        return self.client_id, self.secret


class OAuthServer(ManagedServer):
    """The authorization server in a child process; ``with OAuthServer(dir) as oauth:``.

    Once started: ``port``, ``issuer`` (``http://127.0.0.1:PORT``), ``url(path)``,
    ``introspection_url`` (with the resource servers' credentials in it, for Dovecot),
    ``test_client`` (public, password grant allowed: :meth:`user_token`).
    """

    host = "127.0.0.1"

    def __init__(self, base_dir: Path, start_timeout: float = 20.0) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.start_timeout = start_timeout
        self.port = 0
        self.introspection_client = OAuthClient(
            INTROSPECTION_CLIENT_ID, secrets.token_hex(16), (), ()
        )
        self.test_client = OAuthClient(
            TEST_CLIENT_ID, None, ("http://127.0.0.1/callback",), (*USER_GRANTS, "password")
        )
        self._passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.base_dir / "oauth.log"

    def start(self) -> OAuthServer:
        """Start the server process, wait until it answers, register the built-in clients;
        :class:`ServerStartError` with the log tail when it does not come up."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.base_dir / "port"
        port_file.unlink(missing_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, str(APP), "--state-dir", str(self.base_dir)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = self._process
        try:
            up = wait_until(port_file.exists, self.start_timeout, lambda: process.poll() is None)
            if not up:
                raise ServerStartError(
                    "the OAuth server did not start (needs the test extras: authlib, flask; "
                    f"pip install -e '.[test]').\n--- {self.log_path}:\n{log_tail(self.log_path)}"
                )
            self.port = int(port_file.read_text())
            self._admin("GET", "/admin/health")
            self._register(self.introspection_client, introspect=True)
            self._register(self.test_client)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server process and wait for it."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            wait_pids_gone([process.pid])
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "") -> str:
        """An absolute URL on the server, e.g. ``url("/token")``."""
        return self.issuer + path

    @property
    def introspection_url(self) -> str:
        """``http://ID:SECRET@127.0.0.1:PORT/introspect`` (Dovecot's ``introspection_url``)."""
        client = self.introspection_client
        assert client.secret is not None
        return f"http://{client.client_id}:{client.secret}@{self.host}:{self.port}/introspect"

    # -- admin API ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = http_request(method, self.url(path), json_body=body)
        if answer.status != 200:
            raise OAuthError(answer.status, "admin_error", answer.text)
        return answer.json()

    def _register(self, client: OAuthClient, introspect: bool = False) -> None:
        self._admin(
            "POST",
            "/admin/clients",
            {
                "client_id": client.client_id,
                "client_secret": client.secret,
                "redirect_uris": list(client.redirect_uris),
                "grant_types": list(client.grant_types),
                "scope": client.scope,
                "app_user": client.app_user,
                "introspect": introspect,
            },
        )

    def add_user(self, name: str, password: str) -> None:
        """Add (or replace) a user who can sign in with ``password``."""
        self._admin("POST", "/admin/users", {"name": name, "password": password})
        self._passwords[name] = password

    def password(self, name: str) -> str:
        """The password given to :meth:`add_user`."""
        return self._passwords[name]

    def add_client(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        redirect_uris: tuple[str, ...] | list[str] = (),
        grant_types: tuple[str, ...] | list[str] = USER_GRANTS,
        scope: str = "",
        app_user: str | None = None,
    ) -> OAuthClient:
        """Register (or replace) a client. ``secret=None``: public (PKCE required).
        ``grant_types``: any of authorization_code, refresh_token, device_code (or its URN),
        client_credentials, password. ``scope``: allowed scopes (empty: any).
        ``app_user``: the mail user that app-only (client_credentials) tokens act as."""
        client = OAuthClient(
            client_id,
            secret,
            tuple(redirect_uris),
            tuple(DEVICE_CODE if g == "device_code" else g for g in grant_types),
            scope,
            app_user,
        )
        self._register(client)
        return client

    def set_lifetimes(
        self,
        *,
        access: int | None = None,
        refresh: int | None = None,
        device_code: int | None = None,
        device_interval: int | None = None,
        authorization_code: int | None = None,
    ) -> dict[str, Any]:
        """Lifetimes (seconds) of tokens issued from now on, and the device-flow polling
        interval; None keeps a value. Returns every setting."""
        names = {
            "access_token_lifetime": access,
            "refresh_token_lifetime": refresh,
            "device_code_lifetime": device_code,
            "device_interval": device_interval,
            "authorization_code_lifetime": authorization_code,
        }
        return self._settings({k: v for k, v in names.items() if v is not None})

    def set_behaviour(
        self,
        *,
        rotate_refresh_tokens: bool | None = None,
        refresh_reuse_revokes_grant: bool | None = None,
        token_delay: float | None = None,
    ) -> dict[str, Any]:
        """``rotate_refresh_tokens`` (default True): a refresh answers a new refresh token and
        the old one stops working; ``refresh_reuse_revokes_grant`` (default False): reusing a
        rotated-away refresh token revokes the whole grant; ``token_delay``: seconds each
        token-endpoint call waits (to make concurrent refreshes overlap)."""
        names = {
            "rotate_refresh_tokens": rotate_refresh_tokens,
            "refresh_reuse_revokes_grant": refresh_reuse_revokes_grant,
            "token_delay": token_delay,
        }
        return self._settings({k: v for k, v in names.items() if v is not None})

    def _settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("POST", "/admin/settings", changes)
        return result

    def settings(self) -> dict[str, Any]:
        """Every current setting (lifetimes, interval, refresh behaviour, token delay)."""
        result: dict[str, Any] = self._admin("GET", "/admin/settings")
        return result

    def reset_settings(self) -> dict[str, Any]:
        """Back to the defaults: access 3600 s, refresh 86400 s, device code 600 s, device
        interval 1 s, authorization code 600 s, rotation on, no reuse revocation, no delay."""
        result: dict[str, Any] = self._admin("POST", "/admin/settings/reset")
        return result

    def revoke_user(self, name: str) -> int:
        """Revoke every grant ``name`` gave by signing in (not app-only tokens): its refresh
        tokens give ``invalid_grant``, its access tokens introspect inactive. Returns how many
        grants were revoked."""
        return int(self._admin("POST", "/admin/revoke_user", {"name": name})["revoked_grants"])

    def revoke_client(self, client_id: str) -> int:
        """Revoke every grant of a client, app-only tokens included; how many."""
        body = {"client_id": client_id}
        return int(self._admin("POST", "/admin/revoke_client", body)["revoked_grants"])

    def token_requests(self, client_id: str | None = None) -> dict[str, int]:
        """Token-endpoint calls so far (failed ones too), by ``grant_type``; only those of
        ``client_id`` when given (as sent in the form or in HTTP Basic)."""
        path = "/admin/token_requests"
        if client_id is not None:
            path += "?" + urlencode({"client_id": client_id})
        return {str(k): int(v) for k, v in self._admin("GET", path).items()}

    # -- client side: flows --------------------------------------------------------------------

    def token(self, form: dict[str, str], client: OAuthClient) -> dict[str, Any]:
        """POST ``form`` to the token endpoint as ``client``; the token response, or
        :class:`OAuthError` (e.g. ``invalid_grant``, ``authorization_pending``)."""
        form = dict(form)
        basic = client.credentials(form)
        answer = http_request("POST", self.url("/token"), form=form, basic=basic)
        return _oauth_json(answer)

    def user_token(
        self, name: str, *, scope: str = USER_SCOPE, client: OAuthClient | None = None
    ) -> dict[str, Any]:
        """A fresh token response (access + refresh token) for user ``name`` at once, through
        the password grant of ``client`` (default: :attr:`test_client`)."""
        form = {
            "grant_type": "password",
            "username": name,
            "password": self._passwords[name],
            "scope": scope,
        }
        return self.token(form, client or self.test_client)

    def app_token(self, client: OAuthClient, scope: str | None = APP_SCOPE) -> dict[str, Any]:
        """An app-only token (client_credentials grant) of a confidential client."""
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        return self.token(form, client)

    def refresh(
        self, client: OAuthClient, refresh_token: str, scope: str | None = None
    ) -> dict[str, Any]:
        """The refresh_token grant."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope:
            form["scope"] = scope
        return self.token(form, client)

    def authorize(
        self,
        client: OAuthClient,
        user: str,
        password: str | None = None,
        *,
        scope: str = USER_SCOPE,
        redirect_uri: str | None = None,
        code_challenge: str | None = None,
        state: str | None = None,
        allow: bool = True,
    ) -> dict[str, str]:
        """Sign in on the ``/authorize`` page as a browser would (GET the form, POST user name,
        password and Allow/Deny); the query parameters of the redirect back to the client
        (``code`` and ``state``, or ``error``). :class:`OAuthError` when the page refuses."""
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": redirect_uri or client.redirect_uris[0],
            "scope": scope,
            "state": state or secrets.token_urlsafe(8),
        }
        if code_challenge is not None:
            query.update(code_challenge=code_challenge, code_challenge_method="S256")
        url = self.url("/authorize?" + urlencode(query))
        page = http_request("GET", url)
        location = page.headers.get("Location")
        if page.status == 302 and location:  # refused at once, back to the client
            return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if page.status != 200 or 'name="password"' not in page.text:
            raise OAuthError(page.status, "authorize_page", _redirect_or_text(page))
        form = {
            "username": user,
            "password": password if password is not None else self._passwords[user],
            "consent": "allow" if allow else "deny",
        }
        answer = http_request("POST", url, form=form)
        location = answer.headers.get("Location")
        if answer.status != 302 or not location:
            raise OAuthError(answer.status, "authorize_refused", answer.text)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def authorization_code_flow(
        self,
        client: OAuthClient,
        user: str,
        password: str | None = None,
        *,
        scope: str = USER_SCOPE,
        redirect_uri: str | None = None,
    ) -> dict[str, Any]:
        """The whole authorization code grant with PKCE S256: sign in, check ``state``,
        exchange the code; the token response."""
        verifier, challenge = pkce_pair()
        redirect = redirect_uri or client.redirect_uris[0]
        state = secrets.token_urlsafe(8)
        params = self.authorize(
            client,
            user,
            password,
            scope=scope,
            redirect_uri=redirect,
            code_challenge=challenge,
            state=state,
        )
        if "code" not in params or params.get("state") != state:
            raise OAuthError(302, params.get("error", "no_code"), str(params))
        form = {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect,
            "code_verifier": verifier,
        }
        return self.token(form, client)

    def device_authorization(self, client: OAuthClient, scope: str = USER_SCOPE) -> dict[str, Any]:
        """Start a device flow (RFC 8628): ``device_code``, ``user_code``,
        ``verification_uri``(``_complete``), ``expires_in``, ``interval``."""
        form = {"scope": scope}
        basic = client.credentials(form)
        answer = http_request("POST", self.url("/device_authorization"), form=form, basic=basic)
        return _oauth_json(answer)

    def approve_device(
        self, user_code: str, user: str, password: str | None = None, *, allow: bool = True
    ) -> HttpResponse:
        """Answer on the ``/device`` page as the user would (Allow or Deny)."""
        form = {
            "user_code": user_code,
            "username": user,
            "password": password if password is not None else self._passwords[user],
            "consent": "allow" if allow else "deny",
        }
        return http_request("POST", self.url("/device"), form=form)

    def poll_device(self, client: OAuthClient, device_code: str) -> dict[str, Any]:
        """One token request of the device flow: the token response, or :class:`OAuthError`
        ``authorization_pending`` / ``slow_down`` / ``access_denied`` / ``expired_token``."""
        return self.token({"grant_type": DEVICE_CODE, "device_code": device_code}, client)

    def device_flow(
        self, client: OAuthClient, user: str, password: str | None = None, scope: str = USER_SCOPE
    ) -> dict[str, Any]:
        """A whole device flow (authorize, approve on the page, one poll); the token response."""
        started = self.device_authorization(client, scope)
        answer = self.approve_device(started["user_code"], user, password)
        if answer.status != 200:
            raise OAuthError(answer.status, "device_page", answer.text)
        return self.poll_device(client, started["device_code"])

    def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        """RFC 7662 introspection as the resource servers do it."""
        form = {"token": token}
        if hint:
            form["token_type_hint"] = hint
        basic = self.introspection_client.credentials(form)
        return _oauth_json(http_request("POST", self.url("/introspect"), form=form, basic=basic))

    def revoke(self, token: str, client: OAuthClient, hint: str | None = None) -> None:
        """RFC 7009 revocation by the token's client."""
        form = {"token": token}
        if hint:
            form["token_type_hint"] = hint
        basic = client.credentials(form)
        _oauth_json(http_request("POST", self.url("/revoke"), form=form, basic=basic))


def _oauth_json(answer: HttpResponse) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        raise OAuthError(answer.status, "not_json", answer.text[:500]) from None
    if answer.status != 200 or not isinstance(body, dict) or "error" in body:
        if isinstance(body, dict):
            error, description = body.get("error", "http_error"), body.get("error_description")
            raise OAuthError(answer.status, str(error), str(description or ""), body)
        raise OAuthError(answer.status, "http_error", "", body)
    return body


def _redirect_or_text(answer: HttpResponse) -> str:
    return answer.headers.get("Location") or answer.text[:500]
