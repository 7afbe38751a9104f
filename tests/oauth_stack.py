"""Fixtures of the real OAuth 2.0 stack (loaded by ``pytest_plugins`` in tests/conftest.py).

- ``oauth_server`` (session): the authorization server (tests/servers/oauth.py);
- ``oauth`` (function): the same server, its settings (lifetimes, rotation, delay) reset to the
  defaults after the test: use it in every test that changes them;
- ``oauth_dovecot`` (session): a Dovecot accepting passwords and, by introspection against
  ``oauth_server``, XOAUTH2/OAUTHBEARER tokens;
- ``oauth_user``: a fresh user known to both (same password on both: seed mail with it);
- ``oauth_client`` / ``oauth_app_client``: a fresh public client (user grants, PKCE) / a
  confidential app-only client acting as ``oauth_user``;
- ``smtp_oauth``: a fresh OAuth-only SMTP server; ``make_smtp_oauth(**options)`` for variants
  (filing into Sent, Microsoft-style failures, TLS...).

Nothing is autouse; a missing server program fails the run (see ``start_server``).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import start_server
from tests.servers import Dovecot, server_dir
from tests.servers.oauth import APP_SCOPE, USER_GRANTS, OAuthClient, OAuthServer
from tests.servers.smtp_oauth import OAuthSmtp

_ids = itertools.count(1)
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"  # any port matches (RFC 8252 §7.3)


@dataclass(frozen=True)
class OAuthUser:
    """A mail user of both the authorization server and ``oauth_dovecot`` (e-mail style name,
    the token's ``username``), with the same password on both."""

    name: str
    password: str
    host: str
    port: int
    tls_port: int
    issuer: str


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """One authorization server per test session (settings shared: see ``oauth``)."""
    with server_dir("oauth") as path:
        server = start_server(OAuthServer(path).start)
        yield server
        server.stop()


@pytest.fixture
def oauth(oauth_server: OAuthServer) -> Iterator[OAuthServer]:
    """The session authorization server; its settings go back to the defaults afterwards."""
    oauth_server.reset_settings()
    yield oauth_server
    oauth_server.reset_settings()


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_server: OAuthServer) -> Iterator[Dovecot]:
    """A private Dovecot whose oauth2 passdb introspects tokens at ``oauth_server``."""
    with server_dir("dovecot-oauth") as path:
        url = oauth_server.introspection_url
        server = start_server(Dovecot(path, oauth_introspection_url=url).start)
        yield server
        server.stop()


@pytest.fixture
def oauth_user(oauth_server: OAuthServer, oauth_dovecot: Dovecot) -> OAuthUser:
    """A fresh user (empty mailbox) who can sign in at the server and log in to Dovecot with a
    token or the password."""
    name = f"oauth{next(_ids)}-{secrets.token_hex(3)}@example.com"
    password = secrets.token_hex(8)
    oauth_server.add_user(name, password)
    oauth_dovecot.add_user(name, password)
    host, port, tls_port = oauth_dovecot.host, oauth_dovecot.port, oauth_dovecot.tls_port
    return OAuthUser(name, password, host, port, tls_port, oauth_server.issuer)


@pytest.fixture
def oauth_client(oauth_server: OAuthServer) -> OAuthClient:
    """A fresh public client: authorization code (PKCE), device code and refresh grants,
    redirect ``http://127.0.0.1/callback`` on any port, any scope."""
    client_id = f"app{next(_ids)}-{secrets.token_hex(3)}"
    return oauth_server.add_client(
        client_id, redirect_uris=[LOOPBACK_REDIRECT], grant_types=USER_GRANTS
    )


@pytest.fixture
def oauth_app_client(oauth_server: OAuthServer, oauth_user: OAuthUser) -> OAuthClient:
    """A fresh confidential client with the client_credentials grant whose app-only tokens
    act as ``oauth_user`` (scopes ``IMAP.AccessAsApp SMTP.SendAsApp``)."""
    client_id = f"daemon{next(_ids)}-{secrets.token_hex(3)}"
    return oauth_server.add_client(
        client_id,
        secret=secrets.token_hex(16),
        grant_types=["client_credentials"],
        scope=APP_SCOPE,
        app_user=oauth_user.name,
    )


@pytest.fixture
def make_smtp_oauth(oauth_server: OAuthServer) -> Iterator[Callable[..., OAuthSmtp]]:
    """``make_smtp_oauth(**options)``: start an :class:`OAuthSmtp` on ``oauth_server`` (options
    as its constructor: tls, cert, file_in_sent, failure_style, required_scope); all are
    stopped after the test."""
    started: list[OAuthSmtp] = []

    def make(**options: Any) -> OAuthSmtp:
        server = OAuthSmtp(oauth_server, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_oauth(make_smtp_oauth: Callable[..., OAuthSmtp]) -> OAuthSmtp:
    """A fresh plaintext OAuth-only SMTP server (Gmail-style failures, no filing)."""
    return make_smtp_oauth()
