"""The scale-out mode on an OAuth2 mailbox: `followup watch --workers 1` (IDLE on asyncio) and
`followup worker` (arq), PostgreSQL and Redis, tokens that live 4 seconds: every client is
acknowledged once, also after the token IDLE logged in with died and the server dropped it."""

from __future__ import annotations

import asyncio
import os
import secrets
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.clock import SystemClock
from assistant.service.mailboxes import add_mailbox
from assistant.service.oauth_connect import device_grant, mail_urls, resolve, save_grant
from assistant.settings import load_config
from assistant.store.db import store
from tests.oauth_stack import OAuthUser
from tests.servers import Dovecot, Postgres
from tests.servers.oauth import USER_SCOPE, OAuthClient, OAuthServer
from tests.servers.redis import Redis
from tests.servers.smtp_oauth import OAuthSmtp
from tests.test_scale import Fleet
from tests.test_sync import mail


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_scale_out_watches_and_acknowledges_an_oauth_mailbox(
    tmp_path: Path,
    secret_key: str,
    oauth: OAuthServer,
    oauth_client: OAuthClient,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    smtp_oauth: OAuthSmtp,
    postgres: Postgres,
    redis: Redis,
) -> None:
    oauth.set_lifetimes(access=4, device_interval=1)
    settings = tmp_path / "followup.toml"
    settings.write_text(
        textwrap.dedent(
            f"""
            [scale]
            poll_seconds = 600   # only IDLE can make the acknowledgements this quick
            lease_seconds = 3
            [oauth.lab]
            client_id = "{oauth_client.client_id}"
            issuer = "{oauth.issuer}"
            scope = "{USER_SCOPE}"
            imap = "imap://{oauth_user.host}:{oauth_user.port}"
            smtp = "smtp://{smtp_oauth.host}:{smtp_oauth.port}"
            """
        )
    )
    url = postgres.new_database(f"oauth_{secrets.token_hex(3)}")
    async with store(url):
        client = await resolve("lab", load_config(settings))
        token = await device_grant(
            client, lambda _u, code: oauth.approve_device(code, oauth_user.name)
        )
        imap, smtp = mail_urls(client, oauth_user.name)
        now = datetime.now(UTC)
        box = await add_mailbox(
            "lab", oauth_user.name, imap, smtp, ["@t.example"], None, 0, now, None
        )
        await save_grant(box, client, "device", token, SystemClock())
    env = {
        "FOLLOWUP_DATABASE_URL": url,
        "FOLLOWUP_REDIS_URL": redis.url,
        "FOLLOWUP_SECRET_KEY": secret_key,
    }
    fleet = Fleet({**os.environ, **env}, settings, tmp_path)
    fleet.env.pop("FOLLOWUP_SECRET_KEY_FILE", None)
    try:
        fleet.start("watcher", "watch", "--workers", "1")
        fleet.start("worker", "worker")
        await asyncio.sleep(4)  # the watcher takes the lease and logs in

        def client_mail(mid: str) -> None:
            raw = mail(mid, f"c-{mid}", "Help please", to=oauth_user.name)
            oauth_dovecot.append(oauth_user.name, "INBOX", raw, msg_time=datetime.now(UTC))

        client_mail("s1@outside.example")
        smtp_oauth.wait_for(1, timeout=40)
        await asyncio.sleep(4.5)  # every token handed out so far has expired
        oauth_dovecot.doveadm("kick", oauth_user.name)  # IDLE connections dropped
        await asyncio.sleep(2)
        client_mail("s2@outside.example")
        smtp_oauth.wait_for(2, timeout=40)
    finally:
        fleet.stop_all()
    answered = sorted(str(m.message["In-Reply-To"]) for m in smtp_oauth.messages)
    assert answered == ["<s1@outside.example>", "<s2@outside.example>"]
    assert oauth.token_requests(oauth_client.client_id).get("refresh_token", 0) >= 1
