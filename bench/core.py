"""Benchmark the pure core: parse + classify + thread + decide over a generated mailbox.

Run from the project root::

    .venv/bin/python bench/core.py                      # 100,000 messages in 20,000 threads
    .venv/bin/python bench/core.py --messages 20000 --threads 4000   # a quick run
    .venv/bin/python bench/core.py --messages 20000 --threads 4000 --profile 15

The mailbox is generated first, in a child process (seeded, so every run sees the same bytes;
not timed), and its raw bytes loaded; then this process times, one after the other:

* ``stdlib``: ``BytesHeaderParser(policy=compat32).parsebytes(raw)`` over every message, the
  floor any header parser written on the standard library stands on (results thrown away);
* ``parse``: :func:`assistant.core.headers.parse_message` over every message (results kept);
* ``evaluate``: :func:`assistant.core.evaluate.evaluate` over all parsed messages, which
  classifies, threads, decides each thread's state and owner, and runs the ladder.

Times are wall-clock (``perf_counter``) with CPU time next to them; the box may be noisy, so
nothing is asserted, figures are printed next to their targets. Peak memory is the process's
``ru_maxrss`` counted from the end of loading (the peak is reset then, when Linux allows it),
so it covers the raw mailbox held in memory plus everything the core builds.
The last line is ``RESULT {json}`` for machines.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from random import Random
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailgen import MAILBOX, TEAM, TEAM_DOMAIN, GenStats, generate

from assistant.core.evaluate import MailboxPolicy, ThreadReport, evaluate
from assistant.core.headers import parse_message
from assistant.core.machine import classify
from assistant.core.model import Message
from assistant.core.threading import thread_messages
from assistant.gc_policy import tune_collector
from assistant.settings import FollowupConfig, build_policy

#: Targets for the full-size run (100,000 messages); time scales with the message count.
TARGET_SECONDS_PER_100K = 10.0
TARGET_PEAK_MB = 500.0
FULL_SIZE = 100_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timing:
    """One timed step: wall-clock and CPU seconds."""

    wall: float
    cpu: float

    def rate(self, count: int) -> float:
        """Items per wall-clock second."""
        return count / self.wall if self.wall > 0 else float("inf")


def timed(step: Callable[[], T]) -> tuple[T, Timing]:
    """Run ``step`` after a full collection (not timed) and time it; GC stays enabled."""
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = step()
    return result, Timing(time.perf_counter() - wall0, time.process_time() - cpu0)


# --- memory -----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """``ru_maxrss`` of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """Current resident set size in MB, from ``/proc`` (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


# --- the mailbox and the policy ---------------------------------------------------------


@dataclass(slots=True)
class Mailbox:
    """The raw messages, and for each the thread slot and machine flag it was generated with."""

    raws: list[bytes]
    slots: list[int]
    machine: list[bool]
    stats: GenStats


_RECORD = struct.Struct("<IIB")  # raw length, thread slot, machine flag


def write_mailbox(path: Path, messages: int, threads: int, seed: int) -> None:
    """Generate the mailbox into ``path`` (run in a child process): a JSON line of the
    generator's statistics, then one record per message."""
    generated, stats = generate(Random(seed), messages, threads)
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(json.dumps(asdict(stats)).encode() + b"\n")
        for msg in generated:
            raw = msg.raw()
            out.write(_RECORD.pack(len(raw), msg.slot, msg.machine))
            out.write(raw)


def read_mailbox(path: Path) -> Mailbox:
    """Load what :func:`write_mailbox` wrote, one message at a time."""
    with open(path, "rb") as fh:
        stats = GenStats(**json.loads(fh.readline()))
        box = Mailbox([], [], [], stats)
        while head := fh.read(_RECORD.size):
            length, slot, machine = _RECORD.unpack(head)
            box.raws.append(fh.read(length))
            box.slots.append(slot)
            box.machine.append(bool(machine))
    return box


def build_mailbox(messages: int, threads: int, seed: int) -> Mailbox:
    """Generate the mailbox in a child process and load its raw bytes, so that the generator's
    own memory never counts in this process's peak or RSS."""
    with tempfile.TemporaryDirectory(prefix="followup-core-") as tmp:
        path = Path(tmp) / "mailbox.bin"
        argv = [sys.executable, str(Path(__file__).resolve()), "--write-mailbox", str(path)]
        argv += [str(messages), str(threads), str(seed)]
        subprocess.run(argv, check=True)
        return read_mailbox(path)


def make_policy() -> MailboxPolicy:
    """The support mailbox of the generated mail: team @example.com, London hours, GB
    holidays, a rotation of ten people with backups and a lead."""
    emails = [f"{local}@{TEAM_DOMAIN}" for _, local in TEAM]
    people = [
        {
            "email": email,
            "name": name,
            "backup": emails[(i + 1) % len(emails)],
            "lead": i == 0,
        }
        for i, ((name, _), email) in enumerate(zip(TEAM, emails, strict=True))
    ]
    cfg = FollowupConfig.model_validate(
        {
            "mailbox": {"name": "support", "address": MAILBOX, "team": [f"@{TEAM_DOMAIN}"]},
            "hours": {"timezone": "Europe/London", "holidays": "GB"},
            "ownership": {"rotation": emails},
            "people": people,
        }
    )
    return build_policy(cfg)


# --- the timed steps --------------------------------------------------------------------


def stdlib_headers(raws: Sequence[bytes]) -> int:
    """The baseline: the standard library's header parser over every message."""
    parser = BytesHeaderParser(policy=compat32)
    count = 0
    for raw in raws:
        parser.parsebytes(raw)
        count += 1
    return count


def parse_all(raws: Sequence[bytes]) -> list[Message]:
    """Followup's parser over every message."""
    return [parse_message(raw) for raw in raws]


def newest(messages: Sequence[Message]) -> datetime:
    """The replay's default ``now``: the newest message's date."""
    return max(m.date for m in messages)


# --- reporting --------------------------------------------------------------------------


def verdict_word(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def state_counts(reports: Sequence[ThreadReport]) -> dict[str, int]:
    """Threads per state, in a stable order."""
    counts = Counter(str(r.state.state) for r in reports)
    return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class Check:
    """The threads and verdicts found, against what was generated."""

    split_slots: int
    mixed_threads: int
    machine_found: int
    machine_missed: int
    human_flagged: int


def check_against_truth(
    reports: Sequence[ThreadReport], messages: Sequence[Message], box: Mailbox
) -> Check:
    """Count generated threads split into several found threads, found threads that mix
    generated threads, and machine-mail verdicts that disagree with the generator."""
    index = {id(m): i for i, m in enumerate(messages)}
    threads_of_slot: dict[int, set[int]] = {}
    mixed = found = missed = flagged = 0
    for number, report in enumerate(reports):
        slots: set[int] = set()
        for msg in report.thread.messages:
            i = index[id(msg)]
            slots.add(box.slots[i])
            machine = report.verdicts[msg.message_id].machine
            found += machine
            missed += box.machine[i] and not machine
            flagged += machine and not box.machine[i]
        mixed += len(slots) > 1
        for slot in slots:
            threads_of_slot.setdefault(slot, set()).add(number)
    split = sum(len(found_in) > 1 for found_in in threads_of_slot.values())
    return Check(split, mixed, found, missed, flagged)


def print_header(seed: int, box: Mailbox, gen_s: float) -> None:
    """What was generated."""
    stats, raws = box.stats, box.raws
    size = sum(len(r) for r in raws)
    print("Followup core benchmark: parse + classify + thread + decide")
    print(
        f"  python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (one used), seed {seed}"
    )
    print(
        f"  mailbox: {stats.messages:,} messages in {stats.threads:,} generated threads, "
        f"{size / 1e6:,.1f} MB raw ({size / max(1, len(raws)):,.0f} B/message), "
        f"generated and loaded in {gen_s:.1f} s (not timed)"
    )
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.kinds.items()))
    print(f"  kinds: {kinds}")
    print(
        f"  machine mail generated: {stats.machine:,} "
        f"({100 * stats.machine / stats.messages:.1f}%);"
        f" no Message-ID: {stats.no_message_id:,}; replies without References/In-Reply-To: "
        f"{stats.no_references:,}; raw 8-bit subjects: {stats.raw_8bit:,}"
    )


def print_row(label: str, timing: Timing, count: int, note: str = "") -> None:
    """One line of the timing table."""
    print(
        f"  {label:<28} {timing.wall:7.2f} s {timing.cpu:7.2f} s "
        f"{timing.rate(count):>10,.0f} msg/s  {note}"
    )


@dataclass(slots=True)
class Run:
    """Everything measured in one run."""

    stdlib: Timing
    parse: Timing
    evaluate: Timing
    classify: Timing
    thread: Timing
    messages: list[Message]
    reports: list[ThreadReport]
    now: datetime
    peak_mb: float
    rss_parsed_mb: float | None
    rss_evaluated_mb: float | None

    @property
    def total(self) -> Timing:
        """parse + evaluate."""
        return Timing(self.parse.wall + self.evaluate.wall, self.parse.cpu + self.evaluate.cpu)

    @property
    def parse_ratio(self) -> float:
        """Our parse over the standard library's."""
        return self.parse.wall / self.stdlib.wall if self.stdlib.wall else float("inf")


def measure(raws: Sequence[bytes], policy: MailboxPolicy) -> Run:
    """The timed steps, then (informational, timed on their own) classify and threading."""
    _, stdlib_t = timed(lambda: stdlib_headers(raws))
    messages, parse_t = timed(lambda: parse_all(raws))
    rss_parsed = rss_mb()
    now = newest(messages)
    reports, eval_t = timed(lambda: evaluate(messages, policy, now))
    rss_evaluated = rss_mb()
    peak = peak_rss_mb()
    _, classify_t = timed(lambda: [classify(m) for m in messages])
    team = policy.team
    _, thread_t = timed(lambda: thread_messages(messages, shared=team.__contains__))
    return Run(
        stdlib_t,
        parse_t,
        eval_t,
        classify_t,
        thread_t,
        messages,
        reports,
        now,
        peak,
        rss_parsed,
        rss_evaluated,
    )


def print_timings(run: Run, n: int, target_s: float) -> None:
    """The timing table."""
    print(f"\n  {'step':<28} {'wall':>9} {'cpu':>9} {'rate':>16}")
    print_row("stdlib BytesHeaderParser", run.stdlib, n, "baseline (results discarded)")
    print_row("parse (parse_message)", run.parse, n, f"{run.parse_ratio:.2f}x the stdlib baseline")
    print_row("evaluate", run.evaluate, n, "classify+thread+state+owner+ladder")
    print_row(
        "total (parse + evaluate)",
        run.total,
        n,
        f"target < {target_s:g} s: {verdict_word(run.total.wall < target_s)}",
    )
    print("  inside evaluate (each timed separately, informational):")
    print_row("  classify only", run.classify, n)
    print_row("  thread_messages only", run.thread, n)
    rest = run.evaluate.wall - run.classify.wall - run.thread.wall
    print(f"  {'  state+owner+ladder (rest)':<28} {rest:7.2f} s   (evaluate minus the two above)")


def print_findings(run: Run, box: Mailbox, check: Check, states: dict[str, int]) -> None:
    """Threads and verdicts found, against what was generated."""
    n = len(box.raws)
    print(f"\n  threads found: {len(run.reports):,} (generated: {box.stats.threads:,})")
    print("  per state: " + ", ".join(f"{k} {v:,}" for k, v in states.items()))
    print(
        f"  threading check: {check.split_slots:,} generated threads split over several found "
        f"threads, {check.mixed_threads:,} found threads mixing generated threads"
    )
    print(
        f"  machine mail: {check.machine_found:,} classified "
        f"({100 * check.machine_found / n:.1f}%);"
        f" generated machine mail missed {check.machine_missed:,}, human mail flagged "
        f"{check.human_flagged:,}; now = {run.now.isoformat()}"
    )


def print_memory(run: Run, rss_mailbox: float | None, peak_reset: bool) -> None:
    """Peak memory against the target, and where it went."""
    note = "counted from the end of loading" if peak_reset else "includes loading"
    print(
        f"\n  memory: peak RSS {run.peak_mb:,.0f} MB ({note}), target < {TARGET_PEAK_MB:g} MB: "
        f"{verdict_word(run.peak_mb < TARGET_PEAK_MB)}"
    )
    if rss_mailbox is None or run.rss_parsed_mb is None or run.rss_evaluated_mb is None:
        return
    n = len(run.messages)
    parsed = run.rss_parsed_mb - rss_mailbox
    evaluated = run.rss_evaluated_mb - run.rss_parsed_mb
    print(
        f"          RSS with the raw mailbox loaded (interpreter + imports + raw bytes): "
        f"{rss_mailbox:,.0f} MB\n"
        f"          + parsed Message records: {parsed:,.0f} MB "
        f"({parsed * 2**20 / n:,.0f} B/message)\n"
        f"          + evaluate's threads, states and decisions: {evaluated:,.0f} MB"
    )


def result_record(
    run: Run,
    box: Mailbox,
    check: Check,
    states: dict[str, int],
    target_s: float,
    rss_mailbox: float | None,
    peak_reset: bool,
) -> dict[str, Any]:
    """The machine-readable line."""
    n = len(box.raws)
    return {
        "bench": "core",
        "messages": n,
        "threads_generated": box.stats.threads,
        "threads_found": len(run.reports),
        "threads_split": check.split_slots,
        "threads_mixed": check.mixed_threads,
        "states": states,
        "machine_generated": box.stats.machine,
        "machine_classified": check.machine_found,
        "machine_missed": check.machine_missed,
        "human_flagged": check.human_flagged,
        "stdlib_s": round(run.stdlib.wall, 3),
        "parse_s": round(run.parse.wall, 3),
        "evaluate_s": round(run.evaluate.wall, 3),
        "total_s": round(run.total.wall, 3),
        "total_cpu_s": round(run.total.cpu, 3),
        "classify_s": round(run.classify.wall, 3),
        "thread_s": round(run.thread.wall, 3),
        "parse_vs_stdlib": round(run.parse_ratio, 3),
        "parse_msgs_per_s": round(run.parse.rate(n)),
        "evaluate_msgs_per_s": round(run.evaluate.rate(n)),
        "total_msgs_per_s": round(run.total.rate(n)),
        "peak_rss_mb": round(run.peak_mb, 1),
        "peak_reset_after_generation": peak_reset,
        "rss_mailbox_mb": round(rss_mailbox, 1) if rss_mailbox is not None else None,
        "target_total_s": target_s,
        "target_peak_mb": TARGET_PEAK_MB,
        "pass_time": run.total.wall < target_s,
        "pass_memory": run.peak_mb < TARGET_PEAK_MB,
    }


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=FULL_SIZE, help="messages (default 100000)")
    ap.add_argument("--threads", type=int, default=20_000, help="threads (default 20000)")
    ap.add_argument("--seed", type=int, default=20261116, help="generator seed")
    ap.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="also run parse + evaluate under cProfile and print the top N by tottime",
    )
    ap.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's default collector settings (followup tunes them at start)",
    )
    return ap.parse_args(argv)


def profile_core(raws: Sequence[bytes], policy: MailboxPolicy, top: int) -> None:
    """parse + evaluate under cProfile (slower than the timed run); print the top ``top``."""
    prof = cProfile.Profile()
    prof.enable()
    messages = parse_all(raws)
    evaluate(messages, policy, newest(messages))
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of parse + evaluate, top {top} by tottime:")
    print(out.getvalue().rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, time, print."""
    args = parse_args(argv)
    t0 = time.perf_counter()
    box = build_mailbox(args.messages, args.threads, args.seed)
    gen_s = time.perf_counter() - t0
    policy = make_policy()
    print_header(args.seed, box, gen_s)
    if not args.default_gc:
        tune_collector()  # as every followup entry point does after its imports
    collector = "CPython defaults" if args.default_gc else "tuned as followup runs"
    print(f"  garbage collector: {collector}")
    rss_mailbox = rss_mb()
    peak_reset = reset_peak_rss()

    run = measure(box.raws, policy)
    n = len(box.raws)
    target_s = TARGET_SECONDS_PER_100K * n / FULL_SIZE
    check = check_against_truth(run.reports, run.messages, box)
    states = state_counts(run.reports)
    print_timings(run, n, target_s)
    print_findings(run, box, check, states)
    print_memory(run, rss_mailbox, peak_reset)
    result = result_record(run, box, check, states, target_s, rss_mailbox, peak_reset)
    if args.profile:
        del run
        profile_core(box.raws, policy, args.profile)
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--write-mailbox":
        write_mailbox(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())
