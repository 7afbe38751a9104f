"""OAuth2 mailboxes end to end on the real stack: the Authlib authorization server, Dovecot's
oauth2 passdb and an OAuth-only SMTP server (tests/oauth_stack.py), all on loopback.

Connect by the device grant (command line and in process), app-only access, tokens expiring
between passes, during IDLE and refused early, one refresh at a time across processes, and
revoked consent: stop cleanly, say it once, resume after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from assistant.clock import FixedClock, SystemClock
from assistant.mail.idle import watch_folder
from assistant.mail.imap import ConnectError
from assistant.runtime import Environment, Runtime
from assistant.secrets import decrypt
from assistant.service import credentials
from assistant.service.deliver import DeliveryReport
from assistant.service.http import store_health
from assistant.service.mailboxes import add_mailbox, summaries
from assistant.service.oauth_connect import device_grant, mail_urls, resolve, save_grant
from assistant.service.oauth_tokens import NeedsReauth
from assistant.service.pipeline import deliverer_for, mailbox_policy, sync_and_plan
from assistant.settings import FollowupConfig, OAuthClientConfig
from assistant.store.db import store
from assistant.store.models import Mailbox, OAuthGrant, OutboxItem, User
from tests.conftest import reap
from tests.oauth_stack import OAuthUser
from tests.servers import Dovecot, SmtpSink
from tests.servers.oauth import DEVICE_CODE, USER_SCOPE, OAuthClient, OAuthServer
from tests.servers.smtp_oauth import OAuthSmtp, SentFiling
from tests.test_sync import mail

ROOT = Path(__file__).resolve().parents[1]
FOLLOWUP = [str(Path(sys.executable).parent / "followup")]


def lab_config(
    oauth: OAuthServer, client: OAuthClient, user: OAuthUser, smtp: OAuthSmtp, sasl: str
) -> FollowupConfig:
    """Settings naming the test stack as provider ``lab``."""
    return FollowupConfig(
        oauth={
            "lab": OAuthClientConfig(
                client_id=client.client_id,
                client_secret=client.secret,
                issuer=oauth.issuer,
                scope=USER_SCOPE,
                sasl=sasl,  # type: ignore[arg-type]
                imap=f"imap://{user.host}:{user.port}",
                smtp=f"smtp://{smtp.host}:{smtp.port}",
            )
        }
    )


def cli_settings(
    tmp_path: Path,
    cli_env: dict[str, str],
    oauth: OAuthServer,
    client_id: str,
    user: OAuthUser,
    smtp: OAuthSmtp,
) -> dict[str, str]:
    """The environment of `followup` commands whose settings name the stack as ``lab``."""
    settings = tmp_path / "followup.toml"
    settings.write_text(
        textwrap.dedent(
            f"""
            [oauth.lab]
            client_id = "{client_id}"
            issuer = "{oauth.issuer}"
            scope = "{USER_SCOPE}"
            imap = "imap://{user.host}:{user.port}"
            smtp = "smtp://{smtp.host}:{smtp.port}"
            """
        )
    )
    return {**cli_env, "FOLLOWUP_CONFIG": str(settings), "PYTHONUNBUFFERED": "1"}


def add_by_oauth(
    env: dict[str, str], user: OAuthUser, how: str, *more: str
) -> subprocess.Popen[str]:
    """`followup mailbox add lab --oauth lab --sign-in HOW`, its output piped."""
    command = ["mailbox", "add", "lab", "--address", user.name, "--oauth", "lab"]
    command += ["--sign-in", how, "--team", "@team.example", *more]
    return subprocess.Popen(
        [*FOLLOWUP, *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@dataclass
class Lab:
    """One OAuth mailbox on the stack, and a way to run `followup run`'s passes on it."""

    url: str
    oauth: OAuthServer
    client: OAuthClient
    user: OAuthUser
    dovecot: Dovecot
    smtp: OAuthSmtp
    config: FollowupConfig
    mailbox: Mailbox | None = None

    def runtime(self, later: float = 0.0) -> Runtime:
        """A runtime whose clock stands ``later`` seconds from now (the test process's
        environment read as an entry point reads it)."""
        now = datetime.now(UTC) + timedelta(seconds=later)
        hosts = Environment.read().self_filing_hosts
        clock = FixedClock(now)
        return Runtime(self.url, Path("."), self.config, clock=clock, self_filing_hosts=hosts)

    async def connect(self, name: str = "lab") -> Mailbox:
        """Sign in by the device grant (approved on the server's page, as a person would)."""
        client = await resolve("lab", self.config)

        def approve(uri: str, code: str) -> None:
            assert uri.startswith(self.oauth.issuer)
            self.oauth.approve_device(code, self.user.name, self.user.password)

        token = await device_grant(client, approve)
        imap, smtp = mail_urls(client, self.user.name)
        now = datetime.now(UTC)
        box = await add_mailbox(
            name, self.user.name, imap, smtp, ["@team.example"], None, 0, now, None
        )
        await save_grant(box, client, "device", token, self.runtime().clock)
        self.mailbox = box
        await self.cycle()  # the first sync: what is in the mailbox now is history
        return box

    def client_mail(self, mid: str, sender: str = "client@outside.example") -> None:
        raw = mail(mid, sender, f"Question {mid}", to=self.user.name)
        self.dovecot.append(self.user.name, "INBOX", raw, msg_time=datetime.now(UTC))

    async def cycle(self, later: float = 0.0) -> DeliveryReport:
        assert self.mailbox is not None
        runtime = self.runtime(later)
        mailbox = await Mailbox.get(id=self.mailbox.id)
        await sync_and_plan(runtime, mailbox, runtime.clock.now())
        policy = await mailbox_policy(runtime, mailbox)
        deliverer = deliverer_for(runtime, mailbox, policy)
        return await deliverer.deliver_due(runtime.clock.now())

    def refreshes(self) -> int:
        return self.oauth.token_requests(self.client.client_id).get("refresh_token", 0)


BOTH_MECHANISMS = pytest.mark.parametrize("lab", ["xoauth2", "oauthbearer"], indirect=True)


@pytest.fixture
async def lab(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    secret_key: str,
    oauth: OAuthServer,
    oauth_client: OAuthClient,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    smtp_oauth: OAuthSmtp,
) -> AsyncIterator[Lab]:
    url = f"sqlite://{tmp_path / 'followup.sqlite3'}"
    oauth.set_lifetimes(device_interval=1)
    sasl = getattr(request, "param", "xoauth2")  # both, where a test says so
    config = lab_config(oauth, oauth_client, oauth_user, smtp_oauth, sasl)
    async with store(url):
        yield Lab(url, oauth, oauth_client, oauth_user, oauth_dovecot, smtp_oauth, config)


@BOTH_MECHANISMS
async def test_a_device_signed_mailbox_gets_every_client_acknowledged_once(lab: Lab) -> None:
    await lab.connect()
    lab.client_mail("q1@outside.example")
    await lab.cycle()
    assert len(lab.smtp.messages) == 1
    assert lab.smtp.messages[0].rcpt_tos == ("client@outside.example",)
    mechanisms = {a.mechanism for a in lab.smtp.auth_attempts if a.success}
    assert mechanisms == {lab.config.oauth["lab"].sasl.upper()}  # type: ignore[union-attr]
    await lab.cycle()
    assert len(lab.smtp.messages) == 1  # never twice
    grant = await OAuthGrant.get(mailbox_id=lab.mailbox.id)  # type: ignore[union-attr]
    assert grant.refresh_secret and lab.user.name not in grant.refresh_secret  # encrypted


async def test_an_expired_token_is_refreshed_before_the_next_login(lab: Lab) -> None:
    lab.oauth.set_lifetimes(access=3)
    await lab.connect()
    await lab.cycle()
    assert lab.refreshes() == 0
    await asyncio.sleep(3.5)  # the token is dead now: Dovecot and the SMTP server refuse it
    lab.client_mail("q2@outside.example")
    await lab.cycle()
    assert lab.refreshes() >= 1
    assert len(lab.smtp.messages) == 1


@BOTH_MECHANISMS
async def test_a_token_refused_before_its_expiry_is_refreshed_once(lab: Lab) -> None:
    await lab.connect()
    grant = await OAuthGrant.get(mailbox_id=lab.mailbox.id)  # type: ignore[union-attr]
    from assistant.secrets import decrypt

    assert grant.access_secret is not None
    lab.oauth.revoke(decrypt(grant.access_secret), lab.client, hint="access_token")
    lab.client_mail("q3@outside.example")
    await lab.cycle()  # IMAP and SMTP refuse the stored token: one refresh, then it works
    assert lab.refreshes() == 1
    assert len(lab.smtp.messages) == 1


async def test_revoked_consent_stops_cleanly_says_it_once_and_resumes_after_reconnect(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab.oauth.set_lifetimes(access=2)
    box = await lab.connect()
    lab.client_mail("q4@outside.example")
    runtime = lab.runtime()
    await sync_and_plan(runtime, box, runtime.clock.now())  # planned, not yet sent
    lab.oauth.revoke_user(lab.user.name)  # consent withdrawn
    await asyncio.sleep(2.5)  # and the access token has run out
    # Another client writes while nobody can read the mailbox.
    lab.client_mail("q5@outside.example", "other@elsewhere.example")
    caplog.set_level(logging.INFO, logger="followup")
    for _ in range(3):
        with pytest.raises(NeedsReauth):
            await lab.cycle()
    said = [r for r in caplog.records if r.getMessage() == "mailbox needs re-authorisation"]
    assert len(said) == 1
    assert lab.refreshes() == 1  # no retry storm at the provider
    (row,) = await summaries(datetime.now(UTC))
    assert row.reauth is not None and "invalid_grant" in row.reauth
    assert (await store_health())["needs_reauth"] == ["lab"]  # GET /health of followup web
    # Sending stops cleanly too: the pass holds the planned mail, nothing tried or lost.
    runtime = lab.runtime()
    policy = await mailbox_policy(runtime, box)
    deliverer = deliverer_for(runtime, box, policy)
    report = await deliverer.deliver_due(runtime.clock.now())
    assert report.paused and lab.smtp.messages == []
    (waiting,) = await OutboxItem.filter(kind="acknowledge")
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    # A person signs in again: what was planned and what arrived meanwhile go out, once.
    lab.oauth.set_lifetimes(access=3600)
    client = await resolve("lab", lab.config)
    token = await device_grant(
        client, lambda _u, code: lab.oauth.approve_device(code, lab.user.name, lab.user.password)
    )
    await save_grant(box, client, "device", token, runtime.clock)
    await lab.cycle()
    await lab.cycle()
    assert sorted(m.message["In-Reply-To"] for m in lab.smtp.messages) == [
        "<q4@outside.example>",
        "<q5@outside.example>",
    ]


async def test_one_refresh_at_a_time_across_processes(lab: Lab) -> None:
    lab.oauth.set_lifetimes(access=2)
    await lab.connect()
    await asyncio.sleep(2.5)
    lab.oauth.set_behaviour(token_delay=1.0)  # the refreshes overlap if more than one starts
    script = textwrap.dedent(
        f"""
        import asyncio
        from assistant.clock import SystemClock
        from assistant.service.oauth_tokens import access_token
        from assistant.store.db import store
        from assistant.store.models import Mailbox

        async def main():
            async with store({lab.url!r}):
                box = await Mailbox.get(name="lab")
                print(await access_token(box, SystemClock()))

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        for _ in range(3)
    ]
    tokens = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(tokens) == 1  # the one refresh's result, shared
    assert lab.refreshes() == 1


async def test_app_only_access_for_a_shared_mailbox(
    lab: Lab, oauth_app_client: OAuthClient
) -> None:
    lab.config.oauth["app"] = lab.config.oauth["lab"].model_copy(
        update={
            "client_id": oauth_app_client.client_id,
            "client_secret": oauth_app_client.secret,
            "app_scope": "IMAP.AccessAsApp SMTP.SendAsApp",
        }
    )
    from assistant.service.oauth_connect import app_token

    client = await resolve("app", lab.config)
    token = await app_token(client)
    imap, smtp = mail_urls(client, lab.user.name)
    box = await add_mailbox(
        "shared", lab.user.name, imap, smtp, ["@team.example"], None, 0, datetime.now(UTC), None
    )
    await save_grant(box, client, "app", token, lab.runtime().clock)
    lab.mailbox = box
    await lab.cycle()  # the first sync
    lab.client_mail("q5@outside.example")
    await lab.cycle()
    assert len(lab.smtp.messages) == 1
    grant = await OAuthGrant.get(mailbox_id=box.id)
    assert grant.flow == "app" and grant.refresh_secret is None


@pytest.mark.parametrize("lab", ["oauthbearer"], indirect=True)  # XOAUTH2: test_oauth_scale
async def test_an_idle_watcher_logs_in_again_with_a_fresh_token(lab: Lab) -> None:
    """The scale-out watcher's IDLE connection: after the token died and the server dropped
    the connection, the next login gets a new token and IDLE reports new mail."""
    lab.oauth.set_lifetimes(access=3)
    box = await lab.connect()
    clock = SystemClock()
    logins: list[str] = []

    async def login_url():  # type: ignore[no-untyped-def]
        url = await credentials.with_token(box, credentials.stored_url(box, "imap"), clock)
        logins.append(url.password)
        return url

    changed, ready = asyncio.Event(), asyncio.Event()

    async def on_change() -> None:
        changed.set()

    async def watch_again() -> None:
        while True:
            try:
                await watch_folder(login_url, "INBOX", on_change, ready.set)
            except (ConnectError, OSError, Exception):
                await asyncio.sleep(0.5)

    task = asyncio.create_task(watch_again())
    try:
        await asyncio.wait_for(ready.wait(), 15)
        await asyncio.sleep(3.5)  # the token IDLE logged in with has expired meanwhile
        ready.clear()
        lab.dovecot.doveadm("kick", lab.user.name)  # the server drops the session
        await asyncio.wait_for(ready.wait(), 15)
        lab.client_mail("q6@outside.example")
        await asyncio.wait_for(changed.wait(), 15)
    finally:
        task.cancel()
    assert len(logins) >= 2 and logins[0] != logins[-1]
    assert lab.refreshes() >= 1


def test_the_command_line_connects_by_device_flow(
    tmp_path: Path,
    cli_env: dict[str, str],
    oauth: OAuthServer,
    oauth_client: OAuthClient,
    oauth_user: OAuthUser,
    oauth_dovecot: Dovecot,
    smtp_oauth: OAuthSmtp,
) -> None:
    oauth.set_lifetimes(device_interval=1)
    env = cli_settings(tmp_path, cli_env, oauth, oauth_client.client_id, oauth_user, smtp_oauth)
    add = add_by_oauth(env, oauth_user, "device", "--grace", "0s")
    assert add.stdout is not None
    seen = []
    for line in add.stdout:
        seen.append(line)
        found = re.search(r"open (\S+) and enter the code (\S+)", line)
        if found:
            break
    assert found, seen
    oauth.approve_device(found.group(2), oauth_user.name, oauth_user.password)
    out, err = add.communicate(timeout=60)
    assert add.returncode == 0, err
    assert "mailbox 'lab' added" in out
    listed = subprocess.run(
        [*FOLLOWUP, "mailbox", "list"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert "lab" in listed.stdout and "RE-AUTHORISATION" not in listed.stdout
    tested = subprocess.run(
        [*FOLLOWUP, "mailbox", "test", "lab"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SMTP ok" in tested.stdout and "Sent copies: auto" in tested.stdout
    # `followup run` (one process, IDLE) acknowledges a client with the stored grant.
    service = subprocess.Popen(
        [*FOLLOWUP, "run", "--health-port", "0", "--poll", "3600"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert service.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the IDLE connections are up
            if "watching" in service.stderr.readline() or service.poll() is not None:
                break
        time.sleep(1.0)
        raw = mail("cli1@outside.example", "client@outside.example", "Help", to=oauth_user.name)
        oauth_dovecot.append(oauth_user.name, "INBOX", raw, msg_time=datetime.now(UTC))
        smtp_oauth.wait_for(1, timeout=30)
        assert smtp_oauth.messages[0].message["In-Reply-To"] == "<cli1@outside.example>"
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=15) == 0
    finally:
        reap(service)
    # Consent withdrawn at the provider: `mailbox reconnect` signs the mailbox in again.
    oauth.revoke_user(oauth_user.name)
    polls = oauth.token_requests(oauth_client.client_id).get(DEVICE_CODE, 0)
    again = subprocess.Popen(
        [*FOLLOWUP, "mailbox", "reconnect", "lab", "--sign-in", "device"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert again.stdout is not None
    for line in again.stdout:
        found = re.search(r"enter the code (\S+)", line)
        if found:
            oauth.approve_device(found.group(1), oauth_user.name, oauth_user.password)
            break
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0 and "mailbox 'lab' reconnected" in out, err
    assert oauth.token_requests(oauth_client.client_id).get(DEVICE_CODE, 0) > polls
    tested = subprocess.run(
        [*FOLLOWUP, "mailbox", "test", "lab"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_missing_provider_section_is_a_clear_error(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            *FOLLOWUP,
            "mailbox",
            "add",
            "x",
            "--address",
            "a@b.example",
            "--oauth",
            "google",
            "--team",
            "@b.example",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "no [oauth.google] section" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_admins_get_one_notice_from_a_mailbox_that_can_send(
    lab: Lab, smtp_sink: SmtpSink
) -> None:
    now = datetime.now(UTC)
    await User.create(email="admin@team.example", password_hash="-", role="admin", created_at=now)
    password_url = f"imap://{quote(lab.user.name)}:{lab.user.password}@127.0.0.1:{lab.user.port}"
    other = await add_mailbox(
        "other",
        "desk@team.example",
        password_url,
        f"smtp://{smtp_sink.host}:{smtp_sink.port}",
        ["@team.example"],
        None,
        0,
        now,
        None,
    )
    lab.oauth.set_lifetimes(access=2)
    await lab.connect()
    lab.oauth.revoke_user(lab.user.name)
    await asyncio.sleep(2.5)
    for _ in range(2):
        with pytest.raises(NeedsReauth):
            await lab.cycle()
    (notice,) = await OutboxItem.filter(kind="admin_notice")
    assert (notice.recipient, notice.mailbox_id) == ("admin@team.example", other.id)
    runtime = lab.runtime()
    policy = await mailbox_policy(runtime, other)
    await deliverer_for(runtime, other, policy).deliver_due(runtime.clock.now())
    (sent,) = smtp_sink.wait_for(1)
    assert sent.rcpt_tos == ("admin@team.example",)
    assert "lab needs re-authorisation" in str(sent.message["Subject"])
    assert "followup mailbox reconnect lab" in sent.message.get_body().get_content()


def test_a_device_sign_in_keeps_no_client_secret(secret_key: str) -> None:
    """The device grant is a public client's: a configured secret (the web page's) is neither
    sent with its token requests nor kept with its grant (Microsoft answers invalid_client)."""
    from assistant.core.oauth import microsoft
    from assistant.service.oauth_connect import Client, _grant_row

    client = Client("microsoft", microsoft(), "app-id", "web-secret")
    assert _grant_row(client, "device").client_secret is None
    assert _grant_row(client, "device").flow == "user"
    assert _grant_row(client, "user").client_secret is not None  # the web page's, kept
    app = _grant_row(client, "app")
    assert app.flow == "app" and app.scope == "https://outlook.office365.com/.default"


@pytest.mark.parametrize("back", ["redirect", "pasted"])
def test_the_command_line_signs_in_through_a_browser(
    back: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    oauth: OAuthServer,
    oauth_user: OAuthUser,
    smtp_oauth: OAuthSmtp,
) -> None:
    """Where the device grant is not offered for mail (Google), a browser signs in and comes
    back to a one-shot server on 127.0.0.1 (RFC 8252), or, on a headless server, the person
    pastes the address the browser ended on."""
    client = oauth.add_client(
        f"desktop-{secrets.token_hex(3)}", redirect_uris=["http://127.0.0.1/"]
    )
    env = cli_settings(tmp_path, cli_env, oauth, client.client_id, oauth_user, smtp_oauth)
    add = add_by_oauth(env, oauth_user, "browser")
    try:
        assert add.stdout is not None and add.stdin is not None
        link = ""
        for line in add.stdout:
            if line.strip().startswith(oauth.issuer):
                link = line.strip()
                break
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        assert query["code_challenge_method"] == "S256" and query["client_id"] == client.client_id
        params = oauth.authorize(
            client,
            oauth_user.name,
            scope=query["scope"],
            redirect_uri=query["redirect_uri"],
            code_challenge=query["code_challenge"],
            state=query["state"],
        )
        landing = f"{query['redirect_uri']}?{urlencode(params)}"
        if back == "redirect":  # the browser follows the redirect to the one-shot server
            with urllib.request.urlopen(landing, timeout=10) as page:
                assert b"signed in" in page.read()
            add.wait(timeout=60)  # ends with standard input still open: no Enter needed
        else:  # another machine's browser: the address is pasted
            add.stdin.write(landing + "\n")
            add.stdin.flush()
        out, err = add.communicate(timeout=60)
    finally:
        reap(add)
    assert add.returncode == 0, err
    assert "mailbox 'lab' added" in out
    assert oauth.token_requests(client.client_id).get("authorization_code") == 1


async def test_a_token_refused_by_smtp_is_refreshed_once(lab: Lab) -> None:
    """The token dies before the send (revoked early, as providers may): the SMTP server
    refuses it, the sender asks for a new one once and goes on."""
    box = await lab.connect()
    grant = await OAuthGrant.get(mailbox_id=box.id)
    assert grant.access_secret is not None
    lab.oauth.revoke(decrypt(grant.access_secret), lab.client, hint="access_token")
    sender = await credentials.smtp_sender(box, lab.runtime().clock)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = box.address, "x@outside.example", "Hello"
    msg.set_content("Hello.")
    try:
        await sender.send(msg, box.address, ["x@outside.example"])
    finally:
        await sender.close()
    assert len(lab.smtp.messages) == 1
    refused = [a for a in lab.smtp.auth_attempts if not a.success]
    assert [a.reason for a in refused] == ["invalid_token"]
    assert lab.refreshes() == 1


async def test_a_provider_that_files_sent_mail_gets_no_second_copy(
    lab: Lab, make_smtp_oauth: Callable[..., OAuthSmtp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like Gmail and Microsoft 365 (and Outlook.com's new Message-ID): the provider's copy is
    the one copy in Sent."""
    filing = SentFiling(lab.dovecot, delay=1.0, rewrite_message_id=True)  # files late
    lab.smtp = make_smtp_oauth(file_in_sent=filing)
    lab.config.oauth["lab"] = lab.config.oauth["lab"].model_copy(
        update={"smtp": f"smtp://{lab.smtp.host}:{lab.smtp.port}"}
    )
    monkeypatch.setenv("FOLLOWUP_SELF_FILING_SMTP_HOSTS", lab.smtp.host)  # "a known provider"
    await lab.connect()
    lab.client_mail("q8@outside.example")
    await lab.cycle()  # sent; the provider's copy is not there yet: the row waits
    (row,) = await OutboxItem.filter(kind="acknowledge")
    assert row.status == "accepted"
    lab.smtp.wait_filed(1)
    await lab.cycle(later=180)  # after the grace: found under its new Message-ID
    client = lab.dovecot.client(lab.user.name, lab.user.password)
    try:
        client.select_folder("Sent", readonly=True)
        copies = client.search(["HEADER", "X-Followup-Key", ""])
    finally:
        client.logout()
    assert len(lab.smtp.messages) == 1 and len(copies) == 1
    (row,) = await OutboxItem.filter(kind="acknowledge")
    assert row.status == "sent"
