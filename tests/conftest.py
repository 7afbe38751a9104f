"""Shared fixtures: real servers started on demand (nothing is autouse; see tests/servers/)."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest

from assistant.core.evaluate import MailboxPolicy
from assistant.runtime import Runtime
from assistant.service.mailboxes import add_mailbox
from assistant.settings import FollowupConfig
from assistant.store.models import Mailbox
from tests.servers import Cyrus, Dovecot, MissingBinary, Postgres, Redis, SmtpSink, server_dir

pytest_plugins = ["tests.oauth_stack"]

T = TypeVar("T")
_user_ids = itertools.count(1)


def start_server(factory: Callable[[], T]) -> T:
    """Start a server; a missing program fails the test (skips with FOLLOWUP_ALLOW_SKIP=1)."""
    try:
        return factory()
    except MissingBinary as missing:
        if os.environ.get("FOLLOWUP_ALLOW_SKIP") == "1":
            pytest.skip(str(missing))
        pytest.fail(f"{missing}. Run scripts/test.sh, which installs it.", pytrace=False)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot (IMAP + IMAPS) per test session."""
    with server_dir("dovecot") as path:
        server = start_server(Dovecot(path).start)
        yield server
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster (or $FOLLOWUP_TEST_POSTGRES_URL) with a ``followup`` db."""
    with server_dir("postgres") as path:
        server = start_server(Postgres(path).start)
        yield server
        server.stop()


@pytest.fixture(scope="session")
def redis() -> Iterator[Redis]:
    """A private redis-server (or $FOLLOWUP_TEST_REDIS_URL)."""
    with server_dir("redis") as path:
        server = start_server(Redis(path).start)
        yield server
        server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A fresh plaintext SMTP sink recording deliveries (``fail_next`` to inject errors)."""
    with SmtpSink() as sink:
        yield sink


@dataclass(frozen=True)
class ImapUser:
    """A mailbox user of the session Dovecot, unique to one test."""

    name: str
    password: str
    host: str
    port: int
    tls_port: int

    @property
    def url(self) -> str:
        """``imap://name:password@127.0.0.1:PORT`` (plaintext port)."""
        return f"imap://{self._userinfo()}@{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """``imaps://name:password@127.0.0.1:TLS_PORT``."""
        return f"imaps://{self._userinfo()}@{self.host}:{self.tls_port}"

    def _userinfo(self) -> str:
        return f"{quote(self.name, safe='')}:{quote(self.password, safe='')}"


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapUser:
    """A fresh user (empty mailbox) in the session Dovecot."""
    name, password = f"user{next(_user_ids)}-{secrets.token_hex(3)}", secrets.token_hex(8)
    dovecot.add_user(name, password)
    return ImapUser(name, password, dovecot.host, dovecot.port, dovecot.tls_port)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty database on each backend the product supports."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path_factory.mktemp('db') / 'followup.sqlite3'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_database(f"t{next(_user_ids)}_{secrets.token_hex(3)}")


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh FOLLOWUP_SECRET_KEY for the test."""
    from assistant.secrets import new_key

    key = new_key()
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", key)
    monkeypatch.delenv("FOLLOWUP_SECRET_KEY_FILE", raising=False)
    return key


@pytest.fixture
def cli_env(tmp_path: Path, secret_key: str) -> dict[str, str]:
    """Environment for running the `followup` command in a subprocess: own data dir and key."""
    env = dict(os.environ)
    env.update(FOLLOWUP_DATA_DIR=str(tmp_path / "data"), FOLLOWUP_SECRET_KEY=secret_key)
    env.pop("FOLLOWUP_DATABASE_URL", None)
    return env


async def add_test_mailbox(
    imap_url: str,
    *,
    name: str = "support",
    address: str = "support@example.com",
    smtp_url: str | None = None,
    grace_seconds: int = 120,
    connected_at: datetime | None = None,
) -> Mailbox:
    """A test mailbox (by default ``support@example.com``) with team ``@example.com``."""
    return await add_mailbox(
        name,
        address,
        imap_url,
        smtp_url,
        ["@example.com"],
        None,
        grace_seconds,
        connected_at or datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
        None,
    )


def test_policy(mailbox: Mailbox, config: FollowupConfig | None = None) -> MailboxPolicy:
    """The rules a running service would apply to ``mailbox``."""
    return Runtime("", Path("."), config or FollowupConfig()).policy(mailbox)


test_policy.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill a subprocess a test left running, and close its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@pytest.fixture(scope="session")
def cyrus() -> Iterator[Cyrus]:
    """One private Cyrus IMAP per test session (the matrix's second server)."""
    with server_dir("cyrus") as path:
        server = start_server(Cyrus(path).start)
        yield server
        server.stop()


@pytest.fixture
def cyrus_user(cyrus: Cyrus) -> ImapUser:
    """A fresh user with an empty INBOX and marked special folders in the session Cyrus."""
    name, password = f"user{next(_user_ids)}-{secrets.token_hex(3)}", secrets.token_hex(8)
    cyrus.add_user(name, password)
    return ImapUser(name, password, cyrus.host, cyrus.port, cyrus.tls_port)
