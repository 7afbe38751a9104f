"""Benchmark the IMAP connections each mailbox holds: `followup run` and the scale-out mode.

Run from the project root::

    .venv/bin/python bench/connections.py                  # 3 mailboxes, 20 s of mail, ~5 min
    .venv/bin/python bench/connections.py --seconds 8 --budgets 4   # a quick run
    .venv/bin/python bench/connections.py --modes run      # single-process mode only

Followup has a connection budget per mailbox (``[imap] max_connections``, default 4; see
``assistant/core/connections.py``): one sync connection for every watched folder, IDLE on
INBOX that watches Sent and Archive by NOTIFY where the server offers it (Dovecot does), one
short-lived connection for a delivery pass or a reply command. This measures what the
server sees while the product works, per mailbox.

It starts a private Dovecot and an SMTP sink (and, for the scale-out mode, a private
PostgreSQL and Redis: ``tests.servers``). For each mode and each budget (``--budgets``,
default 4, then 8 to show what a larger budget buys, then 3), it adds ``--mailboxes`` fresh
mailboxes (users with INBOX, Sent and Archive; grace 0; the sink's SMTP URL) to a fresh store
and runs the product as a user does, with ``[imap] max_connections`` set to the budget:

- ``run``: ``followup run --health-port 0 --config FILE`` (SQLite store in a fresh data dir);
- ``scale``: ``followup watch --workers 1`` and ``followup worker`` as two processes
  (PostgreSQL, Redis; ``FOLLOWUP_DATABASE_URL`` / ``FOLLOWUP_REDIS_URL``).

Once every mailbox has had its first sync, client mail arrives for ``--seconds`` (default
20): one message APPENDed to INBOX every 0.5-1 s, round robin over the mailboxes, each from
its own sender (so each must be acknowledged once), and ``--replies`` team replies APPENDed
to Sent (answering a client already acknowledged). The APPENDs go through one IMAP connection
per mailbox opened before the service starts; its server process is left out of the counts.

What is counted, every ``--interval`` seconds (default 0.05) from the service's start to its
stop, in a thread of this process:

- the **server's view**: ``doveadm who -1`` (one line per logged-in IMAP session: ``username
  proto pid ip``), sessions per user, the APPEND connection excluded;
- the **client's view**, as a cross-check: TCP connections in ESTABLISHED state from the
  service's processes (and their children) to the IMAP port (``psutil``), all mailboxes
  together;
- and, after the run, **every session**, from Dovecot's own log (``Login: user=<U> ...
  mpid=PID`` and ``imap(U)<PID>...: Disconnected``, replayed in log order): the most sessions
  a user had open at once, which a sampler can miss when a connection lives less than the
  interval (a delivery pass's APPEND of its Sent copy).

Per mailbox: the most simultaneous sessions (PASS when within the budget), the median while
mail arrives, and both as a ratio to the floor: 2, one IDLE and one sync connection, the least
a mailbox kept pushed and synced can hold. Per run: every client acknowledged exactly once
(the SMTP sink's count), so the figures come from a working service, and the team replies
seen (their threads ``awaiting_client`` in the store afterwards).

Nothing is asserted: figures are printed next to their targets with PASS/FAIL, and the last
line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers

import psutil
from imapclient import IMAPClient

from assistant.core.connections import RESERVED, plan_idle
from assistant.secrets import new_key
from assistant.service.mailboxes import add_mailbox
from assistant.store.db import database_url, store
from assistant.store.models import Folder, ThreadRecord
from tests.servers import Dovecot, Postgres, SmtpSink, server_dir
from tests.servers.common import find_binary, run
from tests.servers.redis import Redis

ROOT = Path(__file__).resolve().parent.parent
FOLLOWUP = str(Path(sys.executable).parent / "followup")
#: One IDLE connection and one sync connection: the least a pushed, synced mailbox holds.
FLOOR = 2
WATCHED = ("INBOX", "Sent", "Archive")
TEAM_DOMAIN = "example.com"
GAP_S = (0.5, 1.0)
READY_TIMEOUT_S = 120.0
ACK_TIMEOUT_S = 90.0
SETTLE_S = 2.0
RESTART_S = 4.0
LOGIN = re.compile(r"imap-login: Info: Login: user=<([^>]*)>.*?\bmpid=(\d+)")
LOGOUT = re.compile(r"\bimap\(([^)]*)\)<(\d+)><[^>]*>: Info: Disconnected")

_T0 = time.perf_counter()


def log(message: str) -> None:
    """A progress line with the seconds since start."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


# --- mail ------------------------------------------------------------------------------------


def client_mail(mid: str, sender: str, to: str, subject: str) -> bytes:
    """A new client question (CRLF, plain text), dated now."""
    lines = [
        f"From: Client <{sender}>",
        f"To: Support <{to}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    body = "Hello,\r\n\r\nmy order has not arrived. Could you check?\r\n\r\nThanks\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def team_reply(mid: str, parent: str, client: str, subject: str) -> bytes:
    """A team member's answer to ``parent``, as a mail client files it in Sent."""
    lines = [
        f"From: Anna Berg <anna@{TEAM_DOMAIN}>",
        f"To: <{client}>",
        f"Subject: Re: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: <{mid}>",
        f"In-Reply-To: <{parent}>",
        f"References: <{parent}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    body = "Hello,\r\n\r\nit left our warehouse today.\r\n\r\nAnna\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@dataclass
class Sent:
    """A client message APPENDed: its mailbox index, Message-ID, sender and subject."""

    box: int
    mid: str
    sender: str
    subject: str


# --- counting ----------------------------------------------------------------------------------


def who(doveadm: str, config: Path) -> list[tuple[str, int]]:
    """``doveadm who -1``: (user, server pid) per logged-in IMAP session."""
    out = subprocess.run(
        [doveadm, "-c", str(config), "who", "-1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    sessions = []
    for line in out.splitlines()[1:]:  # header: username proto pid ip
        parts = line.split()
        if len(parts) >= 3 and parts[2].isdigit():
            sessions.append((parts[0], int(parts[2])))
    return sessions


def client_connections(pids: Sequence[int], port: int) -> int:
    """ESTABLISHED TCP connections to ``port`` held by ``pids`` and their descendants."""
    seen: set[int] = set()
    total = 0
    for pid in pids:
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                conns = proc.net_connections(kind="tcp")
            except psutil.Error:
                continue
            total += sum(
                1
                for c in conns
                if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
            )
    return total


@dataclass
class Sample:
    """One sample: when (monotonic), sessions per user (server), connections (client)."""

    at: float
    per_user: dict[str, int]
    client_total: int
    took: float


class Sampler(threading.Thread):
    """Counts sessions every ``interval`` seconds until stopped."""

    def __init__(
        self,
        dovecot: Dovecot,
        users: Sequence[str],
        excluded: set[int],
        service_pids: Callable[[], list[int]],
        interval: float,
    ) -> None:
        super().__init__(name="sampler", daemon=True)
        self.doveadm = find_binary("doveadm", "dovecot-core")
        self.dovecot, self.users, self.excluded = dovecot, set(users), excluded
        self.service_pids, self.interval = service_pids, interval
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            t0 = time.monotonic()
            per_user: Counter[str] = Counter()
            for user, pid in who(self.doveadm, self.dovecot.config):
                if user in self.users and pid not in self.excluded:
                    per_user[user] += 1
            total = client_connections(self.service_pids(), self.dovecot.port)
            took = time.monotonic() - t0
            self.samples.append(Sample(t0, dict(per_user), total, took))
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - self.interval)

    def stop(self) -> None:
        """End sampling."""
        self.stopping.set()
        self.join(10)


def log_peaks(text: str, users: set[str], excluded: set[int]) -> tuple[dict[str, int], int]:
    """Replay Dovecot's log: the most sessions each user had at once (every login counted),
    and how many sessions logged in over the run (service only)."""
    open_: dict[str, set[int]] = {u: set() for u in users}
    peak = dict.fromkeys(users, 0)
    logins = 0
    for line in text.splitlines():
        if (m := LOGIN.search(line)) is not None:
            user, pid = m.group(1), int(m.group(2))
            if user in users and pid not in excluded:
                open_[user].add(pid)
                peak[user] = max(peak[user], len(open_[user]))
                logins += 1
        elif (m := LOGOUT.search(line)) is not None and m.group(1) in users:
            open_[m.group(1)].discard(int(m.group(2)))
    return peak, logins


# --- the product, as processes -------------------------------------------------------------


class Service:
    """The product's processes of one run (own session each: stopped with their children)."""

    def __init__(self, env: dict[str, str], config: Path, logs: Path) -> None:
        self.env, self.config, self.logs = env, config, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        """``followup ARGS --config FILE`` with its output in ``LOGS/NAME.log``."""
        with (self.logs / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [FOLLOWUP, *args, "--config", str(self.config)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )

    def pids(self) -> list[int]:
        """The running processes' pids."""
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def alive(self) -> bool:
        """Every process still runs."""
        return all(p.poll() is None for p in self.procs.values())

    def log_text(self, name: str) -> str:
        """A process's output so far."""
        return (self.logs / f"{name}.log").read_text("utf-8", "replace")

    def tail(self, lines: int = 25) -> str:
        """The end of every process's output."""
        return "\n".join(
            f"--- {name}:\n" + "\n".join(self.log_text(name).splitlines()[-lines:])
            for name in self.procs
        )

    def stop_one(self, name: str) -> int | None:
        """SIGTERM one process (its clean stop), SIGKILL after 30 s; its exit code."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()

    def stop(self) -> dict[str, int | None]:
        """SIGTERM each (the clean stop), SIGKILL after 30 s; their exit codes."""
        codes: dict[str, int | None] = {}
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in list(self.procs.items()):
            try:
                codes[name] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        self.procs.clear()
        return codes


def health_url(service: Service) -> str | None:
    """The URL ``followup run`` logged for ``GET /health``."""
    found = re.search(r'"url": "(http://[^"]+/health)"', service.log_text("run"))
    return found.group(1) if found else None


def watched_folders(text: str) -> dict[str, list[str]]:
    """The scale-out watcher's ``watching mailbox`` log lines: mailbox -> folders it IDLEs on
    (the last line per mailbox)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("message") == "watching mailbox" and "folders" in record:
                out[str(record["mailbox"])] = [str(f) for f in record["folders"]]
    return dict(sorted(out.items()))


def wait_run_ready(service: Service, count: int) -> None:
    """``followup run``: every mailbox connected and caught up (``GET /health``)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = None
    while time.monotonic() < deadline and service.alive():
        url = url or health_url(service)
        if url is not None:
            with urllib.request.urlopen(url, timeout=5) as response:
                boxes = json.load(response)["mailboxes"]
            if len(boxes) == count and all(b["caught_up"] and b["connected"] for b in boxes):
                return
        time.sleep(0.1)
    raise RuntimeError(f"followup run did not catch up:\n{service.tail()}")


async def _synced(url: str) -> int:
    async with store(url):
        return await Folder.filter(role="inbox", synced_at__not_isnull=True).count()


def wait_scale_ready(service: Service, url: str, count: int, sampler: Sampler) -> None:
    """Scale-out: every mailbox's INBOX synced by a worker, and every mailbox watched (the
    server sees a session of each user)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and service.alive():
        last = sampler.samples[-1].per_user if sampler.samples else {}
        if len(last) == count and asyncio.run(_synced(url)) == count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the scale-out processes did not catch up:\n{service.tail()}")


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Servers:
    """What every run shares."""

    base: Path
    dovecot: Dovecot
    sink: SmtpSink
    postgres: Postgres | None
    redis: Redis | None
    key: str
    interval: float
    seconds: float
    replies: int
    mailboxes: int
    rng: random.Random


@dataclass
class RunResult:
    """The figures of one (mode, budget) run."""

    mode: str
    budget: int
    users: list[str]
    planned_steady: int
    planned_most: int
    samples: list[Sample]
    window: tuple[float, float]
    log_peak: dict[str, int]
    logins: int
    clients: int
    acked: int
    duplicates: int
    replies: int
    replies_seen: int
    left_after_stop: int
    exit_codes: dict[str, int | None]
    #: Scale-out only: the folders the watcher IDLEs on per mailbox, at its first start and
    #: after a restart, and the quiet window sampled after the restart.
    watched: dict[str, list[str]] = field(default_factory=dict)
    watched_restart: dict[str, list[str]] = field(default_factory=dict)
    restart_window: tuple[float, float] | None = None
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def per_user(self, user: str, window: tuple[float, float] | None) -> list[int]:
        """Sessions of ``user`` in each sample (within ``window`` when given)."""
        lo, hi = window or (-math.inf, math.inf)
        return [s.per_user.get(user, 0) for s in self.samples if lo <= s.at <= hi]


def planned(mode: str, budget: int) -> tuple[int, int]:
    """What the design says a mailbox holds: (steady, most) sessions. ``run``: the sync
    connection and the IDLE plan (Dovecot offers NOTIFY), plus one transient; ``scale``: the
    watcher's IDLE plan (it plans without NOTIFY), plus a sync job and a delivery job."""
    if mode == "run":
        plan = plan_idle(list(WATCHED), budget, has_idle=True, has_notify=True)
        return 1 + plan.connections, RESERVED + plan.connections
    plan = plan_idle(list(WATCHED), budget, has_idle=True, has_notify=False)
    return plan.connections, RESERVED + plan.connections


async def add_mailboxes(url: str, servers: Servers, users: Sequence[str]) -> None:
    """The mailboxes, as ``followup mailbox add ... --grace 0s`` adds them."""
    dovecot, sink = servers.dovecot, servers.sink
    async with store(url):
        for n, user in enumerate(users):
            await add_mailbox(
                f"support{n}",
                f"support{n}@{TEAM_DOMAIN}",
                f"imap://{user}:{dovecot.password(user)}@{dovecot.host}:{dovecot.port}",
                f"smtp://{sink.host}:{sink.port}",
                [f"@{TEAM_DOMAIN}"],
                None,
                0,
                datetime.now(UTC) - timedelta(seconds=5),
                None,
            )


async def replies_seen(url: str, parents: Sequence[str]) -> int:
    """How many of the answered client threads the store has as ``awaiting_client``."""
    async with store(url):
        rows = await ThreadRecord.filter(thread_id__in=list(parents)).values_list(
            "state", flat=True
        )
    return [str(state) for state in rows].count("awaiting_client")


def acks_by_parent(sink: SmtpSink) -> Counter[str]:
    """Acknowledgements received by the sink, counted by the Message-ID they answer."""
    counts: Counter[str] = Counter()
    for received in sink.messages:
        msg = received.message
        if msg["X-Followup-Action"] == "acknowledge":
            counts[str(msg["In-Reply-To"]).strip().strip("<>")] += 1
    return counts


def arrivals(
    servers: Servers,
    appenders: list[IMAPClient],
    users: list[str],
    tag: str,
) -> tuple[list[Sent], list[str]]:
    """Client mail for ``seconds``, round robin; team replies to Sent among it."""
    rng, seconds = servers.rng, servers.seconds
    sent: list[Sent] = []
    parents: list[str] = []
    start = time.monotonic()
    count = 0
    reply_every = max(1, int(seconds / max(1, servers.replies) / statistics.fmean(GAP_S)))
    while time.monotonic() - start < seconds:
        box = count % len(users)
        mid = f"{tag}-{count}.{secrets.token_hex(3)}@client{count}.test"
        sender = f"client{count}@client{count}-{tag}.test"
        subject = f"Order {tag}-{count} has not arrived"
        raw = client_mail(mid, sender, f"support{box}@{TEAM_DOMAIN}", subject)
        appenders[box].append("INBOX", raw, msg_time=datetime.now(UTC))
        sent.append(Sent(box, mid, sender, subject))
        count += 1
        if len(parents) < servers.replies and count % reply_every == 0:
            acked = acks_by_parent(servers.sink)
            answered = set(parents)
            for earlier in sent:
                if earlier.mid in acked and earlier.mid not in answered:
                    reply = team_reply(
                        f"re-{earlier.mid}", earlier.mid, earlier.sender, earlier.subject
                    )
                    appenders[earlier.box].append("Sent", reply, msg_time=datetime.now(UTC))
                    parents.append(earlier.mid)
                    break
        time.sleep(rng.uniform(*GAP_S))
    return sent, parents


def one_run(servers: Servers, mode: str, budget: int) -> RunResult:
    """Fresh mailboxes and store; the product with ``[imap] max_connections = budget``."""
    dovecot = servers.dovecot
    tag = f"{mode}{budget}-{secrets.token_hex(2)}"
    users = [f"{tag}-m{n}" for n in range(servers.mailboxes)]
    for user in users:
        dovecot.add_user(user, secrets.token_hex(8))
    appenders: list[IMAPClient] = []
    excluded: set[int] = set()
    for user in users:  # one APPEND connection per mailbox, opened before the service
        imap = dovecot.client(user)
        imap.select_folder("INBOX")  # Dovecot creates the Maildir (and Sent, Archive)
        imap.unselect_folder()
        appenders.append(imap)
        excluded |= {
            pid
            for u, pid in who(find_binary("doveadm", "dovecot-core"), dovecot.config)
            if u == user
        }
    run_dir = servers.base / tag
    run_dir.mkdir()
    config = run_dir / "followup.toml"
    config.write_text(
        "[guards]\nmax_per_minute = 100000\n"
        f"[imap]\nmax_connections = {budget}\n"
        "[scale]\npoll_seconds = 60\nlease_seconds = 5\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env["FOLLOWUP_SECRET_KEY"] = servers.key
    if mode == "run":
        url = database_url(None, run_dir / "data")
        env["FOLLOWUP_DATA_DIR"] = str(run_dir / "data")
    else:
        assert servers.postgres is not None and servers.redis is not None
        url = servers.postgres.new_database(f"conn_{budget}_{secrets.token_hex(2)}")
        env |= {"FOLLOWUP_DATABASE_URL": url, "FOLLOWUP_REDIS_URL": servers.redis.url}
        flush_redis(servers.redis.url)
    asyncio.run(add_mailboxes(url, servers, users))
    log_offset = dovecot.log_path.stat().st_size
    service = Service(env, config, run_dir)
    sampler = Sampler(dovecot, users, excluded, service.pids, servers.interval)
    sampler.start()
    codes: dict[str, int | None] = {}
    watched: dict[str, list[str]] = {}
    watched_again: dict[str, list[str]] = {}
    restart_window = None
    try:
        if mode == "run":
            service.start("run", "run", "--health-port", "0")
            wait_run_ready(service, len(users))
        else:
            service.start("watch", "watch", "--workers", "1")
            service.start("worker", "worker")
            wait_scale_ready(service, url, len(users), sampler)
        log(
            f"{mode} budget {budget}: every mailbox synced and watched; mail for "
            f"{servers.seconds:.0f} s"
        )
        time.sleep(SETTLE_S)
        lo = time.monotonic()
        sent, parents = arrivals(servers, appenders, users, tag)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            acked = acks_by_parent(servers.sink)
            if all(s.mid in acked for s in sent):
                break
            time.sleep(0.1)
        hi = time.monotonic()
        time.sleep(SETTLE_S)
        if mode == "scale":
            watched = watched_folders(service.log_text("watch"))
            restart_window = restart_watcher(service, len(users))
            watched_again = watched_folders(service.log_text("watch2"))
    finally:
        sampler.stop()
        codes = service.stop()
    left = 0
    for _ in range(100):  # the service's sessions end with it
        left = sum(
            1
            for u, pid in who(sampler.doveadm, dovecot.config)
            if u in users and pid not in excluded
        )
        if left == 0:
            break
        time.sleep(0.1)
    for imap in appenders:
        with contextlib.suppress(Exception):
            imap.logout()
    time.sleep(0.3)  # the log process writes the last lines
    with dovecot.log_path.open("rb") as f:
        f.seek(log_offset)
        text = f.read().decode("utf-8", "replace")
    peak, logins = log_peaks(text, set(users), excluded)
    acked = acks_by_parent(servers.sink)
    mids = [s.mid for s in sent]
    seen = asyncio.run(replies_seen(url, parents)) if parents else 0
    steady, most = planned(mode, budget)
    return RunResult(
        mode=mode,
        budget=budget,
        users=users,
        planned_steady=steady,
        planned_most=most,
        samples=sampler.samples,
        window=(lo, hi),
        log_peak=peak,
        logins=logins,
        clients=len(mids),
        acked=sum(1 for m in mids if acked[m] >= 1),
        duplicates=sum(acked[m] - 1 for m in mids if acked[m] > 1),
        replies=len(parents),
        replies_seen=seen,
        left_after_stop=left,
        exit_codes=codes,
        watched=watched,
        watched_restart=watched_again,
        restart_window=restart_window,
    )


def restart_watcher(service: Service, count: int) -> tuple[float, float]:
    """Scale-out: stop the watcher (its leases are released), start another that takes the
    now synced mailboxes, and return a quiet window of ``RESTART_S`` seconds to sample."""
    service.stop_one("watch")
    service.start("watch2", "watch", "--workers", "1")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and service.alive():
        if len(watched_folders(service.log_text("watch2"))) == count:
            break
        time.sleep(0.2)
    time.sleep(SETTLE_S + 1)  # the sync job each take requests has come and gone
    lo = time.monotonic()
    time.sleep(RESTART_S)
    return lo, time.monotonic()


def flush_redis(url: str) -> None:
    """Start a scale-out run from an empty Redis (no leases or jobs of the last run)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


# --- figures -----------------------------------------------------------------------------------


def figures(r: RunResult) -> dict[str, dict[str, Any]]:
    """Per mailbox: max (whole run, arrivals), median (arrivals), log peak, time shares."""
    out: dict[str, dict[str, Any]] = {}
    for n, user in enumerate(r.users):
        whole, window = r.per_user(user, None), r.per_user(user, r.window)
        shares = Counter(window)
        again = r.per_user(user, r.restart_window) if r.restart_window else []
        out[f"support{n}"] = {
            "after_restart_median": statistics.median(again) if again else None,
            "after_restart_max": max(again) if again else None,
            "max": max(whole, default=0),
            "max_arrivals": max(window, default=0),
            "median_arrivals": statistics.median(window) if window else 0,
            "log_max": r.log_peak.get(user, 0),
            "shares": {k: round(v / len(window), 3) for k, v in sorted(shares.items())},
            "samples": len(window),
        }
    return out


def print_run(r: RunResult) -> bool:
    """One run's table; True when every mailbox stayed within its budget."""
    stats = r.stats = figures(r)
    intervals = [b.at - a.at for a, b in zip(r.samples, r.samples[1:], strict=False)]
    client_max = max((s.client_total for s in r.samples), default=0)
    server_sum_max = max((sum(s.per_user.values()) for s in r.samples), default=0)
    mode = (
        "followup run (one process, SQLite)"
        if r.mode == "run"
        else "followup watch --workers 1 + followup worker (PostgreSQL, Redis)"
    )
    print(f"\n{mode}, [imap] max_connections = {r.budget}")
    print(
        f"  designed: {r.planned_steady} held ({'sync + ' if r.mode == 'run' else ''}"
        f"IDLE), at most {r.planned_most} with "
        + ("one delivery/command connection" if r.mode == "run" else "a sync and a delivery job")
    )
    print(
        f"  {'mailbox':<9} {'max':>4} {'(≤' + str(r.budget) + ')':>6} {'log max':>8} "
        f"{'(≤' + str(r.budget) + ')':>6} {'median':>7} {'max/floor':>10} {'median/floor':>13}  "
        "time share at each count (arrivals)"
    )
    ok = True
    for name, f in stats.items():
        top = max(f["max"], f["log_max"])
        ok = ok and top <= r.budget
        shares = ", ".join(f"{k}: {100 * v:.0f}%" for k, v in f["shares"].items())
        print(
            f"  {name:<9} {f['max']:>4} {verdict(f['max'] <= r.budget):>6} {f['log_max']:>8} "
            f"{verdict(f['log_max'] <= r.budget):>6} {f['median_arrivals']:>7g} "
            f"{f['max'] / FLOOR:>9.1f}x {f['median_arrivals'] / FLOOR:>12.1f}x  {shares}"
        )
    if r.restart_window is not None:

        def folders(watched: dict[str, list[str]]) -> str:
            return "; ".join(f"{k} {'+'.join(v)}" for k, v in watched.items()) or "none logged"

        print(f"  the watcher IDLEs on, at its first start: {folders(r.watched)}")
        print(f"    after a restart (mailboxes synced): {folders(r.watched_restart)}")
        quiet = ", ".join(
            f"{name} {f['after_restart_median']:g}/{f['after_restart_max']}"
            for name, f in stats.items()
        )
        print(
            f"    sessions in {RESTART_S:.0f} quiet s after the restart, median/max (designed "
            f"{r.planned_steady}): {quiet}"
        )
    once = r.acked == r.clients and r.duplicates == 0
    print(
        f"  clients acknowledged once: {r.acked}/{r.clients}, duplicates {r.duplicates}: "
        f"{verdict(once)}; team replies seen (thread awaiting_client): "
        f"{r.replies_seen}/{r.replies}"
    )
    print(
        f"  sampling: {len(r.samples)} samples, interval median "
        f"{1000 * statistics.median(intervals) if intervals else 0:.0f} ms (doveadm who + psutil "
        f"took median {1000 * statistics.median(s.took for s in r.samples):.0f} ms); "
        f"client side (psutil, all mailboxes) max {client_max}, server side summed max "
        f"{server_sum_max}; {r.logins} logins in the log; after stop: {r.left_after_stop} "
        f"sessions left; exit codes {r.exit_codes}"
    )
    return ok


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mailboxes", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long client mail arrives")
    ap.add_argument("--replies", type=int, default=3, help="team replies APPENDed to Sent per run")
    ap.add_argument("--budgets", default="4,8,3", help="[imap] max_connections values (4,8,3)")
    ap.add_argument("--modes", default="run,scale", help="run, scale or both (run,scale)")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    ap.add_argument("--seed", type=int, default=20261206)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the servers, run every (mode, budget), print."""
    args = parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    key = new_key()
    os.environ["FOLLOWUP_SECRET_KEY"] = key  # add_mailbox encrypts with it
    os.environ.pop("FOLLOWUP_SECRET_KEY_FILE", None)
    version = run([find_binary("dovecot", "dovecot-imapd"), "--version"]).split()[0]
    print("Followup connection benchmark: IMAP sessions per mailbox, as the server counts them")
    print(
        f"  python {platform.python_version()}, {os.cpu_count()} CPUs, Dovecot {version} "
        f"(offers IDLE and NOTIFY); {args.mailboxes} mailboxes per run (INBOX, Sent, Archive; "
        f"grace 0), client mail every {GAP_S[0]}-{GAP_S[1]} s for {args.seconds:.0f} s, "
        f"{args.replies} team replies to Sent; floor {FLOOR} (one IDLE + one sync)"
    )
    results: list[RunResult] = []
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(server_dir("bench-conn"))
        dovecot = stack.enter_context(Dovecot(base / "dovecot"))
        sink = stack.enter_context(SmtpSink())
        postgres = redis = None
        if "scale" in modes:
            postgres = stack.enter_context(Postgres(base / "pg"))
            redis = stack.enter_context(Redis(base / "redis"))
        log(f"Dovecot on {dovecot.port}, SMTP sink on {sink.port}")
        servers = Servers(
            base,
            dovecot,
            sink,
            postgres,
            redis,
            key,
            args.interval,
            args.seconds,
            args.replies,
            args.mailboxes,
            random.Random(args.seed),
        )
        for mode in modes:
            for budget in budgets:
                results.append(one_run(servers, mode, budget))
                r = results[-1]
                log(f"{mode} budget {budget}: done ({r.acked}/{r.clients} acknowledged)")
    within = [print_run(r) for r in results]
    once = all(r.acked == r.clients and r.duplicates == 0 for r in results)
    print(
        f"\nEvery mailbox within its budget in every run: {verdict(all(within))}; every client "
        f"acknowledged exactly once: {verdict(once)}"
    )
    record = {
        "bench": "connections",
        "mailboxes": args.mailboxes,
        "seconds": args.seconds,
        "floor": FLOOR,
        "runs": [
            {
                "mode": r.mode,
                "budget": r.budget,
                "planned_steady": r.planned_steady,
                "planned_most": r.planned_most,
                "per_mailbox": {
                    name: {k: v for k, v in f.items() if k != "samples"}
                    for name, f in r.stats.items()
                },
                "clients": r.clients,
                "acked": r.acked,
                "duplicates": r.duplicates,
                "replies_seen": f"{r.replies_seen}/{r.replies}",
                "within_budget": ok,
                "watched_first_start": r.watched or None,
                "watched_after_restart": r.watched_restart or None,
            }
            for r, ok in zip(results, within, strict=True)
        ],
        "pass_budget": all(within),
        "pass_acked_once": once,
    }
    print("RESULT " + json.dumps(record, sort_keys=True))
    return 0


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM: leave through the ``with`` blocks, so every server is stopped."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())
