"""The OAuth 2.0 test stack is real: an Authlib authorization server in its own process, Dovecot
checking bearer tokens by introspection, an OAuth-only SMTP server filing into Sent."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiosmtplib
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.async_api import Route, async_playwright

from tests.oauth_stack import OAuthUser
from tests.servers import Dovecot, make_self_signed_cert, server_dir
from tests.servers.oauth import (
    APP_SCOPE,
    DEVICE_CODE,
    OAuthClient,
    OAuthError,
    OAuthServer,
    http_request,
    pkce_pair,
)
from tests.servers.smtp_oauth import OAuthSmtp, SentFiling, header_value, rewrite_message_id


def imap_token_login(dovecot: Dovecot, user: str, token: str, mechanism: str = "XOAUTH2") -> bool:
    """Log in to Dovecot with a bearer token; True when it was accepted."""
    imap = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10)
    try:
        if mechanism == "XOAUTH2":
            imap.oauth2_login(user, token)
        else:
            imap.oauthbearer_login(user, token)
    except LoginError:
        return False
    finally:
        imap.shutdown()
    return True


def claims(token: str, oauth: OAuthServer) -> dict[str, Any]:
    """The claims of a JWT access token, its RS256 signature checked with the published JWKS."""
    keys = KeySet.import_key_set(http_request("GET", oauth.url("/jwks.json")).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    return dict(decoded.claims)


def outgoing(user: str, key: str = "k-1") -> EmailMessage:
    message = EmailMessage()
    message["From"] = user
    message["To"] = "client@client.test"
    message["Subject"] = "Re: Order 1234"
    message["Message-ID"] = f"<{key}@followup.test>"
    message["X-Followup-Key"] = key
    message.set_content("We got your message.\n")
    return message


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


# -- authorization server ------------------------------------------------------------------------


def test_discovery_documents(oauth_server: OAuthServer) -> None:
    oidc = http_request("GET", oauth_server.url("/.well-known/openid-configuration")).json()
    rfc8414 = http_request("GET", oauth_server.url("/.well-known/oauth-authorization-server"))
    assert rfc8414.json() == oidc
    assert oidc["issuer"] == oauth_server.issuer == f"http://127.0.0.1:{oauth_server.port}"
    for name, path in {
        "authorization_endpoint": "/authorize",
        "token_endpoint": "/token",
        "device_authorization_endpoint": "/device_authorization",
        "revocation_endpoint": "/revoke",
        "introspection_endpoint": "/introspect",
        "jwks_uri": "/jwks.json",
    }.items():
        assert oidc[name] == oauth_server.url(path)
    AuthorizationServerMetadata(oidc).validate()
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert DEVICE_CODE in oidc["grant_types_supported"]
    keys = http_request("GET", oidc["jwks_uri"]).json()["keys"]
    assert [(k["kty"], "d" in k) for k in keys] == [("RSA", False)]


def test_authorization_code_with_pkce(
    oauth: OAuthServer, oauth_user: OAuthUser, oauth_client: OAuthClient
) -> None:
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:54321/callback"  # registered without a port: loopback rule
    params = oauth.authorize(
        oauth_client, oauth_user.name, code_challenge=challenge, redirect_uri=redirect, state="s1"
    )
    assert params["state"] == "s1" and params["code"]
    exchange = {"grant_type": "authorization_code", "code": params["code"]}
    exchange |= {"redirect_uri": redirect, "code_verifier": "x" * 43}
    with pytest.raises(OAuthError) as wrong_verifier:
        oauth.token(exchange, oauth_client)
    assert wrong_verifier.value.error == "invalid_grant"
    tokens = oauth.token(exchange | {"code_verifier": verifier}, oauth_client)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    found = claims(tokens["access_token"], oauth)
    assert found["sub"] == found["username"] == found["email"] == oauth_user.name
    assert found["iss"] == oauth.issuer and found["client_id"] == oauth_client.client_id
    assert found["exp"] - found["iat"] == tokens["expires_in"] == 3600
    with pytest.raises(OAuthError) as reused:  # a code is good once
        oauth.token(exchange | {"code_verifier": verifier}, oauth_client)
    assert reused.value.error == "invalid_grant"


def test_authorize_page_refusals(
    oauth: OAuthServer, oauth_user: OAuthUser, oauth_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    page = http_request("GET", oauth.url("/authorize?response_type=code&client_id=nobody"))
    assert page.status == 400 and "Location" not in page.headers
    with pytest.raises(OAuthError) as foreign:  # unregistered redirect: no redirect at all
        oauth.authorize(oauth_client, oauth_user.name, redirect_uri="http://evil.test/cb")
    assert foreign.value.status == 400
    no_pkce = oauth.authorize(oauth_client, oauth_user.name)  # public client without PKCE
    assert no_pkce["error"] == "invalid_request"
    denied = oauth.authorize(oauth_client, oauth_user.name, code_challenge=challenge, allow=False)
    assert denied["error"] == "access_denied" and "code" not in denied
    form_page = http_request("GET", oauth.url("/authorize?") + _authorize_query(oauth_client))
    assert all(f'id="{name}"' in form_page.text for name in ("username", "password", "allow"))
    with pytest.raises(OAuthError, match="authorize_refused"):
        oauth.authorize(oauth_client, oauth_user.name, "wrong", code_challenge=challenge)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_sign_in_with_chromium(
    oauth_server: OAuthServer, oauth_user: OAuthUser, oauth_client: OAuthClient
) -> None:
    assert CHROMIUM, "Debian's chromium is not installed: run scripts/test.sh as root"
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:8123/callback"
    query = {"response_type": "code", "client_id": oauth_client.client_id, "state": "st"}
    query |= {"redirect_uri": redirect, "scope": "IMAP.AccessAsUser.All offline_access"}
    query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    callbacks: list[str] = []

    async def callback(route: Route) -> None:  # the app's loopback listener
        callbacks.append(route.request.url)
        await route.fulfill(body="signed in")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page()
        await page.route("http://127.0.0.1:8123/**", callback)
        await page.goto(oauth_server.url("/authorize?" + urlencode(query)))
        await page.fill("#username", oauth_user.name)
        await page.fill("#password", oauth_user.password)
        await page.click("#allow")
        await page.wait_for_url("http://127.0.0.1:8123/**")
        await browser.close()
    params = parse_qs(urlsplit(callbacks[0]).query)
    assert params["state"] == ["st"]
    form = {"grant_type": "authorization_code", "code": params["code"][0]}
    form |= {"redirect_uri": redirect, "code_verifier": verifier}
    tokens = oauth_server.token(form, oauth_client)
    assert oauth_server.introspect(tokens["access_token"])["username"] == oauth_user.name


def _authorize_query(client: OAuthClient) -> str:
    _, challenge = pkce_pair()
    return (
        f"response_type=code&client_id={client.client_id}&code_challenge={challenge}"
        "&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback"
    )


def test_confidential_client_code_flow(oauth: OAuthServer, oauth_user: OAuthUser) -> None:
    client = oauth.add_client(
        "webapp-confidential",
        secret="s3cret",
        redirect_uris=["https://app.test/cb"],
        grant_types=["authorization_code", "refresh_token"],
    )
    tokens = oauth.authorization_code_flow(client, oauth_user.name)
    assert oauth.introspect(tokens["access_token"])["username"] == oauth_user.name
    with pytest.raises(OAuthError) as bad_secret:
        oauth.refresh(OAuthClient(client.client_id, "wrong"), tokens["refresh_token"])
    assert bad_secret.value.error == "invalid_client"


def test_device_flow(oauth: OAuthServer, oauth_user: OAuthUser, oauth_client: OAuthClient) -> None:
    started = oauth.device_authorization(oauth_client)
    assert started["verification_uri"] == oauth.url("/device") and started["interval"] == 1
    errors = []
    for _ in range(2):  # the second poll comes too fast
        with pytest.raises(OAuthError) as pending:
            oauth.poll_device(oauth_client, started["device_code"])
        errors.append(pending.value.error)
    assert errors == ["authorization_pending", "slow_down"]
    page = http_request("GET", started["verification_uri_complete"])
    assert started["user_code"] in page.text and 'id="allow"' in page.text
    assert oauth.approve_device(started["user_code"], oauth_user.name, "wrong").status == 401
    assert oauth.approve_device(started["user_code"], oauth_user.name).status == 200
    tokens = oauth.poll_device(oauth_client, started["device_code"])
    assert claims(tokens["access_token"], oauth)["username"] == oauth_user.name
    with pytest.raises(OAuthError):  # the device code is used up
        oauth.poll_device(oauth_client, started["device_code"])

    denied = oauth.device_authorization(oauth_client)
    oauth.approve_device(denied["user_code"], oauth_user.name, allow=False)
    with pytest.raises(OAuthError) as refused:
        oauth.poll_device(oauth_client, denied["device_code"])
    assert refused.value.error == "access_denied"

    oauth.set_lifetimes(device_code=1)
    expiring = oauth.device_authorization(oauth_client)
    assert expiring["expires_in"] == 1
    time.sleep(1.1)
    with pytest.raises(OAuthError) as expired:
        oauth.poll_device(oauth_client, expiring["device_code"])
    assert expired.value.error == "expired_token"


def test_client_credentials(
    oauth: OAuthServer,
    oauth_user: OAuthUser,
    oauth_app_client: OAuthClient,
    oauth_client: OAuthClient,
    oauth_dovecot: Dovecot,
) -> None:
    tokens = oauth.app_token(oauth_app_client)
    assert "refresh_token" not in tokens and tokens["scope"] == APP_SCOPE
    found = claims(tokens["access_token"], oauth)
    assert found["sub"] == found["username"] == oauth_user.name
    assert found["client_id"] == oauth_app_client.client_id
    assert imap_token_login(oauth_dovecot, oauth_user.name, tokens["access_token"])
    with pytest.raises(OAuthError) as bad_scope:
        oauth.app_token(oauth_app_client, scope="Mail.ReadWrite")
    assert bad_scope.value.error == "invalid_scope"
    with pytest.raises(OAuthError):  # a public client has no app-only access
        oauth.token({"grant_type": "client_credentials"}, oauth_client)
    assert oauth.revoke_client(oauth_app_client.client_id) == 1
    assert oauth.introspect(tokens["access_token"]) == {"active": False}


def test_refresh_rotates_and_is_counted(oauth: OAuthServer, oauth_user: OAuthUser) -> None:
    client = oauth.add_client(f"rot-{oauth_user.name}", grant_types=["password", "refresh_token"])
    first = oauth.user_token(oauth_user.name, client=client)
    second = oauth.refresh(client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert claims(second["access_token"], oauth)["username"] == oauth_user.name
    with pytest.raises(OAuthError) as reused:
        oauth.refresh(client, first["refresh_token"])
    assert reused.value.error == "invalid_grant"
    assert oauth.token_requests(client.client_id) == {"password": 1, "refresh_token": 2}
    oauth.set_behaviour(token_delay=0.3)
    started = time.monotonic()
    second = oauth.refresh(client, second["refresh_token"])
    assert time.monotonic() - started >= 0.3

    oauth.set_behaviour(rotate_refresh_tokens=False)
    third = oauth.refresh(client, second["refresh_token"])
    assert "refresh_token" not in third
    oauth.refresh(client, second["refresh_token"])  # still good
    assert oauth.introspect(second["refresh_token"], "refresh_token")["active"] is True


def test_expired_token_is_refused_by_dovecot(
    oauth: OAuthServer, oauth_user: OAuthUser, oauth_dovecot: Dovecot
) -> None:
    oauth.set_lifetimes(access=2)
    tokens = oauth.user_token(oauth_user.name)
    assert tokens["expires_in"] == 2
    assert imap_token_login(oauth_dovecot, oauth_user.name, tokens["access_token"])
    time.sleep(2.1)
    assert oauth.introspect(tokens["access_token"]) == {"active": False}
    assert not imap_token_login(oauth_dovecot, oauth_user.name, tokens["access_token"])
    fresh = oauth.refresh(oauth.test_client, tokens["refresh_token"])
    assert imap_token_login(oauth_dovecot, oauth_user.name, fresh["access_token"], "OAUTHBEARER")


async def test_revoked_user_is_refused_everywhere(
    oauth: OAuthServer, oauth_user: OAuthUser, oauth_dovecot: Dovecot, smtp_oauth: OAuthSmtp
) -> None:
    tokens = oauth.user_token(oauth_user.name)
    assert oauth.revoke_user(oauth_user.name) == 1
    with pytest.raises(OAuthError) as refresh:
        oauth.refresh(oauth.test_client, tokens["refresh_token"])
    assert refresh.value.error == "invalid_grant"
    assert oauth.introspect(tokens["access_token"]) == {"active": False}
    assert not imap_token_login(oauth_dovecot, oauth_user.name, tokens["access_token"])
    async with aiosmtplib.SMTP(
        hostname=smtp_oauth.host, port=smtp_oauth.port, start_tls=False
    ) as smtp:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await smtp.auth_xoauth2(oauth_user.name, tokens["access_token"])
    assert refused.value.code == 535
    assert [a.reason for a in smtp_oauth.auth_attempts] == ["invalid_token"]


def test_rfc7009_revocation(oauth: OAuthServer, oauth_user: OAuthUser) -> None:
    tokens = oauth.user_token(oauth_user.name)
    oauth.revoke(tokens["access_token"], oauth.test_client)
    assert oauth.introspect(tokens["access_token"]) == {"active": False}
    assert oauth.refresh(oauth.test_client, tokens["refresh_token"])["access_token"]
    other = oauth.user_token(oauth_user.name)
    oauth.revoke(other["refresh_token"], oauth.test_client, "refresh_token")
    assert oauth.introspect(other["access_token"]) == {"active": False}  # the whole grant


# -- Dovecot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_dovecot_accepts_tokens(
    oauth_server: OAuthServer, oauth_user: OAuthUser, oauth_dovecot: Dovecot, mechanism: str
) -> None:
    token = oauth_server.user_token(oauth_user.name)["access_token"]
    assert imap_token_login(oauth_dovecot, oauth_user.name, token, mechanism)
    assert not imap_token_login(oauth_dovecot, oauth_user.name, "garbage", mechanism)
    with oauth_dovecot.client(oauth_user.name, oauth_user.password) as imap:  # passwords too
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_dovecot_token_must_name_the_user(
    oauth_server: OAuthServer, oauth_user: OAuthUser, oauth_dovecot: Dovecot
) -> None:
    other = "someone-else@example.com"
    oauth_server.add_user(other, "pw")
    token = oauth_server.user_token(other)["access_token"]
    assert not imap_token_login(oauth_dovecot, oauth_user.name, token)
    assert not imap_token_login(oauth_dovecot, oauth_user.name, oauth_user.password)


# -- SMTP ----------------------------------------------------------------------------------------


async def test_smtp_xoauth2_delivers(
    oauth_server: OAuthServer, oauth_user: OAuthUser, smtp_oauth: OAuthSmtp
) -> None:
    token = oauth_server.user_token(oauth_user.name)["access_token"]
    async with aiosmtplib.SMTP(
        hostname=smtp_oauth.host, port=smtp_oauth.port, start_tls=False
    ) as smtp:
        await smtp.ehlo()
        assert sorted(smtp.server_auth_methods) == ["oauthbearer", "xoauth2"]
        mail = await smtp.execute_command(b"MAIL", b"FROM:<" + oauth_user.name.encode() + b">")
        assert mail.code == 530  # AUTH first
        await smtp.auth_xoauth2(oauth_user.name, token)
        await smtp.send_message(outgoing(oauth_user.name))
    (received,) = smtp_oauth.wait_for(1)
    assert received.login == oauth_user.name and received.rcpt_tos == ("client@client.test",)
    assert received.message["X-Followup-Key"] == "k-1"


async def test_smtp_oauthbearer_and_failures(
    oauth_server: OAuthServer, oauth_user: OAuthUser, make_smtp_oauth: Callable[..., OAuthSmtp]
) -> None:
    token = oauth_server.user_token(oauth_user.name)["access_token"]
    gmail = make_smtp_oauth()
    async with aiosmtplib.SMTP(hostname=gmail.host, port=gmail.port, start_tls=False) as smtp:
        await smtp.ehlo()
        wrong = b64(b"n,a=" + oauth_user.name.encode() + b",\x01auth=Bearer garbage\x01\x01")
        challenge = await smtp.execute_command(b"AUTH", b"OAUTHBEARER", wrong)
        assert challenge.code == 334
        assert json.loads(base64.b64decode(challenge.message))["status"] == "invalid_token"
        final = await smtp.execute_command(b"AQ==")
        assert (final.code, final.message[:5]) == (535, "5.7.8")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as xoauth2:
            await smtp.auth_xoauth2("someone-else@example.com", token)
        assert xoauth2.value.code == 535
        sasl = f"n,a={oauth_user.name},\x01auth=Bearer {token}\x01\x01".encode()
        accepted = await smtp.execute_command(b"AUTH", b"OAUTHBEARER", b64(sasl))
        assert accepted.code == 235
        await smtp.send_message(outgoing(oauth_user.name))
    assert gmail.wait_for(1)[0].login == oauth_user.name
    reasons = [(a.mechanism, a.reason) for a in gmail.auth_attempts]
    assert reasons[:2] == [("OAUTHBEARER", "invalid_token"), ("XOAUTH2", "user_mismatch")]

    microsoft = make_smtp_oauth(failure_style="microsoft")
    async with aiosmtplib.SMTP(
        hostname=microsoft.host, port=microsoft.port, start_tls=False
    ) as smtp:
        await smtp.ehlo()
        answer = await smtp.execute_command(
            b"AUTH", b"XOAUTH2", b64(b"user=x\x01auth=Bearer garbage\x01\x01")
        )
        assert (answer.code, answer.message) == (535, "5.7.3 Authentication unsuccessful")


async def _send(server: OAuthSmtp, user: str, token: str, message: EmailMessage) -> None:
    async with aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False) as smtp:
        await smtp.auth_xoauth2(user, token)
        await smtp.send_message(message)


def _sent_headers(dovecot: Dovecot, user: str) -> list[bytes]:
    with dovecot.client(user) as imap:
        imap.select_folder("Sent", readonly=True)
        uids = imap.search(["ALL"])
        fetched = imap.fetch(uids, [b"BODY.PEEK[HEADER]"]) if uids else {}
    return [fetched[uid][b"BODY[HEADER]"] for uid in uids]


async def test_smtp_files_into_sent(
    oauth_server: OAuthServer,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    make_smtp_oauth: Callable[..., OAuthSmtp],
) -> None:
    server = make_smtp_oauth(file_in_sent=SentFiling(oauth_dovecot))
    token = oauth_server.user_token(oauth_user.name)["access_token"]
    await _send(server, oauth_user.name, token, outgoing(oauth_user.name, "k-sent"))
    (copy,) = server.wait_filed(1)
    assert (copy.user, copy.folder) == (oauth_user.name, "Sent")
    assert copy.message_id == copy.original_message_id == "<k-sent@followup.test>"
    (header,) = _sent_headers(oauth_dovecot, oauth_user.name)
    assert header_value(header, "Message-ID") == "<k-sent@followup.test>"


async def test_smtp_files_late_with_a_new_message_id(
    oauth_server: OAuthServer,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    make_smtp_oauth: Callable[..., OAuthSmtp],
) -> None:
    filing = SentFiling(oauth_dovecot, delay=0.7, rewrite_message_id=True)
    server = make_smtp_oauth(file_in_sent=filing)
    token = oauth_server.user_token(oauth_user.name)["access_token"]
    await _send(server, oauth_user.name, token, outgoing(oauth_user.name, "k-late"))
    assert server.filed == [] and _sent_headers(oauth_dovecot, oauth_user.name) == []
    (copy,) = server.wait_filed(1, timeout=5)
    assert copy.original_message_id == "<k-late@followup.test>"
    assert copy.message_id and copy.message_id.endswith(".prod.outlook.com>")
    (header,) = _sent_headers(oauth_dovecot, oauth_user.name)
    assert header_value(header, "Message-ID") == copy.message_id
    assert header_value(header, "X-Followup-Key") == "k-late"


def test_rewrite_message_id_keeps_every_other_byte() -> None:
    raw = b"From: a@b.test\r\nMessage-Id:\r\n <old@x>\r\nX-Followup-Key: k\r\n\r\nBody\r\n"
    new = rewrite_message_id(raw, "<new@y>")
    assert new == b"From: a@b.test\r\nMessage-ID: <new@y>\r\nX-Followup-Key: k\r\n\r\nBody\r\n"
    added = rewrite_message_id(b"Subject: s\n\nBody\n", "<n@y>")
    assert added == b"Subject: s\nMessage-ID: <n@y>\n\nBody\n"


async def test_smtp_starttls_offers_auth_after_tls(
    oauth_server: OAuthServer, oauth_user: OAuthUser, make_smtp_oauth: Callable[..., OAuthSmtp]
) -> None:
    with server_dir("smtp-oauth-tls") as path:
        cert = make_self_signed_cert(path)
        server = make_smtp_oauth(tls="starttls", cert=cert)
        token = oauth_server.user_token(oauth_user.name)["access_token"]
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            start_tls=False,
            tls_context=cert.client_context(),
        )
        async with smtp:
            await smtp.ehlo()
            assert smtp.server_auth_methods == []  # not before STARTTLS, like port 587
            await smtp.starttls()
            await smtp.auth_xoauth2(oauth_user.name, token)
            await smtp.send_message(outgoing(oauth_user.name))
    assert server.wait_for(1)[0].login == oauth_user.name
