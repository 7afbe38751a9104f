"""Benchmark acknowledgements end to end: `followup run` against a real IMAP and SMTP server.

Run from the project root::

    .venv/bin/python bench/ack.py            # 50 arrivals, a burst of 1,000 new threads
    .venv/bin/python bench/ack.py --quick    # 10 arrivals, a burst of 100
    .venv/bin/python bench/ack.py --profile 25   # + cProfile of the service during the burst

It starts its own private Dovecot (``tests.servers.Dovecot``, Maildir) and SMTP sink
(``tests.servers.SmtpSink``, in this process), adds the mailbox ``support`` with
:func:`assistant.service.mailboxes.add_mailbox` (grace 0, connected now, the sink's SMTP URL)
into a fresh SQLite store (the embedded default), and runs the real service in a child process:
this script with ``--serve`` calls the ``followup`` CLI's ``run --health-port 0 --config ...``
(the same code path as the console script; the child only wraps some service functions with
timers, records its IDLE wake-ups and can cProfile its event loop, each switched on and off
over its stdin). The service runs in its own process so the benchmark's own work (APPENDs,
the sink) never competes with it for the GIL.

The settings file the service gets raises ``[guards] max_per_minute`` to 100,000: with the
default (30 a minute) the throttle would spread the burst over half an hour, which measures
the throttle, not the service. Everything else is the default.

1. **Floor**: Dovecot's own IDLE delay. A raw imapclient connection IDLEs on an INBOX of
   another user; another connection APPENDs (at the same random gaps as below); measured from
   APPEND completed to the idler reading ``EXISTS``. Dovecot batches notifications with a
   hard-coded 500 ms delay, counted from the first change it sees, so an APPEND that lands
   while an earlier timer runs (e.g. one started by the idler's own index update) is told
   sooner.
2. **Arrival to acknowledgement**: once the service has finished its first sync (``GET
   /health`` says ``caught_up``), ``--arrivals`` client messages (distinct senders: one
   acknowledgement per sender per day; distinct subjects) are APPENDed to INBOX one at a time
   at random gaps of 0.2-2 s; measured from APPEND completed to the acknowledgement received by
   the SMTP sink (matched by its ``In-Reply-To``). The child records when the service's own
   IDLE threads are woken, which splits each sample into Dovecot's notification delay (APPEND
   -> the service's INBOX idler woken) and the service's own time (woken -> ack).
3. **Burst**: ``--burst`` new client threads (distinct senders) APPENDed as fast as possible
   (MULTIAPPEND of ``--chunk`` messages per command); measured from the first APPEND to the
   last acknowledgement at the sink, and on until the service is idle again (it also syncs
   back its own copies in Sent). Printed for each window: the service's CPU by thread and the
   wall time of its stages (functions wrapped in the child: summed over calls, and the longest
   call). With ``--profile N``, cProfile runs in the service's event-loop thread during the
   burst (it slows the service: the burst time is then inflated; use it to see where the time
   goes, not to judge the target). An in-process stack sampler was tried and dropped: a
   sampler thread gets the GIL when another thread releases it for a system call, so it sees
   threads at their socket writes far more often than they are there (py-spy, sampling from
   outside, disagreed by 20x).

Afterwards every acknowledgement is checked to have gone exactly once, the outbox rows are
counted in the store, and the servers are stopped and checked gone. Nothing is asserted:
figures are printed next to their targets with PASS/FAIL, and the last line is
``RESULT {json}``. The box may be noisy: re-run before trusting a small difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import imaplib
import json
import math
import os
import platform
import pstats
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from random import Random
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers

import psutil  # type: ignore[import-untyped]

from assistant.secrets import new_key
from assistant.service.mailboxes import add_mailbox
from assistant.store.db import database_url, store
from assistant.store.models import Mailbox, OutboxItem
from tests.servers import Cyrus, Dovecot, SmtpSink, server_dir

ROOT = Path(__file__).resolve().parent.parent
P = ParamSpec("P")
R = TypeVar("R")

#: Targets (see the task): a client hears back within 0.8 s (median), 1.5 s (p95) of the
#: mail landing in INBOX; 1,000 new threads at once are all acknowledged within 60 s.
TARGET_P50_S = 0.8
TARGET_P95_S = 1.5
TARGET_BURST_S = 60.0
TARGET_BURST_SIZE = 1000

FULL = {"arrivals": 50, "burst": 1000, "floor": 20}
QUICK = {"arrivals": 10, "burst": 100, "floor": 5}
GAP_S = (0.2, 2.0)
MAX_PER_MINUTE = 100_000
MAILBOX_NAME = "support"
MAILBOX_ADDRESS = "support@example.com"
SERVICE_USER = "support"
FLOOR_USER = "floor"
READY_TIMEOUT_S = 60.0
IDLE_TIMEOUT_S = 5.0
ARRIVAL_TIMEOUT_S = 30.0
TOP = 15

_T0 = time.perf_counter()


def log(message: str) -> None:
    """A progress line with the seconds since start, on stderr."""
    print(f"[{time.perf_counter() - _T0:7.1f} s] {message}", file=sys.stderr, flush=True)


# --- small helpers ----------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for an empty sample."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def verdict_word(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def spread(values: Sequence[float]) -> str:
    """``p50 p95 min max`` of a sample of seconds, for one printed line."""
    if not values:
        return "no samples"
    return (
        f"p50 {percentile(values, 0.5):.3f} s  p95 {percentile(values, 0.95):.3f} s  "
        f"min {min(values):.3f} s  max {max(values):.3f} s  (n={len(values)})"
    )


def figures(values: Sequence[float]) -> dict[str, float | int | None]:
    """The same as numbers for the RESULT line."""

    def r(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 4)

    return {
        "n": len(values),
        "p50": r(percentile(values, 0.5)),
        "p95": r(percentile(values, 0.95)),
        "min": r(min(values)) if values else None,
        "max": r(max(values)) if values else None,
    }


def client_mail(mid: str, name: str, sender: str, subject: str) -> bytes:
    """One new client message to the support address (CRLF, plain text)."""
    lines = [
        f"From: {name} <{sender}>",
        f"To: Support <{MAILBOX_ADDRESS}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    body = [
        "Hello,",
        "",
        f"about {subject.lower()}: could you have a look and tell me what happens next?",
        "The order number is in the subject. Thanks in advance.",
        "",
        f"{name}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


TOPICS = ("invoice", "delivery", "refund", "login", "order", "contract", "upgrade", "address")
FIRST = ("Anna", "Erik", "Maria", "Jonas", "Lena", "Tom", "Sara", "Paul", "Nina", "Omar")
LAST = ("Berg", "Smith", "Novak", "Rossi", "Khan", "Meyer", "Costa", "Lund", "Ito", "Moreau")


@dataclass(frozen=True)
class Client:
    """One client message to send: its Message-ID and raw bytes."""

    mid: str
    raw: bytes


def make_clients(prefix: str, count: int, rng: Random, token: str) -> list[Client]:
    """``count`` messages from distinct senders with distinct subjects."""
    out = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        sender = f"{prefix}{i}@client{i}-{token}.test"
        subject = f"{rng.choice(TOPICS).capitalize()} question {prefix}-{i} ({token})"
        mid = f"{prefix}{i}.{token}@client{i}.test"
        out.append(Client(mid, client_mail(mid, name, sender, subject)))
    return out


# --- the SMTP side: when each acknowledgement arrived -------------------------------------

IN_REPLY_TO = re.compile(rb"^In-Reply-To:[ \t]*<([^>\r\n]+)>", re.MULTILINE | re.IGNORECASE)


class AckRecorder(threading.Thread):
    """Timestamps every message the sink accepts (woken by the sink's condition, not polled)
    and indexes them by the Message-ID they answer (``In-Reply-To``)."""

    def __init__(self, sink: SmtpSink) -> None:
        super().__init__(name="ack-recorder", daemon=True)
        self.sink = sink
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.count: Counter[str] = Counter()
        self.unmatched = 0
        self.seen = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                messages = self.sink.wait_for(self.seen + 1, timeout=0.2)
            except AssertionError:
                continue
            now = time.monotonic()
            with self.lock:
                for received in messages[self.seen :]:
                    found = IN_REPLY_TO.search(received.data.split(b"\r\n\r\n", 1)[0])
                    if found is None:
                        self.unmatched += 1
                        continue
                    mid = found.group(1).decode()
                    self.count[mid] += 1
                    self.first.setdefault(mid, now)
                self.seen = len(messages)

    def acked(self, mids: Sequence[str]) -> int:
        """How many of ``mids`` have been answered."""
        with self.lock:
            return sum(1 for m in mids if m in self.first)

    def wait_all(self, mids: Sequence[str], timeout: float, progress_every: float = 0.0) -> bool:
        """Wait until every one of ``mids`` is answered (False on timeout)."""
        deadline = time.monotonic() + timeout
        next_note = time.monotonic() + progress_every
        while time.monotonic() < deadline:
            done = self.acked(mids)
            if done == len(mids):
                return True
            if progress_every and time.monotonic() >= next_note:
                log(f"  {done:,}/{len(mids):,} acknowledged")
                next_note += progress_every
            time.sleep(0.01)
        return self.acked(mids) == len(mids)

    def stop(self) -> None:
        """End the thread."""
        self.stopping.set()
        self.join(5)


# --- the floor: Dovecot's own IDLE delay ---------------------------------------------------


def _has_exists(responses: Sequence[Any]) -> int | None:
    """The highest ``n`` of ``* n EXISTS`` among IDLE responses, or None."""
    found = [r[0] for r in responses if isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS"]
    return max(found) if found else None


def measure_floor(dovecot: Dovecot, samples: int, rng: Random, token: str) -> list[float]:
    """APPEND completed -> a raw IDLE connection reads EXISTS, ``samples`` times."""
    idler = dovecot.client(FLOOR_USER)
    appender = dovecot.client(FLOOR_USER)
    out: list[float] = []
    try:
        idler.select_folder("INBOX")
        idler.idle()
        for client in make_clients("floor", samples, rng, token):
            time.sleep(rng.uniform(*GAP_S))
            appender.append("INBOX", client.raw)
            done = time.monotonic()
            deadline = done + IDLE_TIMEOUT_S
            while (left := deadline - time.monotonic()) > 0:
                if _has_exists(idler.idle_check(timeout=left)) is not None:
                    out.append(time.monotonic() - done)
                    break
        idler.idle_done()
    finally:
        for conn in (idler, appender):
            with contextlib.suppress(Exception):
                conn.logout()
    return out


# --- the service, in a child process ---------------------------------------------------------


class ServiceProcess:
    """``followup run`` in a child (this script with ``--serve``); control over its stdin."""

    def __init__(self, base: Path, env: dict[str, str], config: Path) -> None:
        self.base = base
        self.env = env
        self.config = config
        self.log_path = base / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_url: str | None = None

    def start(self) -> None:
        """Start the child; returns at once (see :meth:`wait_caught_up`)."""
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.config)]
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=out, env=self.env, cwd=ROOT
            )

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _find_health_url(self) -> str | None:
        found = re.search(r'"url": "(http://[^"]+/health)"', self.log_path.read_text("utf-8"))
        return found.group(1) if found else None

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        assert self.health_url is not None
        with urllib.request.urlopen(self.health_url, timeout=5) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def wait_caught_up(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Wait until the watcher finished its first sync and waits for IDLE; return seconds."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline and self._alive():
            if self.health_url is None:
                self.health_url = self._find_health_url()
            elif (boxes := self.health()["mailboxes"]) and boxes[0].get(
                "caught_up", boxes[0]["connected"]
            ):
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"the service did not catch up; log {self.log_path}:\n{self.tail()}")

    def wait_idle(self, quiet: float = 1.5, timeout: float = 300.0) -> float:
        """Wait until the watcher is caught up and has not checked again for ``quiet`` seconds
        (its own Sent copies wake it too); return the monotonic time it was last busy."""
        deadline = time.monotonic() + timeout
        last: tuple[Any, ...] = ()
        since = time.monotonic()
        while time.monotonic() < deadline and self._alive():
            box = (self.health()["mailboxes"] or [{}])[0]
            state = (box.get("checks"), box.get("caught_up", box.get("connected")))
            if state != last:
                last, since = state, time.monotonic()
            elif state[1] and time.monotonic() - since >= quiet:
                return since
            time.sleep(0.05)
        return time.monotonic()

    def tail(self, lines: int = 30) -> str:
        """The end of the child's log."""
        return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])

    def command(self, line: str) -> None:
        """Send one control line to the child."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def window(self, name: str, profile_top: int = 0) -> None:
        """Start a measurement window (stage timers; cProfile of the event loop when
        ``profile_top``, which is how many functions to report)."""
        self.command(f"start {name} {profile_top}")

    def collect(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        """End the window; the child writes its figures to a file we read back."""
        path = self.base / f"window-{name}.json"
        self.command(f"stop {path}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.05)
        if not path.exists():
            return {}
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def stop(self) -> int | None:
        """SIGTERM (the service's clean stop), then wait; kill if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        return code


# --- child side: stage timers, wake-ups, a profiler ------------------------------------------

STAGES: dict[str, list[float]] = {}  # name -> [calls, total seconds, longest call]
WAKES: list[tuple[float, str]] = []  # (time.monotonic(), folder) of each IDLE wake-up


def _add_stage(name: str, seconds: float) -> None:
    entry = STAGES.setdefault(name, [0, 0.0, 0.0])
    entry[0] += 1
    entry[1] += seconds
    entry[2] = max(entry[2], seconds)


def _timed_async(name: str, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _add_stage(name, time.perf_counter() - started)

    return wrapper


def _timed_sync(name: str, fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add_stage(name, time.perf_counter() - started)

    return wrapper


#: (module, attribute path, stage name, is it async): what the child times. Each name is
#: patched where the caller looks it up. Indentation in the report follows this order.
TIMED: tuple[tuple[str, str, str, bool], ...] = (
    ("assistant.runners.watch", "MailboxWatcher.check", "check (sync_folders)", True),
    ("assistant.service.ingest", "sync_folder", "  sync_folder", True),
    ("assistant.service.ingest", "_fetch_new", "    _fetch_new (IMAP fetch + store)", True),
    ("assistant.service.ingest", "_fetch_list", "      _fetch_list (IMAP FETCH)", False),
    ("assistant.service.prepare", "prepare_batch", "      prepare_batch (parse)", False),
    ("assistant.service.ingest", "store_batch", "      store_batch (insert)", True),
    ("assistant.service.pipeline", "reevaluate", "  reevaluate (threads)", True),
    ("assistant.runners.run", "Service._after_change", "after_change (plan + deliver)", True),
    ("assistant.service.pipeline", "handle_commands", "  handle_commands", True),
    ("assistant.service.pipeline", "plan_pending", "  plan_pending", True),
    ("assistant.runners.run", "Service.deliver", "  Service.deliver (incl. lock wait)", True),
    ("assistant.service.deliver", "Deliverer.deliver_due", "    deliver_due", True),
    ("assistant.service.deliver", "Deliverer._throttled", "      _throttled (per minute)", True),
    ("assistant.service.deliver", "load_thread", "      load_thread", True),
    ("assistant.service.send_guards", "Guards.check", "      _guard", True),
    ("assistant.service.send_guards", "second_look", "        second look (body peek)", True),
    ("assistant.service.deliver", "Deliverer._render", "      _render (templates)", False),
    ("assistant.service.deliver", "Deliverer._message", "      _message (compose)", False),
    ("assistant.mail.smtp", "SmtpSender.send", "      SMTP send", True),
    ("assistant.mail.smtp", "SmtpSender._connect", "        SMTP connect (+ EHLO)", True),
    ("assistant.service.sentcopy", "SentCopies.settle", "      Sent copy (look, APPEND)", True),
    ("assistant.service.deliver", "Deliverer._session", "        IMAP login for it", True),
    ("assistant.service.deliver", "Deliverer._mark_sent", "      _mark_sent", True),
    ("assistant.service.deliver", "Deliverer.close", "      close (SMTP QUIT, IMAP LOGOUT)", True),
    ("assistant.runtime", "Runtime.policy", "Runtime.policy (build_policy)", False),
)


def install_timers() -> None:
    """Wrap the functions of :data:`TIMED` (in the child, before the service starts)."""
    import importlib

    for module_name, attr, name, is_async in TIMED:
        owner: Any = importlib.import_module(module_name)
        *path, last = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, last)
        setattr(owner, last, _timed_async(name, fn) if is_async else _timed_sync(name, fn))


def install_wake_recorder() -> None:
    """Record when each of the service's IDLE threads wakes the watcher, and for which folder
    (``time.monotonic`` is the system-wide CLOCK_MONOTONIC: comparable with the parent's)."""
    from assistant.runners import watch

    original = watch._Idler.__init__

    def init(self: Any, url: Any, folder: str, wake: Callable[[], None], notify: Any = ()) -> None:
        def recorded() -> None:
            WAKES.append((time.monotonic(), folder))
            wake()

        original(self, url, folder, recorded, notify)

    setattr(watch._Idler, "__init__", init)  # noqa: B010  (mypy: no assigning to a method)


def _label(filename: str, line: int, name: str) -> str:
    for marker in ("/assistant/", "/site-packages/"):
        if marker in filename:
            short = filename.split(marker, 1)[1]
            filename = ("assistant/" if marker == "/assistant/" else "") + short
            break
    else:
        filename = os.path.basename(filename)
    return f"{filename}:{line}({name})"


def _group(name: str) -> str:
    return re.sub(r"\d+", "N", name)


LOOP: list[asyncio.AbstractEventLoop] = []


def install_loop_capture() -> None:
    """Keep the service's event loop, so cProfile can be switched on in its thread."""
    from assistant.runners.run import Service

    original = Service.run

    async def run(self: Service) -> None:
        LOOP.append(asyncio.get_running_loop())
        await original(self)

    setattr(Service, "run", run)  # noqa: B010  (mypy: no assigning to a method)


class LoopProfiler:
    """cProfile of the event-loop thread, where every assistant/ function runs except the
    blocking IMAP calls (``asyncio.to_thread``) and SQLite (aiosqlite's thread)."""

    def __init__(self) -> None:
        self.profile: cProfile.Profile | None = None

    def _in_loop(self, fn: Callable[[], object]) -> None:
        done = threading.Event()

        def call() -> None:
            fn()
            done.set()

        LOOP[0].call_soon_threadsafe(call)
        done.wait(10)

    def start(self) -> None:
        """Switch profiling on in the loop's thread."""
        if LOOP:
            self.profile = cProfile.Profile()
            self._in_loop(self.profile.enable)

    def stop(self, top: int) -> dict[str, Any] | None:
        """Switch it off; the top functions by own time, and assistant/ ones by cumulative."""
        profile, self.profile = self.profile, None
        if profile is None:
            return None
        self._in_loop(profile.disable)
        stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        rows = [
            (_label(f, line, name), calls, tt, ct)
            for (f, line, name), (_, calls, tt, ct, _) in stats.items()
        ]
        total = sum(tt for _, _, tt, _ in rows)
        idle = sum(tt for label, _, tt, _ in rows if "select.epoll" in label)
        busy = [r for r in rows if "select.epoll" not in r[0]]
        own = sorted(busy, key=lambda r: -r[2])[:top]
        ours = sorted((r for r in rows if r[0].startswith("assistant/")), key=lambda r: -r[3])
        return {"total_s": total, "idle_s": idle, "own": own, "assistant_cumulative": ours[:top]}


def _thread_cpu() -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}


class Control(threading.Thread):
    """Reads ``start NAME PROFILE_TOP`` / ``stop PATH`` lines from stdin; SIGTERM on EOF (the
    parent is gone) so the service never outlives the benchmark."""

    def __init__(self) -> None:
        super().__init__(name="bench-control", daemon=True)
        self.profiler = LoopProfiler()
        self.top = 0
        self.started = time.perf_counter()
        self.cpu_start: dict[int, float] = {}
        self.proc_start = psutil.Process().cpu_times()

    def run(self) -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["start"] and len(words) == 3:
                self._start(top=int(words[2]))
            elif words[:1] == ["stop"] and len(words) == 2:
                self._stop(Path(words[1]))
        os.kill(os.getpid(), signal.SIGTERM)

    def _start(self, top: int) -> None:
        STAGES.clear()
        WAKES.clear()
        self.top = top
        self.started = time.perf_counter()
        self.cpu_start = _thread_cpu()
        self.proc_start = psutil.Process().cpu_times()
        if top:
            self.profiler.start()

    def _stop(self, path: Path) -> None:
        profile = self.profiler.stop(self.top)
        wall = time.perf_counter() - self.started
        now = _thread_cpu()
        native = {t.native_id: _group(t.name) for t in threading.enumerate()}
        by_thread: dict[str, float] = {}
        for tid, cpu in now.items():
            group = native.get(tid, "(ended or native)")
            by_thread[group] = by_thread.get(group, 0.0) + cpu - self.cpu_start.get(tid, 0.0)
        proc = psutil.Process().cpu_times()
        data = {
            "wall_s": wall,
            "cpu_user_s": proc.user - self.proc_start.user,
            "cpu_system_s": proc.system - self.proc_start.system,
            "cpu_by_thread": {
                k: round(v, 3) for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1])
            },
            "stages": {k: [int(v[0]), round(v[1], 4), round(v[2], 4)] for k, v in STAGES.items()},
            "wakes": list(WAKES),
            "profile": profile,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def serve(config: str) -> None:
    """The child: the ``followup run`` CLI with timers (exits through click)."""
    install_timers()
    install_wake_recorder()
    install_loop_capture()
    Control().start()
    from assistant.cli import main as cli

    cli(["run", "--health-port", "0", "--config", config], prog_name="followup")


# --- the store (parent side) -------------------------------------------------------------


async def setup_mailbox(url: str, imap_url: str, smtp_url: str) -> None:
    """Add the mailbox the way ``followup mailbox add ... --grace 0s`` does."""
    async with store(url):
        await add_mailbox(
            MAILBOX_NAME,
            MAILBOX_ADDRESS,
            imap_url,
            smtp_url,
            ["@example.com"],
            None,
            0,
            datetime.now(UTC),
            None,
        )


async def outbox_summary(url: str) -> dict[str, Any]:
    """Outbox rows per status and skip rule, and whether the mailbox got paused."""
    async with store(url):
        rows = await OutboxItem.all().values_list("status", "skip_rule")
        box = await Mailbox.get(name=MAILBOX_NAME)
    statuses = Counter(str(s) for s, _ in rows)
    skips = Counter(str(r) for s, r in rows if s == "skipped")
    return {
        "rows": len(rows),
        "status": dict(sorted(statuses.items())),
        "skipped": dict(sorted(skips.items())),
        "paused": box.paused_reason,
    }


# --- the measurements (parent side) -------------------------------------------------------


@dataclass
class LatencyRun:
    """Arrival to acknowledgement."""

    total: list[float] = field(default_factory=list)
    notify: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    missing: int = 0
    early: int = 0
    duplicates: int = 0
    window: dict[str, Any] = field(default_factory=dict)


def measure_latency(
    dovecot: Dovecot,
    service: ServiceProcess,
    recorder: AckRecorder,
    clients: list[Client],
    rng: Random,
) -> LatencyRun:
    """APPEND each client message after a random gap; time to its acknowledgement."""
    appender = dovecot.client(SERVICE_USER)
    done_at: list[float] = []
    service.window("latency")
    try:
        for i, client in enumerate(clients):
            time.sleep(rng.uniform(*GAP_S))
            appender.append("INBOX", client.raw)
            done_at.append(time.monotonic())
            if (i + 1) % 10 == 0:
                log(f"  {i + 1}/{len(clients)} appended")
        recorder.wait_all([c.mid for c in clients], ARRIVAL_TIMEOUT_S)
    finally:
        with contextlib.suppress(Exception):
            appender.logout()
    service.wait_idle()
    run = LatencyRun(window=service.collect("latency"))
    inbox = sorted(t for t, folder in run.window.get("wakes", []) if folder == "INBOX")
    for client, done in zip(clients, done_at, strict=True):
        acked = recorder.first.get(client.mid)
        if acked is None:
            run.missing += 1
            continue
        run.total.append(acked - done)
        woken = next((t for t in inbox if t >= done), None)
        if woken is None or woken > acked:
            run.early += 1  # a check started for another reason already saw it
            continue
        run.notify.append(woken - done)
        run.service.append(acked - woken)
    run.duplicates = sum(max(0, recorder.count[c.mid] - 1) for c in clients)
    return run


@dataclass
class BurstRun:
    """A burst of new threads."""

    size: int
    chunk: int
    append_s: float = math.nan
    last_ack_s: float = math.nan
    marks: dict[str, float] = field(default_factory=dict)
    acked: int = 0
    duplicates: int = 0
    idle_s: float = math.nan
    window: dict[str, Any] = field(default_factory=dict)


def measure_burst(
    dovecot: Dovecot,
    service: ServiceProcess,
    recorder: AckRecorder,
    clients: list[Client],
    chunk: int,
    timeout: float,
    profile_top: int,
) -> BurstRun:
    """MULTIAPPEND every message as fast as possible; time to the last acknowledgement."""
    run = BurstRun(len(clients), chunk)
    appender = dovecot.client(SERVICE_USER)
    mids = [c.mid for c in clients]
    service.window("burst", profile_top)
    started = time.monotonic()
    try:
        multi = b"MULTIAPPEND" in appender.capabilities()
        for at in range(0, len(clients), chunk):
            part = [c.raw for c in clients[at : at + chunk]]
            try:
                if multi:
                    appender.multiappend("INBOX", part)
                    continue
            except imaplib.IMAP4.error:  # Cyrus 3.6 answers BAD to it: nothing was stored
                multi = False
            for raw in part:
                appender.append("INBOX", raw)
        run.append_s = time.monotonic() - started
        log(
            f"  {len(clients):,} appended in {run.append_s:.2f} s; waiting for the acknowledgements"
        )
        recorder.wait_all(mids, timeout, progress_every=10.0)
    finally:
        with contextlib.suppress(Exception):
            appender.logout()
    run.idle_s = service.wait_idle() - started
    run.window = service.collect("burst")
    times = sorted(recorder.first[m] - started for m in mids if m in recorder.first)
    run.acked = len(times)
    run.duplicates = sum(max(0, recorder.count[m] - 1) for m in mids)
    if times:
        run.last_ack_s = times[-1]
        for share in (0.01, 0.1, 0.5, 0.9, 1.0):
            index = max(0, math.ceil(share * len(clients)) - 1)
            if index < len(times):
                run.marks[f"{share:.0%}"] = times[index]
    return run


# --- reporting ---------------------------------------------------------------------------


def print_window(window: dict[str, Any], per: int, what: str) -> None:
    """The child's stage timers and CPU for one window."""
    if not window:
        print("    (no figures from the service)")
        return
    wall = window["wall_s"]
    cpu = window["cpu_user_s"] + window["cpu_system_s"]
    print(
        f"    service process over the window: wall {wall:.1f} s, CPU {cpu:.1f} s "
        f"({100 * cpu / wall:.0f}% of one core; user {window['cpu_user_s']:.1f} s, "
        f"system {window['cpu_system_s']:.1f} s)"
    )
    threads = ", ".join(f"{k} {v:.1f} s" for k, v in window["cpu_by_thread"].items() if v >= 0.05)
    print(f"    CPU by thread: {threads}")
    print(f"    stage wall times (summed over calls; per {what} = total / {per:,}):")
    print(f"      {'stage':<44} {'calls':>7} {'total s':>9} {'ms/' + what:>10} {'max s':>7}")
    stages = window["stages"]
    for _, _, name, _ in TIMED:
        if name in stages:
            calls, total, longest = stages[name]
            print(
                f"      {name:<44} {calls:>7,} {total:>9.2f} {1000 * total / per:>10.2f} "
                f"{longest:>7.3f}"
            )


def print_profile(profile: dict[str, Any] | None) -> None:
    """The event loop's cProfile: top functions by own time, assistant/ ones by cumulative."""
    if not profile:
        return
    total = profile["total_s"] or 1.0
    print(
        f"    cProfile of the service's event-loop thread over the window ({total:.1f} s; "
        f"cProfile slows the service down, so the times above are inflated): "
        f"{profile['idle_s']:.1f} s waiting in epoll (for SMTP and IMAP replies, SQLite and "
        f"IMAP threads), {total - profile['idle_s']:.1f} s running; shares are of {total:.1f} s"
    )
    print(f"    top {len(profile['own'])} by own time (epoll wait left out):")
    print(f"      {'own s':>7} {'share':>6} {'calls':>9}  function")
    for label, calls, own, _ in profile["own"]:
        print(f"      {own:7.2f} {100 * own / total:5.1f}% {calls:9,}  {label}")
    print("    assistant/ functions by cumulative time (a coroutine's time while it runs):")
    print(f"      {'cum s':>7} {'share':>6} {'calls':>9}  function")
    for label, calls, _, cum in profile["assistant_cumulative"]:
        print(f"      {cum:7.2f} {100 * cum / total:5.1f}% {calls:9,}  {label}")


def imap_server(setup: Setup, base: Path) -> Any:
    """The run's IMAP server (not started yet: the ``with`` block starts it)."""
    if setup.server == "cyrus":
        return Cyrus(base / "cyrus")
    return Dovecot(base / "dovecot")


def our_pids(config: Path) -> list[int]:
    """This run's server master (found by its folder in its command line) and all its
    descendants."""
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(config) in " ".join(proc.info["cmdline"] or []):
            pids.append(proc.info["pid"])
            with contextlib.suppress(psutil.Error):
                pids += [child.pid for child in proc.children(recursive=True)]
    return pids


def leftovers(pids: Sequence[int]) -> list[str]:
    """Those of ``pids`` still running (a zombie awaiting its reap counts as gone)."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{pid} {' '.join(proc.cmdline())[:100]}")
    return found


def dovecot_version() -> str:
    """``dovecot --version`` (best effort)."""
    try:
        out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, check=False)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


@dataclass
class Setup:
    """What the run is made of."""

    arrivals: int
    burst: int
    floor: int
    chunk: int
    seed: int
    profile: int
    burst_target_s: float
    #: The IMAP server: "dovecot" or "cyrus" (the matrix's second, unpacked privately).
    server: str = "dovecot"
    token: str = field(default_factory=lambda: secrets.token_hex(3))


def parse_args(argv: Sequence[str] | None) -> Setup:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 arrivals, a burst of 100")
    ap.add_argument("--arrivals", type=int, help="client messages at random gaps (default 50)")
    ap.add_argument("--burst", type=int, help="new threads appended at once (default 1000)")
    ap.add_argument("--floor-samples", type=int, help="raw IDLE samples (default 20)")
    ap.add_argument("--chunk", type=int, default=100, help="messages per MULTIAPPEND")
    ap.add_argument("--seed", type=int, default=20261122, help="random gaps and names")
    ap.add_argument(
        "--server",
        choices=("dovecot", "cyrus"),
        default="dovecot",
        help="the IMAP server (cyrus: Debian's, unpacked into .cache/cyrus by scripts/test.sh)",
    )
    ap.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="cProfile the service's event loop during the burst; print the top N",
    )
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    burst = args.burst or sizes["burst"]
    return Setup(
        arrivals=args.arrivals or sizes["arrivals"],
        burst=burst,
        floor=args.floor_samples or sizes["floor"],
        chunk=args.chunk,
        seed=args.seed,
        profile=args.profile,
        burst_target_s=TARGET_BURST_S * burst / TARGET_BURST_SIZE,
        server=args.server,
    )


@dataclass
class Outcome:
    """Everything measured."""

    floor: list[float]
    latency: LatencyRun
    burst: BurstRun
    ready_s: float
    outbox: dict[str, Any]
    unmatched: int
    exit_code: int | None
    leftover: list[str]
    health: dict[str, Any]


def run_all(setup: Setup) -> Outcome:
    """Start the servers and the service, measure, stop everything."""
    rng = Random(setup.seed)
    with server_dir("ack") as base, imap_server(setup, base) as dovecot, SmtpSink() as sink:
        for user in (SERVICE_USER, FLOOR_USER):
            dovecot.add_user(user, secrets.token_hex(8))
        log(f"{setup.server} on {dovecot.port}, SMTP sink on {sink.port}; floor: raw IDLE")
        floor = measure_floor(dovecot, setup.floor, rng, setup.token)
        with dovecot.client(SERVICE_USER) as first:  # Dovecot creates the Maildir as nobody
            first.select_folder("INBOX")
        key = new_key()
        os.environ["FOLLOWUP_SECRET_KEY"] = key  # add_mailbox encrypts with it
        os.environ.pop("FOLLOWUP_SECRET_KEY_FILE", None)
        data_dir = base / "data"
        url = database_url(None, data_dir)
        password = quote(dovecot.password(SERVICE_USER), safe="")
        imap_url = f"imap://{SERVICE_USER}:{password}@{dovecot.host}:{dovecot.port}"
        asyncio.run(setup_mailbox(url, imap_url, f"smtp://{sink.host}:{sink.port}"))
        config = base / "ack.toml"
        config.write_text(f"[guards]\nmax_per_minute = {MAX_PER_MINUTE}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
        env |= {"FOLLOWUP_DATA_DIR": str(data_dir), "FOLLOWUP_SECRET_KEY": key}
        recorder = AckRecorder(sink)
        recorder.start()
        service = ServiceProcess(base, env, config)
        pids = our_pids(dovecot.base_dir)
        try:
            service.start()
            pids += [service.proc.pid] if service.proc else []
            ready = service.wait_caught_up()
            log(f"service caught up {ready:.1f} s after start; {setup.arrivals} arrivals")
            latency = measure_latency(
                dovecot,
                service,
                recorder,
                make_clients("lat", setup.arrivals, rng, setup.token),
                rng,
            )
            log(f"burst of {setup.burst:,}")
            clients = make_clients("burst", setup.burst, rng, setup.token)
            timeout = max(120.0, 5 * setup.burst_target_s)
            burst = measure_burst(
                dovecot, service, recorder, clients, setup.chunk, timeout, setup.profile
            )
            health = service.health()
        finally:
            exit_code = service.stop()
            recorder.stop()
        outbox = asyncio.run(outbox_summary(url))
        dovecot.stop()  # idempotent: the with block's stop then does nothing
        left = leftovers(pids)
    return Outcome(
        floor, latency, burst, ready, outbox, recorder.unmatched, exit_code, left, health
    )


def print_report(setup: Setup, out: Outcome) -> dict[str, Any]:
    """Print everything; return the RESULT record."""
    lat, burst = out.latency, out.burst
    p50, p95 = percentile(lat.total, 0.5), percentile(lat.total, 0.95)
    pass_p50 = lat.missing == 0 and p50 < TARGET_P50_S
    pass_p95 = lat.missing == 0 and p95 < TARGET_P95_S
    pass_burst = burst.acked == burst.size and burst.last_ack_s < setup.burst_target_s
    server = (
        f"Dovecot {dovecot_version()} (Maildir, mail_fsync=never)"
        if setup.server == "dovecot"
        else "Cyrus IMAP 3.6 (IDLE pushed every imapidlepoll = 1 s)"
    )
    print(f"Followup acknowledgement benchmark: `followup run` against {setup.server} + SMTP sink")
    print(
        f"  python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{server}, SQLite store; seed {setup.seed}"
    )
    print(
        f"  service: `followup run --health-port 0 --config ack.toml` in a child process, "
        f"settings: [guards] max_per_minute = {MAX_PER_MINUTE:,} (default 30), grace 0; "
        f"first sync done {out.ready_s:.1f} s after start"
    )
    print(f"\n1. Floor: the server's IDLE, APPEND done -> raw idler reads EXISTS ({setup.floor})")
    print(f"    {spread(out.floor)}")
    print(
        f"\n2. Arrival to acknowledgement: {setup.arrivals} client messages, random gaps "
        f"{GAP_S[0]}-{GAP_S[1]} s, distinct senders"
    )
    print(f"    APPEND completed -> ack at the SMTP sink: {spread(lat.total)}")
    print(
        f"      target p50 < {TARGET_P50_S} s: {verdict_word(pass_p50)}; "
        f"p95 < {TARGET_P95_S} s: {verdict_word(pass_p95)}"
    )
    print(f"    split: APPEND -> service's INBOX idler woken: {spread(lat.notify)}")
    print(f"           woken -> ack at the sink:             {spread(lat.service)}")
    if lat.early:
        print(f"           ({lat.early} picked up by a check already under way, before the wake)")
    acked = setup.arrivals - lat.missing
    print(f"    acknowledged {acked}/{setup.arrivals}, duplicates {lat.duplicates}")
    print_window(lat.window, max(1, setup.arrivals), "arrival")
    print(
        f"\n3. Burst: {burst.size:,} new threads, MULTIAPPEND of {burst.chunk} per command, "
        f"appended in {burst.append_s:.2f} s"
    )
    print(
        f"    first APPEND -> last ack at the sink: {burst.last_ack_s:.1f} s "
        f"({burst.acked:,}/{burst.size:,} acknowledged, duplicates {burst.duplicates}); "
        f"target < {setup.burst_target_s:g} s: {verdict_word(pass_burst)}"
    )
    marks = ", ".join(f"{k} {v:.1f} s" for k, v in burst.marks.items())
    rate = burst.acked / burst.last_ack_s if burst.last_ack_s > 0 else math.nan
    print(f"    acks by time: {marks}; mean rate {rate:.1f} acks/s")
    print(
        f"    service idle again (caught up, no check for 1.5 s) {burst.idle_s:.1f} s after the "
        f"first APPEND: the window below runs until then"
    )
    print_window(burst.window, max(1, burst.size), "thread")
    print_profile(burst.window.get("profile"))
    exactly_once = (
        lat.duplicates == 0 and burst.duplicates == 0 and out.unmatched == 0 and lat.missing == 0
    )
    print(
        f"\n4. Afterwards: outbox rows {out.outbox['rows']:,} {out.outbox['status']}, "
        f"skipped {out.outbox['skipped'] or 'none'}, paused: {out.outbox['paused'] or 'no'}"
    )
    mailbox = (out.health.get("mailboxes") or [{}])[0]
    print(
        f"    watcher: checks {mailbox.get('checks')}, reconnects {mailbox.get('reconnects')}, "
        f"last error {mailbox.get('last_error')}; acks not answering a client message: "
        f"{out.unmatched}; every client acknowledged exactly once: {exactly_once}"
    )
    print(
        f"    service exit code {out.exit_code}; leftover processes: "
        f"{'; '.join(out.leftover) or 'none'}"
    )
    return {
        "bench": "ack",
        "floor_idle_s": figures(out.floor),
        "arrivals": setup.arrivals,
        "arrival_to_ack_s": figures(lat.total),
        "arrival_notify_s": figures(lat.notify),
        "arrival_service_s": figures(lat.service),
        "arrival_missing": lat.missing,
        "arrival_early": lat.early,
        "burst": burst.size,
        "burst_chunk": burst.chunk,
        "burst_append_s": round(burst.append_s, 3),
        "burst_last_ack_s": round(burst.last_ack_s, 3),
        "burst_acked": burst.acked,
        "burst_idle_s": round(burst.idle_s, 3),
        "burst_marks_s": {k: round(v, 3) for k, v in burst.marks.items()},
        "duplicates": lat.duplicates + burst.duplicates,
        "exactly_once": exactly_once,
        "outbox": out.outbox,
        "max_per_minute": MAX_PER_MINUTE,
        "target_p50_s": TARGET_P50_S,
        "target_p95_s": TARGET_P95_S,
        "target_burst_s": setup.burst_target_s,
        "pass_p50": pass_p50,
        "pass_p95": pass_p95,
        "pass_burst": pass_burst,
        "leftover_processes": len(out.leftover),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print."""
    setup = parse_args(argv)
    outcome = run_all(setup)
    result = print_report(setup, outcome)
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    sys.exit(main())
