"""Benchmark the scale-out mode: 200 mailboxes, IDLE watchers and arq workers, real servers.

Run from the project root::

    .venv/bin/python bench/scale.py                  # 200 mailboxes, arrivals over 60 s
    .venv/bin/python bench/scale.py --mailboxes 50 --spread 15   # a quick run

It starts a private Dovecot, PostgreSQL, Redis and an aiosmtpd sink (``tests.servers``), adds
``--mailboxes`` mailboxes (grace 0) to a fresh PostgreSQL database, and runs the product as an
operator would: ``followup watch --workers 1`` twice and ``followup worker`` twice, as
separate processes (the same console script). Once every mailbox has had its first sync:

1. **Floor**: Dovecot's own IDLE delay, a raw imapclient IDLE seeing ``EXISTS`` after an
   APPEND (20 samples).
2. **Arrival to acknowledgement**: one client message APPENDed to each of ``--mailboxes``
   mailboxes in random order at random instants over ``--spread`` seconds; measured from
   APPEND completed to the acknowledgement received by the SMTP sink. Target p95 < 3 s.
3. **Watcher memory per connection**: the watchers' RSS holding every mailbox's INBOX IDLE,
   minus the RSS of a watcher process holding nothing (started against an empty database),
   divided by the IDLE connections held.
4. **Throughput, 1 vs 2 workers**: a burst (one message to every mailbox at once) with one
   worker running, then another burst with two; time to the last acknowledgement.

Nothing is asserted; the last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers

import psutil

from assistant.secrets import new_key
from assistant.service.mailboxes import add_mailbox
from assistant.store.db import store
from assistant.store.models import Folder
from tests.mail import late_order
from tests.servers import Dovecot, Postgres, SmtpSink
from tests.servers.redis import Redis

FOLLOWUP = str(Path(sys.executable).parent / "followup")
TARGET_P95_S = 3.0
CONFIG = "[guards]\nmax_per_minute = 100000\n[scale]\npoll_seconds = 60\nlease_seconds = 5\n"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def pct(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Acks:
    """Watches the sink from a thread (every 5 ms): when each acknowledgement arrived."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink, self.seen = sink, 0
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.poll()

    def poll(self) -> None:
        with self.lock:
            messages = self.sink.messages
            now = time.monotonic()
            for received in messages[self.seen :]:
                msg = received.message
                if msg["X-Followup-Action"] == "acknowledge":
                    self.at.setdefault(str(msg["In-Reply-To"]).strip("<>"), now)
            self.seen = len(messages)

    def wait(self, mids: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(m in self.at for m in mids):
                    return
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def floor(dovecot: Dovecot, samples: int = 20) -> list[float]:
    """APPEND completed -> a raw IDLE connection sees EXISTS."""
    dovecot.add_user("floor", "pw")
    idler, writer = dovecot.client("floor"), dovecot.client("floor")
    idler.select_folder("INBOX")
    out = []
    for i in range(samples):
        idler.idle()
        writer.append("INBOX", late_order(f"f{i}@x.test", "a@x.test", "floor@x.test"))
        done = time.monotonic()
        while time.monotonic() - done < 60:
            responses = idler.idle_check(timeout=5)
            if any(r[1] == b"EXISTS" for r in responses if len(r) > 1):
                break
        out.append(time.monotonic() - done)
        idler.idle_done()
    idler.logout()
    writer.logout()
    return out


def held_by(redis_url: str, pid: int) -> int:
    """How many mailbox leases the watcher process ``pid`` holds (its id contains the pid)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        values = [client.get(k) for k in client.scan_iter("followup:lease:*")]
    finally:
        client.close()
    return sum(1 for v in values if v is not None and f":{pid}:" in v.decode())


def rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            total += proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True))
        except psutil.Error:
            pass
    return total / 2**20


class Processes:
    def __init__(self, env: dict[str, str], config: Path, logs: Path) -> None:
        self.env, self.config, self.logs = env, config, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(
                [FOLLOWUP, *args, "--config", str(self.config)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


async def setup(url: str, dovecot: Dovecot, sink: SmtpSink, count: int, token: str) -> list[str]:
    users = []
    async with store(url):
        for n in range(count):
            user = f"m{n}-{token}"
            dovecot.add_user(user, "pw")
            await add_mailbox(
                f"m{n}",
                f"m{n}@example.com",
                f"imap://{user}:pw@{dovecot.host}:{dovecot.port}",
                f"smtp://{sink.host}:{sink.port}",
                ["@example.com"],
                None,
                0,
                datetime.now(UTC) - timedelta(seconds=5),
                None,
            )
            users.append(user)
    return users


async def synced(url: str) -> int:
    async with store(url):
        return await Folder.filter(role="inbox", synced_at__not_isnull=True).count()


def arrivals(
    dovecot: Dovecot, users: list[str], acks: Acks, spread: float, rng: random.Random, tag: str
) -> list[float]:
    """One message per mailbox at random instants over ``spread`` s; latencies in seconds."""
    order = list(range(len(users)))
    rng.shuffle(order)
    instants = sorted(rng.uniform(0, spread) for _ in order)
    start = time.monotonic()
    done: dict[str, float] = {}
    for n, at in zip(order, instants, strict=True):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        mid = f"{tag}-{n}-{secrets.token_hex(3)}@client{n}.test"
        dovecot.append(
            users[n], "INBOX", late_order(mid, f"c{n}@client{n}.test", f"m{n}@example.com")
        )
        done[mid] = time.monotonic()
    acks.wait(list(done), timeout=120)
    return [acks.at[m] - t for m, t in done.items() if m in acks.at]


def settle(redis_url: str, timeout: float = 15) -> None:
    """Wait until no job is queued or running (a burst then starts from quiet)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            queued = client.zcount("arq:queue", 0, int(time.time() * 1000))  # due, not deferred
            running = sum(1 for _ in client.scan_iter("arq:in-progress:*"))
            if queued == 0 and running == 0:
                return
            time.sleep(0.2)
    finally:
        client.close()


def cpu_by_group() -> dict[str, float]:
    """CPU seconds used so far by this machine's processes, grouped (workers, watchers,
    Dovecot, PostgreSQL, Redis, this benchmark with its SMTP sink)."""
    groups: dict[str, float] = {}
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        info = proc.info
        cmd = " ".join(info.get("cmdline") or [])
        times = info.get("cpu_times")
        if times is None:
            continue
        if info["pid"] == me:
            group = "bench+sink"
        elif "followup worker" in cmd or cmd.endswith(" worker --config") or " worker " in cmd:
            group = "workers"
        elif " watch " in cmd:
            group = "watchers"
        elif info["name"] in (
            "imap",
            "imap-login",
            "dovecot",
            "auth",
            "anvil",
            "log",
            "config",
            "stats",
        ):
            group = "dovecot"
        elif info["name"] == "postgres" or "postgres" in cmd[:40]:
            group = "postgres"
        elif "redis-server" in cmd:
            group = "redis"
        else:
            continue
        groups[group] = groups.get(group, 0.0) + times.user + times.system
    return groups


def burst(dovecot: Dovecot, users: list[str], acks: Acks, tag: str) -> tuple[float, int]:
    """A message to every mailbox at once (16 APPENDs in parallel): seconds from the first
    APPEND to the last acknowledgement, and how many came."""
    mids = [f"{tag}-{n}-{secrets.token_hex(3)}@client{n}.test" for n in range(len(users))]

    def append(n: int) -> None:
        raw = late_order(mids[n], f"{tag}{n}@client{n}.test", f"m{n}@example.com")
        dovecot.append(users[n], "INBOX", raw)

    cpu_before = cpu_by_group()
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(append, range(len(users))))
    appended = time.monotonic() - start
    acks.wait(mids, timeout=300)
    got = sorted(acks.at[m] - start for m in mids if m in acks.at)
    spent = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_by_group().items()}
    busy = ", ".join(
        f"{k} {v:.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0.05
    )
    log(f"  {tag}: CPU seconds during the burst: {busy}")
    if got:
        log(
            f"  {tag}: APPENDs took {appended:.2f} s; acks first {got[0]:.2f} s, "
            f"median {got[len(got) // 2]:.2f} s, last {got[-1]:.2f} s"
        )
    return (got[-1] if got else float("nan")), len(got)


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")


def raise_inotify_limit(wanted: int) -> str:
    """Dovecot's IDLE uses one inotify instance per IMAP process, all as the mail user; past
    the kernel's per-user limit (128 by default) it silently falls back to checking every
    30 s. Raise the limit when we may (root), else say so: the figures would be Dovecot's."""
    try:
        current = int(INOTIFY.read_text())
        if current >= wanted:
            return f"inotify limit {current}"
        INOTIFY.write_text(str(wanted))
        return f"inotify limit raised {current} -> {wanted}"
    except (OSError, ValueError) as exc:
        return f"WARNING: cannot raise {INOTIFY} ({exc}): Dovecot IDLE may fall back to 30 s polls"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mailboxes", type=int, default=200)
    ap.add_argument("--spread", type=float, default=60.0, help="seconds the arrivals spread over")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--logs", type=Path, help="copy the processes' logs here at the end")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    limit_before = INOTIFY.read_text() if INOTIFY.exists() else None
    log(raise_inotify_limit(4 * args.mailboxes + 64))
    os.environ.setdefault("FOLLOWUP_SECRET_KEY", new_key())
    with tempfile.TemporaryDirectory(prefix="followup-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        dovecot = Dovecot(tmp / "dovecot").start()
        postgres = Postgres(tmp / "pg").start()
        redis = Redis(tmp / "redis").start()
        sink = SmtpSink().start()
        procs: Processes | None = None
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on SIGTERM too
        try:
            url = postgres.new_database("scale")
            token = secrets.token_hex(3)
            log(f"servers up; adding {args.mailboxes} mailboxes")
            users = asyncio.run(setup(url, dovecot, sink, args.mailboxes, token))
            config = tmp / "followup.toml"
            config.write_text(CONFIG)
            env = {**os.environ, "FOLLOWUP_DATABASE_URL": url, "FOLLOWUP_REDIS_URL": redis.url}
            env.pop("FOLLOWUP_SECRET_KEY_FILE", None)
            procs = Processes(env, config, tmp)
            watchers = [procs.start(f"watcher{i}", "watch", "--workers", "1") for i in (1, 2)]
            procs.start("worker1", "worker")
            procs.start("worker2", "worker")
            started = time.monotonic()
            while asyncio.run(synced(url)) < args.mailboxes:
                if time.monotonic() - started > 300:
                    raise RuntimeError("first syncs did not finish in 300 s")
                time.sleep(1)
            log(f"first sync of every mailbox done in {time.monotonic() - started:.1f} s")
            time.sleep(3)
            acks = Acks(sink)
            base = floor(dovecot)
            log(
                "floor: IDLE sees EXISTS after APPEND, median "
                f"{statistics.median(base) * 1000:.0f} ms"
            )
            latencies = arrivals(dovecot, users, acks, args.spread, rng, "arr")
            log(f"arrivals: {len(latencies)}/{args.mailboxes} acknowledged")
            procs.stop("worker2")
            settle(redis.url)
            one_s, one_n = burst(dovecot, users, acks, "one")
            log(f"burst with 1 worker: {one_n} in {one_s:.1f} s")
            procs.start("worker2", "worker")
            time.sleep(3)
            settle(redis.url)
            two_s, two_n = burst(dovecot, users, acks, "two")
            log(f"burst with 2 workers: {two_n} in {two_s:.1f} s")
            # Memory per IDLE connection: watcher1 holding half the mailboxes, then all of
            # them once watcher2 has stopped and released its leases (same process).
            half_n, half_rss = held_by(redis.url, watchers[0].pid), rss_mb([watchers[0].pid])
            procs.stop("watcher2")
            started = time.monotonic()
            while held_by(redis.url, watchers[0].pid) < args.mailboxes:
                if time.monotonic() - started > 60:
                    break
                time.sleep(0.5)
            time.sleep(3)
            all_n, all_rss = held_by(redis.url, watchers[0].pid), rss_mb([watchers[0].pid])
            per_conn_kb = (all_rss - half_rss) * 1024 / max(1, all_n - half_n)
            log(
                f"watcher1: {half_n} mailboxes {half_rss:.0f} MB, "
                f"{all_n} mailboxes {all_rss:.0f} MB"
            )
        finally:
            if procs is not None:
                procs.stop_all()
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for path in tmp.glob("*.log"):
                    (args.logs / path.name).write_bytes(path.read_bytes())
            sink.stop()
            redis.stop()
            postgres.stop()
            dovecot.stop()
            if limit_before is not None:  # leave the machine as we found it
                with contextlib.suppress(OSError):
                    INOTIFY.write_text(limit_before)
    p50, p95 = statistics.median(latencies), pct(latencies, 0.95)
    print(
        f"\nScale-out: {args.mailboxes} mailboxes, 2 watchers, 2 workers "
        "(PostgreSQL, Redis, Dovecot)"
    )
    print(
        f"  floor (Dovecot IDLE delay): median {statistics.median(base):.2f} s, "
        f"p95 {pct(base, 0.95):.2f} s"
    )
    print(
        f"  arrival -> acknowledgement over {args.spread:.0f} s: p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"({p95 / pct(base, 0.95):.1f}x the floor's p95; target p95 < {TARGET_P95_S:.0f} s: "
        f"{'PASS' if p95 < TARGET_P95_S and len(latencies) == args.mailboxes else 'FAIL'})"
    )
    print(
        f"  watcher memory: {half_rss:.0f} MB holding {half_n} IDLE connections, {all_rss:.0f} MB "
        f"holding {all_n}: {per_conn_kb:.0f} KB per connection"
    )
    print(
        f"  burst of {args.mailboxes}: 1 worker {one_s:.1f} s ({one_n / one_s:.1f}/s), "
        f"2 workers {two_s:.1f} s ({two_n / two_s:.1f}/s) = {one_s / two_s:.2f}x"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "scale",
                "mailboxes": args.mailboxes,
                "p50_s": round(p50, 3),
                "p95_s": round(p95, 3),
                "floor_p95_s": round(pct(base, 0.95), 3),
                "acknowledged": len(latencies),
                "watcher_kb_per_connection": round(per_conn_kb, 1),
                "burst_1_worker_s": round(one_s, 2),
                "burst_2_workers_s": round(two_s, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
