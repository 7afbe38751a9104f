"""The real-server helpers of tests/servers work: each test talks to a live server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import psutil
import pytest
import redis as redis_lib
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError

import tests.servers.dovecot as dovecot_module
from tests.conftest import ImapUser, start_server
from tests.servers import (
    Dovecot,
    MissingBinary,
    Postgres,
    Redis,
    ServerStartError,
    SmtpSink,
    free_port,
    make_self_signed_cert,
    server_dir,
)

RAW = b"From: client@client.test\r\nTo: support@example.com\r\nSubject: Hello\r\n\r\nHi.\r\n"


def _email(subject: str = "Order 1234") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "support@example.com"
    message["To"] = "client@client.test"
    message["Subject"] = subject
    message.set_content("We got your message.\n")
    return message


# -- Dovecot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["imap", "imaps"])
def test_dovecot_login_append_select(dovecot: Dovecot, imap_user: ImapUser, tls: bool) -> None:
    uid = dovecot.append(imap_user.name, "INBOX", RAW, flags=("\\Seen",))
    with dovecot.client(imap_user.name, imap_user.password, tls=tls) as imap:
        assert imap.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
        assert imap.search(["SEEN"]) == [uid]
    assert dovecot.maildir(imap_user.name).is_dir()


def test_dovecot_wrong_password_is_refused(dovecot: Dovecot, imap_user: ImapUser) -> None:
    with pytest.raises(LoginError):
        dovecot.client(imap_user.name, "not-the-password")


def test_dovecot_special_use_folders(dovecot: Dovecot, imap_user: ImapUser) -> None:
    with dovecot.client(imap_user.name) as imap:
        flags = {name: set(f) for f, _, name in imap.list_folders()}
        assert imap.find_special_folder(b"\\Archive") == "Archive"
    assert b"\\Sent" in flags["Sent"]
    assert b"\\Archive" in flags["Archive"]
    assert {"Drafts", "Trash", "Junk"} <= flags.keys()


def test_dovecot_non_ascii_folder(dovecot: Dovecot, imap_user: ImapUser) -> None:
    name = "Überfällig ✓ 日本"
    dovecot.create_folder(imap_user.name, name)
    dovecot.append(imap_user.name, name, RAW)
    with dovecot.client(imap_user.name) as imap:
        assert name in [folder for _, _, folder in imap.list_folders()]
        assert imap.select_folder(name)[b"EXISTS"] == 1


def test_dovecot_reset_uidvalidity(dovecot: Dovecot, imap_user: ImapUser) -> None:
    dovecot.append(imap_user.name, "INBOX", RAW)
    with dovecot.client(imap_user.name) as imap:
        before = imap.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    new = dovecot.reset_uidvalidity(imap_user.name, "INBOX")
    with dovecot.client(imap_user.name) as imap:
        after = imap.folder_status("INBOX", [b"UIDVALIDITY", b"MESSAGES"])
    assert new != before
    assert after == {b"UIDVALIDITY": new, b"MESSAGES": 1}


def test_dovecot_kill_connections(dovecot: Dovecot, imap_user: ImapUser) -> None:
    imap = dovecot.client(imap_user.name)
    try:
        imap.select_folder("INBOX")
        dovecot.kill_connections(imap_user.name)
        with pytest.raises((IMAPClientAbortError, OSError)):
            imap.noop()
    finally:
        imap.shutdown()


def test_dovecot_idle_sees_append(dovecot: Dovecot, imap_user: ImapUser) -> None:
    with dovecot.client(imap_user.name) as idler:
        idler.select_folder("INBOX")
        idler.idle()
        dovecot.append(imap_user.name, "INBOX", RAW)
        responses = idler.idle_check(timeout=10)  # returns at the first push, not the timeout
        idler.idle_done()
    assert (1, b"EXISTS") in responses


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory the servers' unprivileged users can reach (not under pytest's tmp_path)."""
    with server_dir("test") as path:
        yield path


def test_dovecot_private_instance_stops_cleanly(private_dir: Path) -> None:
    with Dovecot(private_dir) as server:
        server.add_user("alice", "secret")
        with IMAPClient(server.host, server.port, ssl=False) as imap:
            imap.login("alice", "secret")
            imap.select_folder("Sent")
        master = psutil.Process(server._process.pid)  # type: ignore[union-attr]
        processes = [master, *master.children(recursive=True)]
    for process in processes:
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_dovecot_start_failure_shows_log(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1], free_port()])
        monkeypatch.setattr(dovecot_module, "free_port", lambda: next(ports))
        with pytest.raises(ServerStartError, match="Address already in use"):
            Dovecot(private_dir).start()


def test_missing_program_fails_unless_skips_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise MissingBinary("'dovecot' not found")

    monkeypatch.delenv("FOLLOWUP_ALLOW_SKIP", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"scripts/test\.sh"):
        start_server(missing)
    monkeypatch.setenv("FOLLOWUP_ALLOW_SKIP", "1")
    with pytest.raises(pytest.skip.Exception):
        start_server(missing)


# -- PostgreSQL, Redis -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_postgres_select_1(postgres: Postgres) -> None:
    for dsn in (postgres.dsn, postgres.new_database("servers_test")):
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()


@pytest.mark.asyncio
async def test_postgres_external_url(postgres: Postgres, tmp_path: Path) -> None:
    external = Postgres(tmp_path, external_url=postgres.dsn).start()
    dsn = external.new_database("servers_external")
    conn = await asyncpg.connect(dsn)
    await conn.close()
    external.stop()
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(dsn)
    assert not (tmp_path / "data").exists()


def test_redis_ping(redis: Redis) -> None:
    client = redis_lib.Redis.from_url(redis.url)
    try:
        assert client.ping() is True
    finally:
        client.close()


# -- SMTP sink -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_smtp_sink_records_and_fails(smtp_sink: SmtpSink) -> None:
    await aiosmtplib.send(_email(), hostname=smtp_sink.host, port=smtp_sink.port)
    [received] = smtp_sink.wait_for(1)
    assert received.mail_from == "support@example.com"
    assert received.rcpt_tos == ("client@client.test",)
    assert received.message["Subject"] == "Order 1234"

    smtp_sink.fail_next(1, 451)
    with pytest.raises(aiosmtplib.SMTPResponseException) as failure:
        await aiosmtplib.send(_email("retry me"), hostname=smtp_sink.host, port=smtp_sink.port)
    assert failure.value.code == 451
    await aiosmtplib.send(_email("retried"), hostname=smtp_sink.host, port=smtp_sink.port)
    assert [m.message["Subject"] for m in smtp_sink.messages] == ["Order 1234", "retried"]


@pytest.mark.asyncio
@pytest.mark.parametrize("tls", ["implicit", "starttls"])
async def test_smtp_sink_tls_and_auth(tmp_path: Path, tls: str) -> None:
    cert = make_self_signed_cert(tmp_path)
    with SmtpSink(tls=tls, cert=cert, credentials={"bot": "pw"}) as sink:  # type: ignore[arg-type]
        options: dict[str, Any] = {
            "hostname": sink.host,
            "port": sink.port,
            "username": "bot",
            "use_tls": tls == "implicit",
            "start_tls": tls == "starttls",
            "tls_context": cert.client_context(),
        }
        await aiosmtplib.send(_email(), password="pw", **options)
        assert sink.wait_for(1)[0].login == "bot"
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await aiosmtplib.send(_email(), password="bad", **options)
