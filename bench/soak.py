"""Kill -9 soak: does every client get exactly one acknowledgement when `followup run` dies?

Run from the project root::

    .venv/bin/python bench/soak.py                          # 200 clients, 20 kills (~3-5 min)
    .venv/bin/python bench/soak.py --clients 60 --kills 6   # quick check
    .venv/bin/python bench/soak.py --seed 1234              # the same schedule again

What it sets up (all on 127.0.0.1, in one ``/tmp/followup-soak-*`` directory removed afterwards,
kept with ``FOLLOWUP_KEEP_SERVER_DIRS=1``): a private Dovecot (``tests.servers.Dovecot``), an
SMTP sink in this process (``tests.servers.SmtpSink`` with a slower DATA: each message waits
``--smtp-delay`` seconds before its 250, so kills can land while a message is being sent) and a
fresh SQLite store (the embedded default: ``FOLLOWUP_DATA_DIR`` in the temp dir, a key from
``followup secret-key``). A few history messages go to INBOX first; then the mailbox is added
with the real CLI (``followup mailbox add support ... --grace 0s``, connection test included),
so those messages are history and must never be acknowledged.

The service is the real ``followup run --health-port 0 --poll 5`` in its own process group,
with ``FOLLOWUP_SEND_LEASE_SECONDS=5`` (a row a killed process left ``sending`` is taken up
again after 5 s instead of 300 s) and a settings file that raises ``[guards] max_per_minute``
(the throttle would otherwise dominate the run time); everything else is the default.

Once it has caught up, ``--clients`` new client messages (distinct senders and subjects) are
APPENDed to INBOX at random moments over ``--spread`` seconds, while the whole process group
is killed with SIGKILL ``--kills`` times and restarted at once or after a short random pause.
A kill is aimed at a random moment, at a moment inside the sink's DATA delay (before its 250),
or just after a 250 (before the service can have committed ``accepted``); where each kill
really landed is judged afterwards from the sink's timestamps. After the last kill it waits
(at most ``--settle`` seconds) until every client is acknowledged and no outbox row is still
active, or nothing changes for ``--quiet`` seconds, and stops the service with SIGTERM.

It prints, per client, how many acknowledgements reached the sink (matched by In-Reply-To,
else by recipient): exactly once, missing (with the store's message, thread and outbox rows,
and the service's log lines about it), and duplicates. A duplicate whose earlier copy got its
250 less than ``WINDOW_S`` before a kill (or during the DATA a kill interrupted) is "inside the
SMTP window": the crash came between the server's 250 and the commit of ``accepted``, the one
window the design admits (mail may go twice, never zero times). Any other duplicate is
"outside": a bug. Also the history messages acknowledged (must be 0) and the Sent copies per
acknowledgement (by IMAP; more than one is reported, not a failure).

Exit status 1 when a client is missing, a duplicate is outside the window or a history message
was acknowledged; 2 when the run itself failed (servers, time limit ``--timeout``, Ctrl-C).
The service's stderr goes to ``service-NN.log`` per start in the temp dir; its tail is printed
on failure. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from itertools import pairwise
from pathlib import Path
from random import Random
from types import FrameType
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers, assistant
sys.path.insert(0, str(Path(__file__).resolve().parent))  # ack, when imported from elsewhere

from ack import (
    IN_REPLY_TO,
    MAILBOX_ADDRESS,
    MAILBOX_NAME,
    MAX_PER_MINUTE,
    SERVICE_USER,
    Client,
    ServiceProcess,
    leftovers,
    log,
    make_clients,
    our_pids,
)
from aiosmtpd.smtp import SMTP, Envelope, Session

from assistant.core.ladder import Kind
from assistant.service.deliver import ACTIVE
from tests.conftest import ImapUser
from tests.servers import Dovecot, SmtpSink, server_dir
from tests.servers.common import descendants, log_tail, wait_pids_gone
from tests.servers.smtp import _Handler
from tests.test_cli_mailbox import FOLLOWUP, run

ROOT = Path(__file__).resolve().parent.parent
ACTION = re.compile(rb"^X-Followup-Action:[ \t]*([\w-]+)", re.MULTILINE | re.IGNORECASE)
#: Acknowledgements not finished yet (later ladder steps wait for days: they do not count).
ACTIVE_ACKS = {f"{Kind.ACKNOWLEDGE}/{status}" for status in ACTIVE}
#: A kill this soon after the sink's 250 counts as inside the SMTP window (the service cannot
#: be relied on to have committed ``accepted`` yet).
WINDOW_S = 1.0
LEASE_S = 5
POLL_S = 5
HISTORY = 5
KillAim = Literal["random", "data", "after-250"]
AIMS: tuple[KillAim, ...] = ("random", "data", "after-250")
AIM_WEIGHTS = (4, 3, 3)


# --- the SMTP sink: slower DATA, with timestamps ---------------------------------------------


@dataclass
class Delivery:
    """One message the sink took (recorded at the end of DATA, as a real server queues it
    before it answers): what it answers, to whom, when it came, when the 250 went (None when
    the client vanished first: the sink never got to answer)."""

    in_reply_to: str | None
    kind: str  # X-Followup-Action
    rcpt: tuple[str, ...]
    data_at: float
    delay: float
    accepted_at: float | None = None

    @property
    def end(self) -> float:
        """When the 250 went, or would have gone."""
        return self.accepted_at if self.accepted_at is not None else self.data_at + self.delay


class _SlowHandler(_Handler):
    """The sink's handler: takes the message at the end of DATA, then waits ``delay`` seconds
    before answering 250 (a kill in that pause leaves a delivered message the sender never
    heard about: the SMTP window)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.deliveries: list[Delivery] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.monotonic()
        reply = await super().handle_DATA(server, session, envelope)
        if not reply.startswith("250"):
            return reply
        raw = envelope.original_content or envelope.content or b""
        head = bytes(raw if isinstance(raw, bytes) else raw.encode()).split(b"\r\n\r\n", 1)[0]
        found, kind = IN_REPLY_TO.search(head), ACTION.search(head)
        delivery = Delivery(
            found.group(1).decode() if found else None,
            kind.group(1).decode() if kind else "",
            tuple(envelope.rcpt_tos),
            started,
            self.delay,
        )
        with self.lock:
            self.deliveries.append(delivery)
            self.lock.notify_all()
        await asyncio.sleep(self.delay)  # cancelled when the client's connection drops
        with self.lock:
            delivery.accepted_at = time.monotonic()
            self.lock.notify_all()
        return reply


class SlowSink(SmtpSink):
    """:class:`SmtpSink` whose DATA takes ``delay`` seconds, recording :class:`Delivery`s."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.slow = _SlowHandler(delay)
        self._handler = self.slow
        self._controller.handler = self.slow

    def deliveries(self) -> list[Delivery]:
        """A snapshot, oldest 250 first."""
        with self.slow.lock:
            return list(self.slow.deliveries)

    def next_event(self, kind: KillAim, after: float, timeout: float) -> float | None:
        """When the first DATA (``data``) or 250 (``after-250``) after ``after`` happened;
        None when none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.slow.lock:
            while True:
                times = [
                    d.data_at if kind == "data" else d.accepted_at for d in self.slow.deliveries
                ]
                later = [t for t in times if t is not None and t > after]
                if later:
                    return later[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.slow.lock.wait(left)


# --- the service: `followup run` in its own process group, killed and restarted ---------------


class SoakService(ServiceProcess):
    """``followup run --health-port 0 --poll 5`` as a child in its own process group; each
    start logs to its own ``service-NN.log``."""

    def __init__(self, base: Path, env: dict[str, str], config: Path) -> None:
        super().__init__(base, env, config)
        self.starts = 0
        self.started_at = 0.0
        self.logs: list[Path] = []

    def start(self) -> None:
        """Start a new incarnation; returns at once."""
        self.starts += 1
        self.log_path = self.base / f"service-{self.starts:02d}.log"
        self.logs.append(self.log_path)
        self.health_url = None
        argv = [FOLLOWUP, "run", "--health-port", "0", "--poll", str(POLL_S)]
        argv += ["--config", str(self.config)]
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
                cwd=ROOT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def kill(self) -> float | None:
        """SIGKILL the whole process group (before the leader is reaped, so the group id is
        still ours); return when it was sent, None when nothing ran."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return at

    def terminate(self) -> int | None:
        """SIGTERM (the clean stop) once it has caught up (before, it has no handler for it
        yet) and wait; any process of it still there is killed."""
        with contextlib.suppress(RuntimeError):
            self.wait_caught_up()
        pids = descendants(self.proc.pid) if self.proc is not None else []
        code = self.stop()
        wait_pids_gone(pids)
        return code


# --- the schedule ----------------------------------------------------------------------------


@dataclass
class Kill:
    """One SIGKILL: how it was aimed, when it was sent, where it landed (judged afterwards)."""

    aim: str
    at: float
    incarnation: int
    landed: str = ""


@dataclass
class Setup:
    """The run's parameters (all derived from the command line and the seed)."""

    clients: int
    kills: int
    seed: int
    spread: float
    smtp_delay: float
    settle: float
    quiet: float
    timeout: float


class Appender(threading.Thread):
    """APPENDs the client messages to INBOX at their offsets from ``t0`` (own connection)."""

    def __init__(
        self, dovecot: Dovecot, clients: Sequence[Client], offsets: Sequence[float], t0: float
    ) -> None:
        super().__init__(name="appender", daemon=True)
        self.dovecot, self.clients, self.offsets, self.t0 = dovecot, clients, offsets, t0
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            with self.dovecot.client(SERVICE_USER) as imap:
                for client, offset in zip(self.clients, self.offsets, strict=True):
                    if self.stopping.wait(max(0.0, self.t0 + offset - time.monotonic())):
                        return
                    imap.append("INBOX", client.raw)
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def aim_and_kill(
    service: SoakService, sink: SlowSink, aim: KillAim, rng: Random, delay: float
) -> Kill:
    """Wait for the moment ``aim`` asks for (at most 15 s), then SIGKILL the service."""
    if aim != "random":
        seen = sink.next_event(aim, time.monotonic(), timeout=15.0)
        if seen is None:
            aim = "random"  # no delivery came: kill where we are
        elif aim == "data":
            time.sleep(max(0.0, seen + rng.uniform(0.0, 0.9 * delay) - time.monotonic()))
        else:
            # within a few ms: before or just after the service commits `accepted`
            time.sleep(max(0.0, seen + rng.uniform(0.0, 0.03) - time.monotonic()))
    at = service.kill()
    return Kill(aim, at if at is not None else time.monotonic(), service.starts)


def run_kills(
    service: SoakService, sink: SlowSink, setup: Setup, rng: Random, t0: float
) -> list[Kill]:
    """The kill schedule: random offsets over the arrivals, each aimed, then a restart."""
    offsets = sorted(rng.uniform(2.0, setup.spread + 5.0) for _ in range(setup.kills))
    aims = rng.choices(AIMS, weights=AIM_WEIGHTS, k=setup.kills)
    kills: list[Kill] = []
    for offset, aim in zip(offsets, aims, strict=True):
        min_up = service.started_at + rng.uniform(0.5, 3.0)  # some land in the start-up
        time.sleep(max(0.0, t0 + offset - time.monotonic(), min_up - time.monotonic()))
        kill = aim_and_kill(service, sink, aim, rng, setup.smtp_delay)
        kills.append(kill)
        pause = 0.0 if rng.random() < 0.5 else rng.uniform(0.2, 2.0)
        log(f"  kill {len(kills)}/{setup.kills} ({kill.aim}) at {kill.at - t0:.1f} s")
        time.sleep(pause)
        service.start()
    return kills


# --- reading the store (SQLite, read-only, while the service may run) -------------------------


def query(db: Path, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on the store."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return list(conn.execute(sql, tuple(args)))


def outbox_statuses(db: Path, where: str = "1", args: Sequence[Any] = ()) -> dict[str, int]:
    """Outbox rows (those ``where`` says) per ``kind/status``."""
    sql = f"SELECT kind || '/' || status, COUNT(*) FROM outbox WHERE {where} GROUP BY 1 ORDER BY 1"
    return dict(query(db, sql, args))


def history_rows(db: Path, history: Sequence[Client]) -> dict[str, int]:
    """The history threads' outbox rows per ``kind/status``."""
    mids = [m for c in history for m in (c.mid, f"<{c.mid}>")]
    where = f"reply_to_message_id IN ({','.join('?' * len(mids))})"
    return outbox_statuses(db, where, mids)


def store_story(db: Path, mid: str) -> list[str]:
    """What the store knows about one client message: message, thread, outbox rows."""
    ids = (mid, f"<{mid}>")
    lines = []
    msgs = query(
        db, "SELECT thread_id, machine_rule, uid FROM message WHERE message_id IN (?, ?)", ids
    )
    if not msgs:
        lines.append("message not in the store")
    threads = {row[0] for row in msgs if row[0]}
    for thread_id, machine, uid in msgs:
        lines.append(f"message uid {uid}, thread {thread_id}, machine rule {machine}")
    for thread_id in sorted(threads):
        for state, reason in query(
            db, "SELECT state, reason FROM thread WHERE thread_id = ?", (thread_id,)
        ):
            lines.append(f"thread state {state} ({reason})")
    rows = query(
        db,
        "SELECT kind, status, attempts, skip_rule, last_error, next_attempt_at, message_id "
        "FROM outbox WHERE reply_to_message_id IN (?, ?) OR thread_id IN "
        f"({','.join('?' * len(threads)) or 'NULL'})",
        (*ids, *sorted(threads)),
    )
    if not rows:
        lines.append("no outbox row")
    for kind, status, attempts, skip, error, next_at, message_id in rows:
        lines.append(
            f"outbox {kind} {status}, attempts {attempts}, skip {skip}, error {error}, "
            f"next attempt {next_at}, Message-ID {message_id}"
        )
    return lines


def log_lines(logs: Sequence[Path], needles: Sequence[str], most: int = 12) -> list[str]:
    """The service's log lines (of every start) that mention one of ``needles``."""
    out = []
    for number, path in enumerate(logs, 1):
        with contextlib.suppress(OSError):
            for line in path.read_text("utf-8", "replace").splitlines():
                if any(n in line for n in needles):
                    out.append(f"[start {number}] {line[:300]}")
    return out[-most:]


# --- waiting for the end -------------------------------------------------------------------


def settle(
    sink: SlowSink, mids: set[str], db: Path, setup: Setup, last_kill: float
) -> tuple[str, float]:
    """Wait until every client is answered and no outbox row is active, or nothing changes
    for ``quiet`` s, or ``settle`` s after the last kill; returns why it stopped, and when."""
    deadline = last_kill + setup.settle
    last: tuple[Any, ...] = ()
    since = time.monotonic()
    while time.monotonic() < deadline:
        deliveries = sink.deliveries()
        answered = {d.in_reply_to for d in deliveries if d.kind == Kind.ACKNOWLEDGE} & mids
        statuses = outbox_statuses(db)
        active = sum(n for key, n in statuses.items() if key in ACTIVE_ACKS)
        if len(answered) == len(mids) and active == 0:
            return "every client acknowledged, no outbox row active", time.monotonic()
        state = (len(deliveries), tuple(sorted(statuses.items())))
        if state != last:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= setup.quiet:
            return f"nothing changed for {setup.quiet:g} s", time.monotonic()
        time.sleep(0.5)
    return f"time limit ({setup.settle:g} s after the last kill)", time.monotonic()


# --- judging ---------------------------------------------------------------------------------


def landed(kill: Kill, deliveries: Sequence[Delivery]) -> str:
    """Where a kill hit the sink's traffic."""
    if any(d.data_at <= kill.at <= d.end for d in deliveries):
        return "mid-DATA"
    if any(0 < kill.at - d.end <= WINDOW_S for d in deliveries):
        return "after a 250"
    return "elsewhere"


def window_kill(first: Delivery, nxt: Delivery, kills: Sequence[Kill]) -> Kill | None:
    """The kill that explains a second copy: it came while ``first`` waited for its 250 or
    less than ``WINDOW_S`` after it, and before ``nxt`` was sent."""
    for kill in kills:
        if first.data_at <= kill.at < nxt.data_at and kill.at - first.end < WINDOW_S:
            return kill
    return None


def sender_of(client: Client) -> str:
    """The client's address (From)."""
    message = email.message_from_bytes(client.raw, policy=email.policy.default)
    return parseaddr(str(message["From"]))[1].lower()


def by_client(
    deliveries: Sequence[Delivery], clients: Sequence[Client]
) -> dict[str, list[Delivery]]:
    """Deliveries per client Message-ID (In-Reply-To, else recipient); unmatched under ''."""
    mids = {c.mid for c in clients}
    senders = {sender_of(c): c.mid for c in clients}
    out: dict[str, list[Delivery]] = {}
    for d in deliveries:
        mid = d.in_reply_to if d.in_reply_to in mids else None
        mid = mid or next((senders[r.lower()] for r in d.rcpt if r.lower() in senders), "")
        out.setdefault(mid, []).append(d)
    return out


def sent_copies(dovecot: Dovecot) -> Counter[str]:
    """Copies of acknowledgements in Sent per In-Reply-To (over IMAP)."""
    copies: Counter[str] = Counter()
    fields = "HEADER.FIELDS (IN-REPLY-TO X-FOLLOWUP-ACTION)"
    with dovecot.client(SERVICE_USER) as imap:
        imap.select_folder("Sent", readonly=True)
        uids = imap.search("ALL")
        for data in imap.fetch(uids, [f"BODY.PEEK[{fields}]"]).values():
            head = data.get(f"BODY[{fields}]".encode(), b"")
            found, kind = IN_REPLY_TO.search(head), ACTION.search(head)
            if kind is not None and kind.group(1).decode() == Kind.ACKNOWLEDGE:
                copies[found.group(1).decode() if found else ""] += 1
    return copies


@dataclass
class Duplicate:
    """A client answered more than once, with the kill that explains each extra copy."""

    mid: str
    copies: int
    explained: list[Kill | None]

    @property
    def inside(self) -> bool:
        return all(k is not None for k in self.explained)


@dataclass
class Outcome:
    """What the run found."""

    t0: float
    clients: list[Client]
    history: list[Client]
    kills: list[Kill]
    per_client: dict[str, list[Delivery]]  # acknowledgements only
    per_history: dict[str, list[Delivery]]  # acknowledgements only
    unmatched: int
    other_mail: Counter[str]  # automatic mail that is no acknowledgement, per kind
    history_other: Counter[str]  # of which to the history clients
    sent: Counter[str]
    statuses: dict[str, int]
    history_rows: dict[str, int]
    stories: dict[str, list[str]]  # store rows and log lines of each problem client
    settled: str
    settle_s: float
    starts: int
    exit_code: int | None
    leftover: list[str]
    tail: str
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [c.mid for c in self.clients if not self.per_client.get(c.mid)]

    @property
    def once(self) -> int:
        return sum(1 for c in self.clients if len(self.per_client.get(c.mid, [])) == 1)

    @property
    def history_acked(self) -> int:
        return sum(1 for h in self.history if self.per_history.get(h.mid))


def find_duplicates(per_client: dict[str, list[Delivery]], kills: list[Kill]) -> list[Duplicate]:
    """Each client with several copies, each extra copy explained by a kill or not."""
    out = []
    for mid, got in per_client.items():
        if mid and len(got) > 1:
            ordered = sorted(got, key=lambda d: d.data_at)
            explained = [window_kill(a, b, kills) for a, b in pairwise(ordered)]
            out.append(Duplicate(mid, len(got), explained))
    return out


# --- the run ---------------------------------------------------------------------------------


def cli_env(base: Path, config: Path) -> dict[str, str]:
    """This process's environment without FOLLOWUP_*, plus the soak's store, key and config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env |= {"FOLLOWUP_DATA_DIR": str(base / "data"), "FOLLOWUP_CONFIG": str(config)}
    key = run(env, "secret-key")
    if key.returncode != 0:
        raise RuntimeError(f"followup secret-key failed: {key.stderr}")
    return env | {"FOLLOWUP_SECRET_KEY": key.stdout.strip()}


def add_mailbox(env: dict[str, str], dovecot: Dovecot, sink: SmtpSink, password: str) -> None:
    """``followup mailbox add support ...`` (with its connection test)."""
    user = ImapUser(SERVICE_USER, password, dovecot.host, dovecot.port, dovecot.tls_port)
    done = run(
        env,
        "mailbox",
        "add",
        MAILBOX_NAME,
        "--address",
        MAILBOX_ADDRESS,
        "--imap",
        user.url,
        "--smtp",
        f"smtp://{sink.host}:{sink.port}",
        "--team",
        "@example.com",
        "--grace",
        "0s",
    )
    if done.returncode != 0:
        raise RuntimeError(f"followup mailbox add failed:\n{done.stdout}{done.stderr}")


def seed_history(dovecot: Dovecot, history: Sequence[Client], rng: Random) -> None:
    """History in INBOX before the mailbox is added: some from days ago, some just now."""
    now = datetime.now(UTC)
    for i, client in enumerate(history):
        when = None if i % 2 else now - timedelta(hours=rng.uniform(1, 72))
        dovecot.append(SERVICE_USER, "INBOX", client.raw, msg_time=when)


def soak(setup: Setup, rng: Random, token: str) -> Outcome:
    """Start everything, soak, stop everything; what was seen."""
    clients = make_clients("soak", setup.clients, rng, token)
    history = make_clients("hist", HISTORY, rng, token)
    with (
        server_dir("soak") as base,
        Dovecot(base / "dovecot") as dovecot,
        SlowSink(setup.smtp_delay) as sink,
    ):
        password = secrets.token_hex(8)
        dovecot.add_user(SERVICE_USER, password)
        seed_history(dovecot, history, rng)
        config = base / "soak.toml"
        config.write_text(f"[guards]\nmax_per_minute = {MAX_PER_MINUTE}\n")
        env = cli_env(base, config)
        add_mailbox(env, dovecot, sink, password)
        db = base / "data" / "followup.sqlite3"
        env["FOLLOWUP_SEND_LEASE_SECONDS"] = str(LEASE_S)
        service = SoakService(base, env, config)
        log(f"Dovecot on {dovecot.port}, SMTP sink on {sink.port}, store {db}")
        pids = our_pids(dovecot.config)
        try:
            return drive(setup, rng, dovecot, sink, service, db, clients, history, pids)
        except BaseException:
            if service.logs:
                print(f"--- tail of {service.log_path}:\n{service.tail(40)}", file=sys.stderr)
            raise
        finally:
            service.kill()


def drive(
    setup: Setup,
    rng: Random,
    dovecot: Dovecot,
    sink: SlowSink,
    service: SoakService,
    db: Path,
    clients: list[Client],
    history: list[Client],
    pids: list[int],
) -> Outcome:
    """The soak proper, once the servers and the store are there."""
    service.start()
    ready = service.wait_caught_up()
    log(
        f"service caught up {ready:.1f} s after start; {setup.clients} clients over "
        f"{setup.spread:g} s, {setup.kills} kills"
    )
    t0 = time.monotonic()
    offsets = sorted(rng.uniform(0.0, setup.spread) for _ in clients)
    appender = Appender(dovecot, clients, offsets, t0)
    appender.start()
    try:
        kills = run_kills(service, sink, setup, rng, t0)
        appender.join(max(0.0, t0 + setup.spread + 30 - time.monotonic()))
    finally:
        appender.stopping.set()
    if appender.error is not None or appender.is_alive():
        raise RuntimeError(f"appending the client messages failed: {appender.error!r}")
    log(f"all appended, {len(kills)} kills done; settling")
    last_kill = max([k.at for k in kills], default=time.monotonic())
    settled, settled_at = settle(sink, {c.mid for c in clients}, db, setup, last_kill)
    exit_code = service.terminate()
    deliveries = sink.deliveries()
    for kill in kills:
        kill.landed = landed(kill, deliveries)
    acks = [d for d in deliveries if d.kind == Kind.ACKNOWLEDGE]
    others = [d for d in deliveries if d.kind != Kind.ACKNOWLEDGE]
    per_client = by_client(acks, clients)
    per_history = by_client(acks, history)
    to_history = by_client(others, history)
    outcome = Outcome(
        t0=t0,
        clients=clients,
        per_client=per_client,
        unmatched=len(per_client.get("", [])) - sum(len(v) for k, v in per_history.items() if k),
        history=history,
        per_history=per_history,
        other_mail=Counter(d.kind or "(none)" for d in others),
        kills=kills,
        history_other=Counter(d.kind for k, v in to_history.items() if k for d in v),
        sent=sent_copies(dovecot),
        statuses=outbox_statuses(db),
        history_rows=history_rows(db, history),
        stories={},
        settled=settled,
        settle_s=settled_at - last_kill,
        starts=service.starts,
        exit_code=exit_code,
        leftover=[],
        tail=f"--- tail of {service.log_path.name}:\n{log_tail(service.log_path, 30)}",
        duplicates=find_duplicates(per_client, kills),
    )
    senders = {c.mid: sender_of(c) for c in clients}
    problems = outcome.missing + [d.mid for d in outcome.duplicates if not d.inside]
    for mid in problems:
        story = [f"store: {line}" for line in store_story(db, mid)]
        story += [f"log: {line}" for line in log_lines(service.logs, [mid, senders[mid]])]
        outcome.stories[f"{mid} (from {senders[mid]})"] = story
    dovecot.stop()
    outcome.leftover = leftovers(pids)
    return outcome


# --- the report ------------------------------------------------------------------------------


def print_problems(out: Outcome) -> None:
    """Missing and outside-window duplicates: the store's rows and the service's log."""
    for who, story in out.stories.items():
        print(f"    {who}:")
        for line in story:
            print(f"      {line}")


def print_duplicates(out: Outcome) -> None:
    """One line per duplicate and why."""
    for dup in out.duplicates:
        first = sorted(out.per_client[dup.mid], key=lambda d: d.data_at)
        times = ", ".join(
            f"DATA at {d.data_at - out.t0:.2f} s" + ("" if d.accepted_at else " (no 250: killed)")
            for d in first
        )
        whys = []
        for kill in dup.explained:
            if kill is None:
                whys.append("no kill within the window: OUTSIDE")
            else:
                whys.append(f"kill at {kill.at - out.t0:.2f} s ({kill.landed}): inside")
        print(f"    {dup.mid}: {dup.copies} copies ({times}); {'; '.join(whys)}")


def print_report(setup: Setup, out: Outcome, elapsed: float) -> dict[str, Any]:
    """Print the figures; return the RESULT record."""
    inside = sum(1 for d in out.duplicates if d.inside)
    outside = len(out.duplicates) - inside
    aims = Counter(k.aim for k in out.kills)
    hits = Counter(k.landed for k in out.kills)
    acks = [mid for mid, got in out.per_client.items() if mid and got]
    copies = Counter(min(out.sent.get(mid, 0), 2) for mid in acks)
    ok = not out.missing and outside == 0 and out.history_acked == 0
    print("Followup kill -9 soak: `followup run` killed with SIGKILL while acknowledging")
    print(
        f"  settings: [guards] max_per_minute = {MAX_PER_MINUTE:,} (default 30; raised so the "
        f"throttle does not dominate the run time), everything else default; grace 0; "
        f"--poll {POLL_S}; FOLLOWUP_SEND_LEASE_SECONDS={LEASE_S}; sink DATA delay "
        f"{setup.smtp_delay:g} s"
    )
    print(f"  clients:                   {setup.clients} (APPENDed over {setup.spread:g} s)")
    print(
        f"  kills:                     {len(out.kills)} (aimed: {aims['random']} random, "
        f"{aims['data']} at a DATA, {aims['after-250']} after a 250); landed: "
        f"{hits['mid-DATA']} mid-DATA, {hits['after a 250']} within {WINDOW_S:g} s after a "
        f"250, {hits['elsewhere']} elsewhere; {out.starts} starts"
    )
    print(f"  acknowledged exactly once: {out.once}")
    print(f"  missing (0 acks):          {len(out.missing)}")
    print(
        f"  duplicates:                {len(out.duplicates)} ({inside} inside the SMTP window, "
        f"{outside} outside)"
    )
    print_duplicates(out)
    print(
        f"  history acknowledged:      {out.history_acked} (of {len(out.history)}; their outbox "
        f"rows: {out.history_rows or 'none'}); other automatic mail to them: "
        f"{dict(out.history_other) or 'none'}"
    )
    print(
        f"  Sent copies per ack:       {copies[1]} with one, {copies[0]} with none, "
        f"{copies[2]} with more; acks matching no client: {out.unmatched}"
    )
    print(f"  other automatic mail:      {dict(out.other_mail) or 'none'} (not acknowledgements)")
    print(f"  outbox rows (kind/status): {out.statuses}")
    print(f"  settled:                   {out.settled}, {out.settle_s:.1f} s after the last kill")
    print(
        f"  service exit on SIGTERM:   {out.exit_code}; leftover processes: "
        f"{'; '.join(out.leftover) or 'none'}"
    )
    if out.stories:
        print("  problems (store rows and the service's log lines about each):")
        print_problems(out)
    if not ok:
        print(out.tail)
    print(f"  run time: {elapsed:.0f} s; verdict: {'PASS' if ok else 'FAIL'}")
    print(
        f"  reproduce: .venv/bin/python bench/soak.py --clients {setup.clients} "
        f"--kills {setup.kills} --seed {setup.seed}"
    )
    return {
        "bench": "soak",
        "seed": setup.seed,
        "clients": setup.clients,
        "kills": len(out.kills),
        "kills_landed": dict(hits),
        "exactly_once": out.once,
        "missing": len(out.missing),
        "duplicates_inside": inside,
        "duplicates_outside": outside,
        "history_acked": out.history_acked,
        "sent_copies": {"one": copies[1], "none": copies[0], "more": copies[2]},
        "outbox": out.statuses,
        "run_s": round(elapsed, 1),
        "pass": ok,
    }


def parse_args(argv: Sequence[str] | None) -> Setup:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200, help="new clients (default 200)")
    ap.add_argument("--kills", type=int, default=20, help="SIGKILLs (default 20)")
    ap.add_argument("--seed", type=int, help="the schedule and names (default: a fresh one)")
    ap.add_argument("--spread", type=float, help="seconds of arrivals (default clients/2)")
    ap.add_argument("--smtp-delay", type=float, default=0.2, help="sink's DATA delay, s")
    ap.add_argument("--settle", type=float, default=180.0, help="max wait after the last kill")
    ap.add_argument("--quiet", type=float, default=45.0, help="stop waiting after no change")
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole run, s")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 5000 or not 0 <= args.kills <= 500:
        ap.error("--clients 1..5000, --kills 0..500")
    return Setup(
        clients=args.clients,
        kills=args.kills,
        seed=args.seed if args.seed is not None else secrets.randbelow(10**6),
        spread=args.spread if args.spread is not None else max(10.0, args.clients / 2),
        smtp_delay=args.smtp_delay,
        settle=args.settle,
        quiet=args.quiet,
        timeout=args.timeout,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Soak and print; the exit status says whether it held."""
    setup = parse_args(argv)
    rng = Random(setup.seed)
    token = f"{rng.getrandbits(24):06x}"
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(signum, _interrupt)
    signal.alarm(int(setup.timeout))
    started = time.monotonic()
    try:
        outcome = soak(setup, rng, token)
    except KeyboardInterrupt as stop:
        why = "time limit" if str(stop) == "SIGALRM" else f"interrupted ({stop})"
        print(f"soak stopped: {why}; everything was cleaned up", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"soak failed: {exc!r}; everything was cleaned up", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
    result = print_report(setup, outcome, time.monotonic() - started)
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
