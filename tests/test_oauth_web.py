""" "Connect with <provider>" on the web page, in a real browser (Debian's Chromium driven by
Playwright) against the web app on a real uvicorn server and the real OAuth 2.0 stack
(tests/oauth_stack.py: the Authlib authorization server, Dovecot checking tokens by
introspection, an OAuth-only SMTP server).

An admin connects a mailbox through the provider's sign-in page (the tokens stored encrypted);
a form that cannot make a mailbox is refused before the provider; a refused consent, a forged
state, a replayed callback and another admin's session store nothing; revoked consent shows
"needs re-authorisation" and the Reconnect button signs the mailbox in again (as its own
account only: another account's token fails the connection test).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, Route

from assistant.clock import SystemClock
from assistant.runtime import Runtime
from assistant.secrets import decrypt
from assistant.service.mailboxes import add_mailbox
from assistant.service.oauth_connect import app_token, mail_urls, resolve, save_grant
from assistant.service.oauth_tokens import NeedsReauth, access_token, mark_needs_reauth
from assistant.settings import DiscoveryConfig, FollowupConfig, WebConfig
from assistant.store.db import store
from assistant.store.models import Mailbox, OAuthGrant, OAuthPending
from assistant.web.app import create_app
from assistant.web.serve import WebServer
from tests.oauth_stack import OAuthUser
from tests.servers import Dovecot, free_port
from tests.servers.oauth import USER_GRANTS, OAuthClient, OAuthServer
from tests.servers.smtp_oauth import OAuthSmtp
from tests.test_oauth import lab_config
from tests.test_web import browser  # noqa: F401  (the fixture: Debian's Chromium)

ADMIN, PASSWORD = "admin@example.com", "correct horse battery"


@dataclass
class Site:
    """The web app on ``base`` (its store open in this process too) and the provider."""

    base: str
    db: Path
    oauth: OAuthServer
    client: OAuthClient
    user: OAuthUser
    smtp: OAuthSmtp
    config: FollowupConfig

    def code_requests(self) -> int:
        """Authorization codes exchanged at the provider so far."""
        return self.oauth.token_requests(self.client.client_id).get("authorization_code", 0)


@pytest.fixture
def web_discovery() -> DiscoveryConfig:
    """The ``[discovery]`` settings of the site (a test module may point them elsewhere)."""
    return DiscoveryConfig()


@pytest.fixture
async def site(
    tmp_path: Path,
    secret_key: str,
    oauth: OAuthServer,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    smtp_oauth: OAuthSmtp,
    web_discovery: DiscoveryConfig,
) -> AsyncIterator[Site]:
    """The web app (uvicorn, in this event loop) with ``[oauth.lab]`` naming the stack, and a
    client registered with the app's own callback as its redirect URI."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = oauth.add_client(
        f"web-{secrets.token_hex(4)}",
        redirect_uris=[f"{base}/oauth/callback"],
        grant_types=USER_GRANTS,
    )
    config = lab_config(oauth, client, oauth_user, smtp_oauth, "xoauth2")
    config = config.model_copy(update={"web": WebConfig(base_url=base), "discovery": web_discovery})
    db = tmp_path / "followup.sqlite3"
    url = f"sqlite://{db}"
    async with store(url):
        server = WebServer(create_app(Runtime(url, tmp_path, config)), "127.0.0.1", port)
        await server.start()
        try:
            yield Site(base, db, oauth, client, oauth_user, smtp_oauth, config)
        finally:
            await server.stop()


async def admin_page(browser: Browser, site: Site) -> Page:  # noqa: F811
    """A browser tab of the first admin (made on /setup, logged in), on /mailboxes."""
    page = await (await browser.new_context()).new_page()
    await page.goto(site.base + "/")
    assert page.url.endswith("/setup")
    await page.fill("#email", ADMIN)
    await page.fill("#password", PASSWORD)
    await page.fill("#confirm", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url == site.base + "/mailboxes"
    return page


async def start_connect(
    page: Page, site: Site, name: str = "lab", team: str = "@team.example"
) -> None:
    """Fill "Connect with Lab" and press it: the browser ends on the provider's sign-in."""
    await fill_connect(page, site, name, team)
    await page.wait_for_url(site.oauth.issuer + "/authorize?*")


async def fill_connect(page: Page, site: Site, name: str, team: str) -> None:
    await page.fill("#oauth-name", name)
    await page.fill("#oauth-address", site.user.name)
    await page.fill("#oauth-team", team)
    await page.fill("#oauth-grace", "0s")
    await page.click("#connect-lab")


async def sign_in(page: Page, site: Site, allow: bool = True, as_user: str = "") -> None:
    """On the provider's page: the user's name and password (``as_user``: another account,
    password ``PASSWORD``), Allow (or Deny); back on /mailboxes."""
    assert site.client.client_id == await page.inner_text("#client")
    await page.fill("#username", as_user or site.user.name)
    await page.fill("#password", PASSWORD if as_user else site.user.password)
    await page.click("#allow" if allow else "#deny")
    await page.wait_for_url(site.base + "/mailboxes?*")


def another_account(site: Site) -> str:
    """A user of the provider who is not the mailbox's (password ``PASSWORD``)."""
    name = f"stranger-{secrets.token_hex(3)}@example.com"
    site.oauth.add_user(name, PASSWORD)
    return name


class LeftOpen(AssertionError):
    """A connection to the SMTP server was left open."""


def close_smtp_left_open(site: Site) -> int:
    """Close this process's connections to the SMTP server that are still open; how many
    (a refused login must leave none: its socket would be a leak)."""
    left = [
        t
        for t in gc.get_objects()
        if isinstance(t, asyncio.Transport)
        and not t.is_closing()
        and (t.get_extra_info("peername") or ("", 0))[1] == site.smtp.port
    ]
    for transport in left:
        transport.close()
    return len(left)


async def nothing_stored() -> None:
    assert await Mailbox.all().count() == 0
    assert await OAuthGrant.all().count() == 0


async def test_an_admin_connects_a_mailbox_through_the_providers_sign_in(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    page = await admin_page(browser, site)
    await start_connect(page, site)
    # The provider was asked for this client's mail scopes, with PKCE and our callback.
    asked = parse_qs(urlsplit(page.url).query)
    assert asked["redirect_uri"] == [site.base + "/oauth/callback"]
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"]
    await sign_in(page, site)
    assert "Connected lab with Lab" in await page.inner_text("#result")
    assert await page.locator("#error").count() == 0
    row = page.locator("#mailboxes tr", has_text=site.user.name.lower())
    assert "lab" in await row.inner_text()
    assert "re-authorisation" not in await row.inner_text()

    box = await Mailbox.get(name="lab")
    assert box.address == site.user.name.lower() and box.grace_seconds == 0
    grant = await OAuthGrant.get(mailbox_id=box.id)
    assert (grant.provider, grant.flow, grant.client_id) == ("lab", "user", site.client.client_id)
    assert grant.refresh_secret and grant.access_secret and grant.needs_reauth_since is None
    refresh = decrypt(grant.refresh_secret)
    assert site.oauth.introspect(refresh, "refresh_token")["active"]  # the provider's own token
    with sqlite3.connect(site.db) as db:
        stored = [str(v) for v in db.execute("SELECT * FROM oauth_grant").fetchone()]
    assert not any(refresh in v or decrypt(grant.access_secret) in v for v in stored)
    assert await OAuthPending.all().count() == 0  # single use: gone once used
    assert site.code_requests() == 1
    # The stored grant gives a token the mail servers accept.
    assert await access_token(box, SystemClock()) == decrypt(grant.access_secret)
    assert site.oauth.introspect(decrypt(grant.access_secret))["active"]

    # The same name again: said at once, not after a sign-in at the provider.
    await fill_connect(page, site, "lab", "@team.example")
    await page.wait_for_url(site.base + "/mailboxes?*")
    assert "a mailbox named 'lab' exists already" in await page.inner_text("#error")
    assert await OAuthPending.all().count() == 0 and site.code_requests() == 1


async def test_consent_denied_at_the_provider_stores_nothing(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    page = await admin_page(browser, site)
    # A form the mailbox could not be made from is refused before anyone signs in anywhere.
    await fill_connect(page, site, "lab", team="nobody")
    await page.wait_for_url(site.base + "/mailboxes?*")
    assert "team pattern 'nobody'" in await page.inner_text("#error")
    assert await OAuthPending.all().count() == 0

    # A browser that does not follow the page's refresh: its "continue here" link goes on.
    refused: list[str] = []

    async def ignore_refresh(route: Route) -> None:
        refused.append(route.request.url)
        await route.abort("aborted")

    await page.route(site.oauth.issuer + "/authorize?*", ignore_refresh)
    await fill_connect(page, site, "lab", "@team.example")
    await page.locator("#continue").wait_for()
    for _ in range(100):  # the refresh is due at once (0 s)
        if refused:
            break
        await page.wait_for_timeout(50)
    assert await page.title() == "Sign in with Lab · Followup"
    await page.unroute(site.oauth.issuer + "/authorize?*")
    await page.click("#continue")
    await page.wait_for_url(site.oauth.issuer + "/authorize?*")
    assert page.url == refused[0]
    await sign_in(page, site, allow=False)
    error = await page.inner_text("#error")
    assert "The provider refused the sign-in: access_denied" in error
    assert await page.locator("#result").count() == 0
    assert await page.locator("#mailboxes").count() == 0  # no mailbox listed
    await nothing_stored()
    assert await OAuthPending.all().count() == 0
    assert site.code_requests() == 0


async def test_a_forged_or_replayed_callback_is_refused(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    page = await admin_page(browser, site)
    message = "This sign-in was not started here (or was already used)."

    # A state never issued (with a code of the provider for this very client).
    forged_code = site.oauth.authorize(
        site.client,
        site.user.name,
        redirect_uri=site.base + "/oauth/callback",
        code_challenge="x" * 43,
    )["code"]
    await page.goto(f"{site.base}/oauth/callback?code={forged_code}&state=never-issued")
    assert page.url.startswith(site.base + "/mailboxes?")
    assert await page.inner_text("#error") == message
    await nothing_stored()
    assert site.code_requests() == 0  # refused before anything was asked of the provider

    # A real sign-in; its callback address, used a second time.
    callbacks: list[str] = []
    page.on(
        "request",
        lambda r: callbacks.append(r.url) if r.url.startswith(site.base + "/oauth/") else None,
    )
    await start_connect(page, site)
    await sign_in(page, site)
    assert "Connected lab" in await page.inner_text("#result")
    (callback,) = callbacks
    await page.goto(callback)
    assert await page.inner_text("#error") == message
    assert await Mailbox.all().count() == 1 and await OAuthGrant.all().count() == 1
    assert site.code_requests() == 1  # the replayed code never reached the provider

    # A sign-in started by one admin cannot be finished in another admin's session.
    await page.goto(site.base + "/people")
    await page.fill("#email", "other@example.com")
    await page.select_option("#role", "admin")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert "can log in now" in await page.inner_text("#message")
    await page.goto(site.base + "/mailboxes")
    held: list[str] = []

    async def hold(route: Route) -> None:  # the provider's way back, kept instead of followed
        answer = await route.fetch(max_redirects=0)
        held.append(answer.headers["location"])
        await route.fulfill(status=200, body="held")

    await start_connect(page, site, name="second")
    await page.route(site.oauth.issuer + "/authorize?*", hold)
    await page.fill("#username", site.user.name)
    await page.fill("#password", site.user.password)
    await page.click("#allow")
    await page.get_by_text("held").wait_for()
    assert held and held[0].startswith(site.base + "/oauth/callback?code=")
    other = await (await browser.new_context()).new_page()
    await other.goto(site.base + "/login")
    await other.fill("#email", "other@example.com")
    await other.fill("#password", PASSWORD)
    await other.click("button[type=submit]")
    await other.goto(held[0])
    assert await other.inner_text("#error") == message
    assert await Mailbox.all().count() == 1 and site.code_requests() == 1
    # ...which leaves it to the admin who started it.
    await page.goto(held[0])
    assert "Connected second" in await page.inner_text("#result")
    assert await Mailbox.all().count() == 2 and site.code_requests() == 2


async def test_revoked_consent_shows_reauthorisation_and_reconnect_signs_in_again(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    site.oauth.set_lifetimes(access=2)  # used for 1 s, then refreshed
    page = await admin_page(browser, site)
    await start_connect(page, site)
    await sign_in(page, site)
    assert "Connected lab" in await page.inner_text("#result")
    box = await Mailbox.get(name="lab")

    assert site.oauth.revoke_user(site.user.name) == 1  # the user withdraws consent
    await asyncio.sleep(1.2)  # and the access token is due for a refresh
    with pytest.raises(NeedsReauth):
        await access_token(box, SystemClock())
    await page.goto(site.base + "/mailboxes")
    notice = page.locator("#mailboxes .reauth")
    assert "needs re-authorisation (invalid_grant" in await notice.inner_text()

    site.oauth.set_lifetimes(access=3600)
    # Signing in as another account is not a reconnection: the mail servers refuse its token.
    await page.click("#reconnect-lab")
    await page.wait_for_url(site.oauth.issuer + "/authorize?*")
    await sign_in(page, site, as_user=another_account(site))
    assert "connection test failed" in await page.inner_text("#error")
    assert "needs re-authorisation" in await notice.inner_text()
    with pytest.raises(NeedsReauth):
        await access_token(box, SystemClock())

    await page.click("#reconnect-lab")
    await page.wait_for_url(site.oauth.issuer + "/authorize?*")
    await sign_in(page, site)
    assert "Reconnected lab" in await page.inner_text("#result")
    assert await notice.count() == 0
    assert await page.locator("#reconnect-lab").count() == 0
    token = await access_token(box, SystemClock())
    assert site.oauth.introspect(token)["active"]
    assert await Mailbox.all().count() == 1 and site.code_requests() == 3


async def test_a_refused_connection_test_leaves_no_smtp_connection(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    page = await admin_page(browser, site)
    await start_connect(page, site)
    await sign_in(page, site, as_user=another_account(site))  # not the mailbox's account
    assert "signed in, but the connection test failed" in await page.inner_text("#error")
    await nothing_stored()
    if close_smtp_left_open(site):
        raise LeftOpen("the refused SMTP login's connection is still open")


async def test_an_app_only_mailbox_reconnects_without_a_person(
    site: Site,
    browser: Browser,  # noqa: F811
    oauth_app_client: OAuthClient,
) -> None:
    """App-only access (a shared mailbox) has no person to sign in: Reconnect asks the
    provider for a new client-credentials token, tests it and stores it."""
    site.config.oauth["app"] = site.config.oauth["lab"].model_copy(
        update={
            "client_id": oauth_app_client.client_id,
            "client_secret": oauth_app_client.secret,
            "app_scope": "IMAP.AccessAsApp SMTP.SendAsApp",
        }
    )
    client = await resolve("app", site.config)
    imap, smtp = mail_urls(client, site.user.name)
    box = await add_mailbox(
        "shared", site.user.name, imap, smtp, ["@team.example"], None, 0, datetime.now(UTC), None
    )
    grant = await save_grant(box, client, "app", await app_token(client), SystemClock())
    await mark_needs_reauth(box, grant, "invalid_client: the secret expired", SystemClock())
    page = await admin_page(browser, site)
    await page.click("#reconnect-shared")
    await page.wait_for_url(site.base + "/mailboxes?*")
    assert "Reconnected shared (app-only access)" in await page.inner_text("#result")
    assert site.oauth.token_requests(oauth_app_client.client_id)["client_credentials"] == 2
    assert (await OAuthGrant.get(mailbox_id=box.id)).needs_reauth_since is None
    assert site.oauth.introspect(await access_token(box, SystemClock()))["active"]
