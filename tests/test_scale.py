"""The scale-out mode under faults: arq workers and IDLE watchers on real Redis and PostgreSQL.

Two `followup worker` and two `followup watch` processes over 20 mailboxes on Dovecot. While
clients write: both workers are killed with SIGKILL while a job is in progress (and replaced), a
watcher holding leases is killed with SIGKILL, Redis is restarted empty, and every PostgreSQL
connection is terminated. Every client still gets exactly one acknowledgement.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis as RedisClient

from assistant.store.db import store
from assistant.store.models import Folder, OutboxItem
from tests.conftest import add_test_mailbox, reap
from tests.mail import late_order
from tests.servers import Dovecot, Postgres, SmtpSink
from tests.servers.redis import Redis

FOLLOWUP = str(Path(sys.executable).parent / "followup")
MAILBOXES = 20
CONFIG = """
[guards]
max_per_minute = 10000
[scale]
poll_seconds = 4
lease_seconds = 3
"""


class Fleet:
    """The processes of the scale-out mode, started like an operator would."""

    def __init__(self, env: dict[str, str], config: Path, logs: Path) -> None:
        self.env, self.config, self.logs = env, config, logs
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            [FOLLOWUP, *args, "--config", str(self.config)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        log.close()

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            reap(proc)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path / "redis").start()
    yield server
    server.stop()


async def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class Scene:
    """20 mailboxes, the processes, Redis and the clients' messages of one run."""

    def __init__(
        self,
        url: str,
        dovecot: Dovecot,
        redis: Redis,
        fleet: Fleet,
        ids: list[int],
        users: list[str],
        token: str,
    ) -> None:
        self.url, self.dovecot, self.redis, self.fleet = url, dovecot, redis, fleet
        self.ids, self.users, self.token = ids, users, token
        self.leases = RedisClient.from_url(redis.url)
        self.expected: dict[str, str] = {}  # client Message-ID -> client address

    def write(self, n: int, tag: str) -> None:
        mid, sender = f"{tag}-{n}-{self.token}@client.test", f"{tag}{n}@client.test"
        raw = late_order(mid, sender, f"box{n}@example.com")
        self.dovecot.append(self.users[n], "INBOX", raw, msg_time=datetime.now(UTC))
        self.expected[mid] = sender

    async def holders(self) -> Counter[str]:
        values = await self.leases.mget([f"followup:lease:{i}" for i in self.ids])
        return Counter(v.decode() for v in values if v is not None)

    async def all_synced(self) -> bool:
        synced = await Folder.filter(role="inbox", synced_at__not_isnull=True).count()
        return synced == MAILBOXES

    async def shared_fairly(self) -> bool:
        return sorted((await self.holders()).values()) == [10, 10]

    async def one_holder(self) -> bool:
        return list((await self.holders()).values()) == [MAILBOXES]

    async def job_running(self) -> bool:
        return bool(await self.leases.keys("arq:in-progress:*"))

    async def drop_database_connections(self) -> None:
        admin = await asyncpg.connect(self.url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()


def acks(sink: SmtpSink) -> Counter[str]:
    """Acknowledgements received, by the client Message-ID they answer."""
    return Counter(
        str(m.message["In-Reply-To"]).strip("<>")
        for m in sink.messages
        if m.message["X-Followup-Action"] == "acknowledge"
    )


async def make_scene(
    tmp_path: Path, dovecot: Dovecot, postgres: Postgres, redis: Redis, sink: SmtpSink, key: str
) -> Scene:
    url = postgres.new_database(f"scale_{secrets.token_hex(3)}")
    token = secrets.token_hex(3)
    users = [f"box{n}-{token}" for n in range(MAILBOXES)]
    ids = []
    async with store(url):
        for n, user in enumerate(users):
            dovecot.add_user(user, "pw")
            box = await add_test_mailbox(
                f"imap://{user}:pw@{dovecot.host}:{dovecot.port}",
                name=f"box{n}",
                address=f"box{n}@example.com",
                smtp_url=f"smtp://{sink.host}:{sink.port}",
                grace_seconds=0,
                connected_at=datetime.now(UTC) - timedelta(seconds=5),
            )
            ids.append(box.id)
    config = tmp_path / "followup.toml"
    config.write_text(CONFIG)
    env = {
        **os.environ,
        "FOLLOWUP_DATABASE_URL": url,
        "FOLLOWUP_REDIS_URL": redis.url,
        "FOLLOWUP_SECRET_KEY": key,
        "FOLLOWUP_JOB_TIMEOUT": "15",
        "FOLLOWUP_SEND_LEASE_SECONDS": "6",
    }
    env.pop("FOLLOWUP_SECRET_KEY_FILE", None)
    return Scene(url, dovecot, redis, Fleet(env, config, tmp_path), ids, users, token)


async def test_workers_and_watchers_survive_kills_and_restarts(
    tmp_path: Path,
    dovecot: Dovecot,
    postgres: Postgres,
    redis: Redis,
    smtp_sink: SmtpSink,
    secret_key: str,
) -> None:
    scene = await make_scene(tmp_path, dovecot, postgres, redis, smtp_sink, secret_key)
    fleet = scene.fleet
    async with store(scene.url):
        try:
            for name in ("worker1", "worker2"):
                fleet.start(name, "worker")
            for name in ("watcher1", "watcher2"):
                fleet.start(name, "watch", "--workers", "1")
            await wait_for(scene.all_synced, 60, "the first sync of every mailbox")
            await wait_for(scene.shared_fairly, 20, "both watchers holding 10 mailboxes each")

            for n in range(10):  # a burst; both workers die while a job is in progress
                scene.write(n, "a")
            await wait_for(scene.job_running, 10, "a sync job in progress")
            fleet.kill("worker1")
            fleet.kill("worker2")
            fleet.start("worker3", "worker")
            fleet.start("worker4", "worker")

            fleet.kill("watcher1")  # its leases expire; watcher2 takes every mailbox
            await wait_for(scene.one_holder, 15, "the surviving watcher holding every mailbox")
            for n in range(10, 20):
                scene.write(n, "b")

            await asyncio.sleep(2)
            redis.restart()  # empty: queued jobs and leases are gone
            for n in range(5):
                scene.write(n, "c")

            await asyncio.sleep(2)
            await scene.drop_database_connections()
            for n in range(5, 10):
                scene.write(n, "d")

            async def all_acked() -> bool:
                return set(acks(smtp_sink)) >= set(scene.expected)

            await wait_for(all_acked, 120, f"{len(scene.expected)} acknowledgements")
            await asyncio.sleep(3)  # anything sent twice would show up now
        finally:
            fleet.stop_all()
            await scene.leases.aclose()

        got, expected = acks(smtp_sink), scene.expected
        assert set(got) == set(expected) and max(got.values()) == 1, got
        for received in smtp_sink.messages:
            mid = str(received.message["In-Reply-To"]).strip("<>")
            assert received.rcpt_tos == (expected[mid],)
        rows = await OutboxItem.filter(kind="acknowledge").values_list("status", flat=True)
        assert Counter(rows) == {"sent": len(expected)}


def test_without_redis_the_scale_commands_say_what_is_missing(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "FOLLOWUP_REDIS_URL"}
    for args in (["worker"], ["watch", "--workers", "2"]):
        done = subprocess.run(
            [FOLLOWUP, *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, done.stderr
        assert "needs Redis: set FOLLOWUP_REDIS_URL" in done.stderr
        assert "Traceback" not in done.stderr
    migrated = subprocess.run(
        [FOLLOWUP, "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert migrated.returncode == 0 and "up to date" in migrated.stdout
