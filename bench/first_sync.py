"""The first sync as a user runs it: ``followup sync NAME`` as a whole process, against floors.

Run from the project root::

    .venv/bin/python bench/first_sync.py                  # 20,000, 50,000, 100,000 messages
    .venv/bin/python bench/first_sync.py --sizes 5000     # a quick run
    .venv/bin/python bench/first_sync.py --sizes 50000 --postgres   # + PostgreSQL (information)

For each size a private Dovecot (``tests.servers.Dovecot``, Maildir) gets one user whose
support mailbox is written as Maildir files directly (``bench/sync.py``'s seeding and
``bench/mailgen.py``'s mail, with one thread per two messages like real mailboxes, not
``bench/sync.py``'s one per five; ~10 % in ``Sent``, the rest in ``INBOX``). Seeding is never
timed; the folder counts are checked over IMAP before anything is measured. Then, on that
mailbox, every figure is one **whole process** timed from spawn to exit:

- **product**: ``followup mailbox add`` (not timed) into a fresh data dir
  (``FOLLOWUP_DATA_DIR``, SQLite, a settings file with the team and a rotation of ten people,
  ``--config``), then ``.venv/bin/followup sync NAME`` exactly as a user runs it (timed);
- **floor 1**: plain imapclient (``bench/first_sync_child.py imapclient``): login, per folder
  EXAMINE, ``UID SEARCH ALL``, ``UID FETCH`` of ``UID FLAGS INTERNALDATE`` + 11 common
  header fields in batches of ``FETCH_BATCH`` UIDs through ``IMAPClient.fetch()``;
- **floor 2**: the product's own FETCH item (``HEADER_ITEM`` + ``MODSEQ``, CONDSTORE on) read
  by the product's fast reader (``fetchparse.uid_fetch`` + ``read_fetch``), nothing parsed or
  stored (``bench/first_sync_child.py raw``).

Both floors read the folders the product syncs (INBOX, Sent, Archive). Order: floor 2 runs
first once, **cold** (the mailbox's first FETCH ever: Dovecot builds its cache file, which
then serves every later run, the 11 fields being among the product's 81); then ``--repeats``
rounds, the first in the order product, floor 1, floor 2, the next reversed, and so on, so no
one always runs right after another's warm-up. Ratios use each kind's fastest warm run (the
mean is printed too). With ``--postgres`` the product also syncs into a private PostgreSQL
(information: the server shares the two cores).

**Memory**: while a process runs, a thread here reads ``/proc/PID/status`` of it and of all
its descendants (psutil's process tree, listed every 0.25 s) every 50 ms; the peak is the
**sum of each process's own ``VmHWM``** ("peak MB"), which the kernel resets at exec.
``ru_maxrss`` (``wait4`` or ``RUSAGE_CHILDREN``) is not used: it is the largest single
process, not the sum (the parse worker is a second process), and it keeps the high-water mark
of the forked copy of this benchmark from before the exec (~77 MB here, more than a floor's
own 30 MB). The sum of peaks is an upper bound of what the tree held at once; the largest
sampled sum of ``VmRSS`` ("concur") is printed too. CPU is ``wait4``'s user+system time of
the process and its reaped children (the parse worker included); each process's own peak and
CPU (from ``/proc/PID/stat``, as last sampled: up to 50 ms short) are printed for the product.

**Stages**: ``followup sync`` has no stage log, so it runs once more, after the timed rounds,
through ``bench/first_sync_child.py stages``: the console script's own ``assistant.cli:main``
with timers wrapped around ``sync_mailbox``, the fetch, the stored batches and ``reevaluate``
(and its parts), noting ``CLOCK_MONOTONIC`` times, which compare with this process's spawn
and exit times. Its total is printed next to the clean runs (the wrappers cost little).

The load average (``/proc/loadavg``) is read at the start and end of every measured process:
the machine is shared. "server" is the CPU seconds Dovecot's processes (and PostgreSQL's, in
the PostgreSQL run) used during the run (psutil: each process's own time plus its reaped
children's, before and after, 0.3 s settle either side). Nothing is asserted: figures are
printed next to their targets (product ≤ 1.2x floor 1, peak < 300 MB) with PASS/FAIL; the
last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from random import Random
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sync, mailgen
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.servers

import psutil  # type: ignore[import-untyped]
import sync as base
from mailgen import MAILBOX, TEAM, TEAM_DOMAIN, GenMessage, GenStats, generate

from assistant.mail.imap import FETCH_BATCH, HEADER_ITEM
from tests.servers import Dovecot, Postgres, server_dir

ROOT = Path(__file__).resolve().parent.parent
FOLLOWUP = str(Path(sys.executable).parent / "followup")
CHILD = str(Path(__file__).resolve().parent / "first_sync_child.py")
NAME = "support"
FOLDERS = base.WATCHED  # INBOX, Sent, Archive: what the product syncs on this Dovecot
THREAD_EVERY = 2  # one thread per two messages
TARGET_RATIO = 1.2
TARGET_PEAK_MB = 300.0
POLL_S = 0.05
TREE_EVERY = 5  # list the process tree every 0.25 s
SETTLE_S = 0.3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
log = base.log


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def mean(values: Sequence[float]) -> float:
    """The mean, NaN when empty."""
    return statistics.fmean(values) if values else float("nan")


# --- one timed process: wall, CPU, memory of the tree -------------------------------------


def _status_kb(pid: int) -> tuple[int, int]:
    """``VmHWM`` and ``VmRSS`` of ``pid`` in kB (0, 0 once it is gone)."""
    hwm = rss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of ``pid`` itself so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _role(pid: int) -> str:
    """A short name for a child process (multiprocessing's helpers by their command line)."""
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return "gone"
    for marker, name in (("resource_tracker", "tracker"), ("forkserver", "forkserver")):
        if marker in cmdline:
            return name
    return "worker" if "multiprocessing" in cmdline else Path(cmdline.split(" ")[0]).name


def server_cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds of servers' process trees so far: each live process's own time plus the
    time of the children it reaped (Dovecot's master reaps each finished ``imap`` process,
    PostgreSQL's postmaster each backend)."""
    procs = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.Error:
            return float("nan")
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class TreeSampler(threading.Thread):
    """Reads every :data:`POLL_S` the peak (``VmHWM``) of each process of a tree."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.hwm_kb: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.cpu: dict[int, float] = {}
        self.concurrent_kb = 0
        self.stopping = threading.Event()

    def sample(self, pids: list[int]) -> None:
        """One look at ``pids``."""
        rss_total = 0
        for pid in pids:
            hwm, rss = _status_kb(pid)
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))
            if pid not in self.names:
                self.names[pid] = "main" if pid == self.root.pid else _role(pid)
            rss_total += rss
        self.concurrent_kb = max(self.concurrent_kb, rss_total)

    def run(self) -> None:
        """Sample until stopped; the tree (a scan of /proc) is listed every
        :data:`TREE_EVERY` samples only (a process's VmHWM only grows: found late, its
        peak so far is still there)."""
        pids = [self.root.pid]
        tick = 0
        while not self.stopping.is_set():
            if tick % TREE_EVERY == 0:
                with contextlib.suppress(psutil.Error):
                    pids = [self.root.pid, *(c.pid for c in self.root.children(recursive=True))]
            self.sample(pids)
            tick += 1
            self.stopping.wait(POLL_S)


@dataclass
class Run:
    """One measured process."""

    label: str
    wall_s: float
    cpu_s: float
    peak_mb: float  # sum of each process's own VmHWM
    concurrent_mb: float  # largest sampled sum of VmRSS
    procs: int
    per_process: str  # each process's own peak and CPU (as last sampled), by role
    server_cpu_s: float  # the IMAP server's CPU during the run
    load: tuple[str, str]
    spawn: float
    exit: float
    code: int
    stdout: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def timed_process(
    label: str, argv: Sequence[str], env: dict[str, str], out: Path, server: Sequence[int] = ()
) -> Run:
    """Run ``argv`` to its end; wall time from spawn to exit, CPU and memory of the tree,
    and the CPU of the servers whose masters are ``server``. Its stdout goes to ``out``.stdout,
    stderr to ``out``.stderr (both kept for reading)."""
    time.sleep(SETTLE_S)  # the last run's server process has exited and been reaped
    load0, server0 = loadavg(), server_cpu_s(server)
    with open(f"{out}.stdout", "wb") as so, open(f"{out}.stderr", "wb") as se:
        spawn = time.monotonic()
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=so, stderr=se
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stopping.set()
    sampler.join()
    time.sleep(SETTLE_S)
    server_s = server_cpu_s(server) - server0
    roles = sorted(
        (kb, sampler.names.get(pid, "?"), sampler.cpu.get(pid, 0.0))
        for pid, kb in sampler.hwm_kb.items()
    )[::-1]
    result = json.loads(out.read_text()) if out.exists() else {}
    return Run(
        label,
        wall_s=ended - spawn,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mb=sum(sampler.hwm_kb.values()) / 1024,
        concurrent_mb=sampler.concurrent_kb / 1024,
        procs=len(sampler.hwm_kb),
        per_process=", ".join(f"{name} {kb / 1024:.0f} MB {cpu:.1f} s" for kb, name, cpu in roles),
        server_cpu_s=server_s,
        load=(load0, loadavg()),
        spawn=spawn,
        exit=ended,
        code=proc.returncode,
        stdout=Path(f"{out}.stdout").read_text(errors="replace"),
        result=result,
    )


def check_ok(run: Run, out: Path) -> Run:
    """``run`` when it exited 0, else an error with its stderr."""
    if run.code != 0:
        err = Path(f"{out}.stderr").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{run.label} exited {run.code}:\n{err}")
    return run


# --- seeding (not timed) ------------------------------------------------------------------


@contextlib.contextmanager
def dense_threads() -> Iterator[None]:
    """``bench/sync.py``'s seeding with one thread per :data:`THREAD_EVERY` messages (it
    asks mailgen for one per five): its ``generate`` is swapped for the time of the seed."""
    original = generate

    def dense(
        rng: Random,
        messages: int,
        threads: int,
        noise_headers: Sequence[str] = (),
        list_share: float = 0.0,
    ) -> tuple[list[GenMessage], GenStats]:
        return original(rng, messages, max(1, messages // THREAD_EVERY), noise_headers, list_share)

    vars(base)["generate"] = dense
    try:
        yield
    finally:
        vars(base)["generate"] = original


@dataclass
class Box:
    """One seeded mailbox."""

    size: int
    account: base.Account
    counts: dict[str, int]
    seed_info: dict[str, Any]


def seed(dovecot: Dovecot, size: int, seed_value: int) -> Box:
    """A new user with ``size`` messages written as Maildir files; counts checked over IMAP."""
    user, password = f"first{size}", secrets.token_hex(8)
    dovecot.add_user(user, password)
    account = base.Account(dovecot.host, dovecot.port, user, password)
    base.open_folders_once(account, FOLDERS)  # Dovecot creates the Maildir as the mail uid
    with dense_threads():
        info = base.seed_maildir(dovecot.maildir(user), size, seed_value + size)
    time.sleep(base.MAILDIR_SETTLE)  # a directory changed within the second counts as dirty
    counts = base.open_folders_once(account, FOLDERS, readwrite=True)
    expected = {**info["counts"], "Archive": 0}
    if counts != expected:
        raise RuntimeError(f"seeded {expected} but Dovecot sees {counts} for {user}")
    log(
        f"seeded {user}: INBOX {counts['INBOX']:,}, Sent {counts['Sent']:,}, "
        f"{size // THREAD_EVERY:,} thread slots ({info['bytes'] / 1e6:,.0f} MB; generate "
        f"{info['generate_s']} s, write {info['write_s']} s; not timed)"
    )
    return Box(size, account, counts, info)


def settings_toml() -> str:
    """The support team's settings (as ``bench/sync.py``'s ``support_config``)."""
    emails = [f"{local}@{TEAM_DOMAIN}" for _, local in TEAM]
    lines = [
        "[mailbox]",
        f'name = "{NAME}"',
        f'address = "{MAILBOX}"',
        f'team = ["@{TEAM_DOMAIN}"]',
        "[hours]",
        'timezone = "Europe/London"',
        'holidays = "GB"',
        "[ownership]",
        "rotation = [" + ", ".join(f'"{e}"' for e in emails) + "]",
    ]
    for i, ((name, _), email) in enumerate(zip(TEAM, emails, strict=True)):
        backup = emails[(i + 1) % len(emails)]
        lead = "true" if i == 0 else "false"
        lines += ["[[people]]", f'email = "{email}"', f'name = "{name}"']
        lines += [f'backup = "{backup}"', f"lead = {lead}"]
    return "\n".join(lines) + "\n"


# --- the measured processes -----------------------------------------------------------------


@dataclass
class Bench:
    """What every measurement of one run shares."""

    work: Path
    env: dict[str, str]
    config: Path
    server: tuple[int, ...] = ()  # Dovecot's master pid
    pg_server: tuple[int, ...] = ()  # PostgreSQL's postmaster pid
    counter: int = 0

    def path(self, label: str) -> Path:
        """A fresh path under the work dir for one process's files."""
        self.counter += 1
        return self.work / f"{self.counter:03d}-{label.replace(' ', '_')}"


def floor_spec(box: Box, out: Path) -> dict[str, Any]:
    """The floors' spec: account, folders, batch size, the product's item."""
    return {
        **asdict(box.account),
        "folders": list(FOLDERS),
        "batch": FETCH_BATCH,
        "header_item": HEADER_ITEM,
        "out": str(out),
    }


def run_floor(bench: Bench, box: Box, mode: str, label: str) -> Run:
    """Floor 1 (``imapclient``) or floor 2 (``raw``) as its own process."""
    out = bench.path(label)
    argv = [sys.executable, CHILD, mode, json.dumps(floor_spec(box, out))]
    run = check_ok(timed_process(label, argv, bench.env, out, bench.server), out)
    expected = sum(box.counts.values())
    if run.result.get("fetched") != expected:
        raise RuntimeError(f"{label} fetched {run.result.get('fetched')}, expected {expected}")
    log(f"{box.size:,}: {label} {run.wall_s:.2f} s, {run.peak_mb:.0f} MB (load {run.load[0]})")
    return run


def product_env(bench: Bench, box: Box, database_url: str | None) -> dict[str, str]:
    """A fresh data dir (and store) with the mailbox added by ``followup mailbox add``."""
    data = bench.path("data")
    data.mkdir()
    env = {**bench.env, "FOLLOWUP_DATA_DIR": str(data)}
    env["FOLLOWUP_IMAP_PASSWORD"] = box.account.password
    if database_url:
        env["FOLLOWUP_DATABASE_URL"] = database_url
    url = f"imap://{box.account.user}@{box.account.host}:{box.account.port}"
    add = [FOLLOWUP, "mailbox", "add", NAME, "--address", MAILBOX, "--imap", url]
    add += ["--team", f"@{TEAM_DOMAIN}", "--config", str(bench.config)]
    done = subprocess.run(
        add, env=env, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"followup mailbox add failed:\n{done.stdout}{done.stderr}")
    return env


def run_product(
    bench: Bench, box: Box, label: str, database_url: str | None = None, stages: bool = False
) -> Run:
    """``followup sync NAME`` as a whole process (``stages``: through the stage wrapper)."""
    env = product_env(bench, box, database_url)
    out = bench.path(label)
    args = ["sync", NAME, "--config", str(bench.config)]
    if stages:
        argv = [sys.executable, CHILD, "stages", json.dumps({"argv": args, "out": str(out)})]
    else:
        argv = [FOLLOWUP, *args]
    servers = bench.server + (bench.pg_server if database_url else ())
    run = check_ok(timed_process(label, argv, env, out, servers), out)
    new = sum(int(n) for n in re.findall(r"(\d+) new,", run.stdout))
    if new != sum(box.counts.values()):
        raise RuntimeError(f"{label} stored {new} new messages:\n{run.stdout}")
    log(
        f"{box.size:,}: {label} {run.wall_s:.2f} s, cpu {run.cpu_s:.2f} s, "
        f"{run.peak_mb:.0f} MB over {run.procs} processes (load {run.load[0]})"
    )
    return run


# --- one size ---------------------------------------------------------------------------


@dataclass
class Size:
    """Every run at one mailbox size."""

    box: Box
    cold: Run
    runs: dict[str, list[Run]]
    stages: Run | None = None
    postgres: Run | None = None

    def best(self, kind: str) -> float:
        """The fastest warm run of ``kind``."""
        return min(r.wall_s for r in self.runs[kind])

    def mean(self, kind: str) -> float:
        """The mean warm run of ``kind``."""
        return mean([r.wall_s for r in self.runs[kind]])

    def peak_mb(self) -> float:
        """The product's largest peak (sum of its processes' VmHWM) over its runs."""
        return max(r.peak_mb for r in self.runs["product"])


KINDS = ("product", "floor 1", "floor 2")


def measure(bench: Bench, box: Box, repeats: int, pg: Postgres | None) -> Size:
    """Floor 2 cold, then ``repeats`` rounds (order alternating), the stage run, PostgreSQL."""
    cold = run_floor(bench, box, "raw", "floor 2 cold")
    runs: dict[str, list[Run]] = {k: [] for k in KINDS}
    for round_no in range(repeats):
        order = KINDS if round_no % 2 == 0 else tuple(reversed(KINDS))
        for kind in order:
            label = f"{kind} #{round_no + 1}"
            if kind == "product":
                runs[kind].append(run_product(bench, box, label))
            else:
                runs[kind].append(
                    run_floor(bench, box, "imapclient" if kind == "floor 1" else "raw", label)
                )
    size = Size(box, cold, runs)
    size.stages = run_product(bench, box, "product, stage timers", stages=True)
    if pg is not None:
        dsn = pg.new_database(f"first{box.size}")
        size.postgres = run_product(bench, box, "product, PostgreSQL", database_url=dsn)
    return size


def stage_rows(run: Run) -> list[tuple[str, float]]:
    """The stage run's stages, in seconds, from its monotonic marks and spawn/exit times."""
    r = run.result
    first, last, secs = r["first"], r["last"], r["seconds"]
    sync0, sync1 = first.get("sync_mailbox"), last.get("sync_mailbox")
    if sync0 is None or sync1 is None:
        return [("whole process (no stage marks)", run.wall_s)]
    re0, re1 = first.get("reevaluate", sync1), last.get("reevaluate", sync1)
    rows = [
        ("start-up: spawn -> Python up", r["python_up"] - run.spawn),
        ("imports: assistant.cli + sync's modules", r["imported"] - r["python_up"]),
        ("settings, store open + migrations, mailbox", sync0 - r["imported"]),
        ("fetch -> parse -> store (sync_mailbox until reevaluate)", re0 - sync0),
    ]
    fetch0 = first.get("UID FETCH + read (thread)")
    if fetch0 is not None:
        rows.append(
            ("  connect, LIST, STATUS, SELECT, SEARCH before the first FETCH", fetch0 - sync0)
        )
    for label in ("UID FETCH + read (thread)", "store batches"):
        if label in secs:
            rows.append((f"  {label} (sum, overlapped)", secs[label]))
    rows.append(("post-fetch pass: reevaluate", re1 - re0))
    parts = [(label, secs[label]) for label in secs if label.startswith("  ")]
    rows += parts
    timed = sum(seconds for label, seconds in parts if not label.startswith("    "))
    rows.append(("  rest of reevaluate (not wrapped)", re1 - re0 - timed))
    rows += [
        ("rest of sync_mailbox after reevaluate", sync1 - re1),
        ("report printed, store closed (main returns)", r["main_done"] - sync1),
        ("exit: interpreter teardown until reaped", run.exit - r["main_done"]),
    ]
    return rows


# --- reporting ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def print_runs(s: Size) -> None:
    """Every measured process at one size, in the order run."""
    print(
        f"   {'run':<24} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} {'concur':>7} "
        f"{'server':>6}  load at start -> end"
    )
    extra = [r for r in (s.stages, s.postgres) if r is not None]
    every = sorted(
        [s.cold, *(r for runs in s.runs.values() for r in runs), *extra], key=lambda r: r.spawn
    )
    for r in every:
        print(
            f"   {r.label:<24} {r.wall_s:>7.2f} {r.cpu_s:>7.2f} {r.peak_mb:>8.0f} "
            f"{r.concurrent_mb:>7.0f} {r.server_cpu_s:>6.2f}  {r.load[0]} -> {r.load[1]}"
        )
    for r in every:
        if r.procs > 1:
            print(f"   {r.label}, each process's peak and CPU: {r.per_process}")


def print_size(s: Size) -> dict[str, Any]:
    """One size's tables and stage breakdown; its RESULT record."""
    n, peak = sum(s.box.counts.values()), s.peak_mb()
    print(
        f"\n== {n:,} messages (INBOX {s.box.counts['INBOX']:,}, Sent {s.box.counts['Sent']:,}; "
        f"{s.box.size // THREAD_EVERY:,} thread slots) =="
    )
    print_runs(s)
    print(
        f"\n   {'':<10} {'product':>8} {'floor 1':>8} {'floor 2':>8} {'p/floor1':>9} "
        f"{'(<=1.2x)':>8} {'p/floor2':>9} {'peak MB':>8} {'(<300)':>6}"
    )
    for stat, get in (("best", s.best), ("mean", s.mean)):
        p, a, b = (get(k) for k in KINDS)
        print(
            f"   {stat:<10} {p:>7.2f}s {a:>7.2f}s {b:>7.2f}s {p / a:>8.2f}x "
            f"{verdict(p / a <= TARGET_RATIO):>8} {p / b:>8.2f}x {peak:>8.1f} "
            f"{verdict(peak < TARGET_PEAK_MB):>6}"
        )
    print(f"   floor 2 cold (first FETCH of the mailbox): {s.cold.wall_s:.2f} s")
    record = size_record(s)
    if s.stages is not None:
        record["stages"] = print_stages(s.stages)
    if s.postgres is not None:
        pg, f1 = s.postgres, s.best("floor 1")
        print(
            f"   PostgreSQL (information): {pg.wall_s:.2f} s = {pg.wall_s / f1:.2f}x floor 1, "
            f"cpu {pg.cpu_s:.2f} s, servers' cpu {pg.server_cpu_s:.2f} s, peak {pg.peak_mb:.0f} MB"
        )
        record["postgres"] = {
            "s": round(pg.wall_s, 3),
            "ratio_floor1": round(pg.wall_s / f1, 3),
            "peak_mb": round(pg.peak_mb, 1),
            "server_cpu_s": round(pg.server_cpu_s, 2),
        }
    return record


def size_record(s: Size) -> dict[str, Any]:
    """One size's figures for the RESULT line."""
    product, f1, f2 = (s.best(k) for k in KINDS)
    peak = s.peak_mb()
    last = max((r for v in s.runs.values() for r in v), key=lambda r: r.exit)
    return {
        "messages": sum(s.box.counts.values()),
        "counts": s.box.counts,
        "thread_slots": s.box.size // THREAD_EVERY,
        "product_s": round(product, 3),
        "floor1_s": round(f1, 3),
        "floor2_s": round(f2, 3),
        "floor2_cold_s": round(s.cold.wall_s, 3),
        "runs_s": {k: [round(r.wall_s, 3) for r in s.runs[k]] for k in KINDS},
        "cpu_s": {k: [round(r.cpu_s, 2) for r in s.runs[k]] for k in KINDS},
        "server_cpu_s": {k: [round(r.server_cpu_s, 2) for r in s.runs[k]] for k in KINDS},
        "product_processes_mb": s.runs["product"][0].per_process,
        "ratio_floor1": round(product / f1, 3),
        "ratio_floor2": round(product / f2, 3),
        "peak_mb": round(peak, 1),
        "floor_peak_mb": {k: round(max(r.peak_mb for r in s.runs[k]), 1) for k in KINDS[1:]},
        "pass_ratio": product / f1 <= TARGET_RATIO,
        "pass_peak": peak < TARGET_PEAK_MB,
        "load": [s.cold.load[0], last.load[1]],
    }


def print_stages(run: Run) -> dict[str, float]:
    """The stage breakdown of the stage run."""
    rows = stage_rows(run)
    print(
        f"\n   stages of one more `followup sync` through assistant.cli:main with timers "
        f"({run.wall_s:.2f} s, cpu {run.cpu_s:.2f} s, {run.peak_mb:.0f} MB):"
    )
    for label, seconds in rows:
        print(f"     {label:<64} {seconds:>7.2f} s")
    if run.result.get("missing"):
        print(f"     (not found, not timed: {', '.join(run.result['missing'])})")
    return {label.strip(): round(seconds, 3) for label, seconds in rows}


# --- the driver -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="20000,50000,100000", help="mailbox sizes")
    parser.add_argument("--repeats", type=int, default=2, help="warm rounds per size")
    parser.add_argument("--postgres", action="store_true", help="also sync into PostgreSQL")
    parser.add_argument("--seed", type=int, default=19)
    return parser.parse_args(argv)


def bench_env(work: Path) -> dict[str, str]:
    """The processes' environment: a fresh secret key, no settings or store of the caller."""
    env = base.child_env()
    for name in ("FOLLOWUP_DATABASE_URL", "FOLLOWUP_CONFIG", "FOLLOWUP_DATA_DIR"):
        env.pop(name, None)
    env["FOLLOWUP_DATA_DIR"] = str(work / "unused")
    return env


def run_sizes(sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start Dovecot (and PostgreSQL); seed and measure each size in turn."""
    records = []
    with (
        server_dir("bench-first-sync") as work,
        Dovecot(work / "dovecot") as dovecot,
        base.maybe_postgres(args.postgres) as pg,
    ):
        config = work / "followup.toml"
        config.write_text(settings_toml())
        master = int((work / "dovecot" / "run" / "master.pid").read_text().split()[0])
        bench = Bench(work / "runs", bench_env(work), config, (master,))
        if pg is not None:
            postmaster = (pg.data_dir / "postmaster.pid").read_text().split()[0]
            bench.pg_server = (int(postmaster),)
        bench.work.mkdir()
        log(f"Dovecot {base.dovecot_version()} on 127.0.0.1:{dovecot.port}; load {loadavg()}")
        for size in sizes:
            box = seed(dovecot, size, args.seed)
            result = measure(bench, box, args.repeats, pg)
            records.append(print_size(result))
            sys.stdout.flush()
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every size; print the tables and the RESULT line."""
    args = parse_args(argv)
    sizes = base.parse_sizes(args.sizes)
    print(
        f"First sync as a user runs it: `followup sync` vs floor 1 (imapclient fetch(), 11 "
        f"fields) and floor 2 (the product's item, its fast reader); batches of {FETCH_BATCH}; "
        f"folders {', '.join(FOLDERS)}; {os.cpu_count()} cores; load at start {loadavg()}"
    )
    records = run_sizes(sizes, args)
    result = {
        "sizes": records,
        "targets": {"ratio_floor1": TARGET_RATIO, "peak_mb": TARGET_PEAK_MB},
        "pass": all(r["pass_ratio"] and r["pass_peak"] for r in records),
        "load_end": loadavg(),
    }
    print("\nRESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
