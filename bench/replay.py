"""Benchmark ``followup replay`` over a large mbox against the standard library.

Run from the project root::

    .venv/bin/python bench/replay.py                    # generate ~12,000 messages, ~300 MB
    .venv/bin/python bench/replay.py --mbox ~/archive.mbox   # a real archive instead
    .venv/bin/python bench/replay.py --messages 2000 --size-mb 50 --runs 1   # a quick run

The claim under test: ``followup replay`` streams the file, reads header blocks only (never
decoding an attachment), takes at most 1.5x the time the standard library needs just to split
the same file into messages and parse their header blocks, and stays under 500 MB.

Without ``--mbox`` an mbox is generated into a temporary folder (not timed, deleted at the
end unless ``--keep``): a support mailbox with mailing-list traffic, quoted replies, and ~25%
of messages carrying a base64 attachment of 50 KB to 2 MB of random bytes (sizes skewed so the
file reaches ``--size-mb``), proper ``From_`` lines and ``>From`` escaping. When
``/work/shared/corpus`` exists, trace and vendor header fields of its human ``.eml`` files are
mixed into the generated headers to vary their shapes (they are read, never copied here).

Each measurement runs in its own fresh child process (this same script with ``--child``, or
the real ``followup`` console script), ``--runs`` times, interleaved; the best wall time
counts and peak RSS is the child's ``ru_maxrss`` from ``wait4``:

* ``stdlib-mailbox``: ``mailbox.mbox`` iterated, ``BytesHeaderParser(policy=compat32)
  .parse(box.get_file(key))`` for every message;
* ``stdlib-lines``: ``for line in file`` splitting on ``From`` lines, ``BytesHeaderParser
  .parsebytes(header_block)`` for each header block, body lines skipped;
* ``followup-cli``: ``followup replay --json PATH --team @example.com > /dev/null``;
* ``followup-split``: ``iter_mbox`` + ``parse_message`` + ``evaluate`` (+ building the JSON
  text, not printed) in one child, each phase timed inside it, to show where time goes.

The ratio that matters is ``followup-cli`` over the faster standard-library baseline. Exec'd
children inherit this process's peak RSS as a floor (Linux), so this driver stays small and
prints its own peak. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent
CORPUS = Path("/work/shared/corpus")
TARGET_RATIO = 1.5
TARGET_PEAK_MB = 500.0
MODES = ("stdlib-mailbox", "stdlib-lines", "followup-cli", "followup-split")
BASELINES = ("stdlib-mailbox", "stdlib-lines")


# --- generation (runs in a child) -------------------------------------------------------

_FROM_ESCAPE = re.compile(r"^(>*From )", re.MULTILINE)
_PLAIN_BODY_FIELDS = 'Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 8bit'
MIN_ATTACHMENT = 50 * 1024
MAX_ATTACHMENT = 2 * 1024 * 1024
ATTACHMENT_SHARE = 0.25


def attachment_skew(count: int, budget_bytes: float) -> float:
    """The exponent ``k`` such that sizes ``MIN * (MAX/MIN) ** (u ** k)`` (u uniform) average
    ``budget_bytes / count`` raw bytes: most attachments small, a few up to 2 MB."""
    span = MAX_ATTACHMENT / MIN_ATTACHMENT
    target = budget_bytes / max(1, count) / MIN_ATTACHMENT

    def mean(k: float) -> float:
        steps = 4000
        return sum(float(span ** (((i + 0.5) / steps) ** k)) for i in range(steps)) / steps

    lo, hi = 0.05, 500.0
    if target <= mean(hi):
        return hi
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if mean(mid) > target else (lo, mid)
    return hi


def from_line(envelope: str, when: Any) -> str:
    """An mbox ``From_`` line: ``From sender Mon Nov  2 09:12:00 2026``."""
    return f"From {envelope} {when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}\n"


def with_attachment(header: str, body: str, part: str, boundary: str) -> tuple[str, str]:
    """Turn a text/plain message into multipart/mixed with ``part`` attached."""
    header = header.replace(
        _PLAIN_BODY_FIELDS, f'Content-Type: multipart/mixed;\n\tboundary="{boundary}"'
    )
    body = (
        "This is a multi-part message in MIME format.\n\n"
        f"--{boundary}\nContent-Type: text/plain; charset=UTF-8\n"
        f"Content-Transfer-Encoding: 8bit\n\n{body}\n{part}\n--{boundary}--\n"
    )
    return header, body


def write_mbox(
    path: Path, messages: int, size_mb: float, seed: int, corpus: Path | None
) -> dict[str, Any]:
    """Generate the mbox at ``path``; return what was written."""
    from random import Random

    from mailgen import attachment_part, corpus_noise_headers, generate

    rng = Random(seed)
    noise = corpus_noise_headers(corpus) if corpus is not None and corpus.is_dir() else []
    generated, stats = generate(rng, messages, max(1, messages // 4), noise, list_share=0.35)
    text_bytes = sum(len(m.header) + len(m.body) + 80 for m in generated)
    attach_count = round(messages * ATTACHMENT_SHARE)
    budget = max(0.0, size_mb * 1e6 - text_bytes) * 3 / 4  # base64 grows 4/3
    skew = attachment_skew(attach_count, budget)
    pool = rng.randbytes(MAX_ATTACHMENT + 65536)
    attached = attached_bytes = 0
    with open(path, "wb", buffering=1 << 20) as out:
        for msg in generated:
            header, body = msg.header, msg.body
            if msg.kind != "bounce" and rng.random() < ATTACHMENT_SHARE:
                span = MAX_ATTACHMENT / MIN_ATTACHMENT
                size = int(MIN_ATTACHMENT * float(span ** (rng.random() ** skew)))
                boundary = f"----=_Part_{rng.getrandbits(48):012x}"
                part = attachment_part(rng, pool, size, boundary)
                header, body = with_attachment(header, body, part, boundary)
                attached += 1
                attached_bytes += size
            body = _FROM_ESCAPE.sub(r">\1", body)
            text = f"{from_line(msg.envelope, msg.date)}{header}\n\n{body}"
            out.write(text.encode("utf-8", "surrogateescape"))
            out.write(b"\n" if text.endswith("\n") else b"\n\n")
    return {
        "messages": stats.messages,
        "threads": stats.threads,
        "machine": stats.machine,
        "attachments": attached,
        "attachment_mb": attached_bytes / 1e6,
        "noise_headers": len(noise),
        "skew": skew,
    }


# --- the measured children --------------------------------------------------------------


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (``VmHWM``, not inherited across exec), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def child_stdlib_mailbox(path: Path) -> dict[str, Any]:
    """``mailbox.mbox`` + ``BytesHeaderParser.parse(get_file(key))`` for every message."""
    import mailbox
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    parser = BytesHeaderParser(policy=compat32)
    box = mailbox.mbox(path, create=False)
    count = 0
    for key in box.iterkeys():
        with box.get_file(key) as fh:
            parser.parse(fh)  # type: ignore[arg-type]  # _PartialFile is a binary file
        count += 1
    return {"messages": count}


def _parse_block(parser: Any, lines: list[bytes]) -> None:
    parser.parsebytes(b"".join(lines))


def child_stdlib_lines(path: Path) -> dict[str, Any]:
    """``for line in file``: split on ``From`` lines, parse each header block, skip bodies."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    parser = BytesHeaderParser(policy=compat32)
    count = 0
    header: list[bytes] | None = None
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"From "):
                if header is not None:  # a message that never ended its header
                    _parse_block(parser, header)
                    count += 1
                header = []
            elif header is not None:
                if line in (b"\n", b"\r\n"):
                    _parse_block(parser, header)
                    count += 1
                    header = None
                else:
                    header.append(line)
    if header is not None:
        _parse_block(parser, header)
        count += 1
    return {"messages": count}


def _read_chars() -> int | None:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def child_followup_split(path: Path) -> dict[str, Any]:
    """The replay pipeline in phases: import, read+split, parse, evaluate, JSON text."""
    t0 = time.perf_counter()
    from assistant.core.evaluate import evaluate
    from assistant.core.headers import parse_message
    from assistant.report import replay_document
    from assistant.settings import build_policy, load_config
    from assistant.sources import iter_mbox

    policy = build_policy(load_config(None), ["@example.com"])
    t1 = time.perf_counter()
    rchar0 = _read_chars()
    raws = list(iter_mbox(path))
    rchar1 = _read_chars()
    t2 = time.perf_counter()
    messages = [parse_message(r.header, r.arrived, r.source) for r in raws]
    t3 = time.perf_counter()
    now = max(m.date for m in messages)
    reports = evaluate(messages, policy, now)
    t4 = time.perf_counter()
    text = json.dumps(replay_document(reports, now), ensure_ascii=False, indent=1)
    t5 = time.perf_counter()
    read = (rchar1 - rchar0) if rchar0 is not None and rchar1 is not None else None
    return {
        "messages": len(messages),
        "threads": len(reports),
        "import_s": t1 - t0,
        "read_s": t2 - t1,
        "parse_s": t3 - t2,
        "evaluate_s": t4 - t3,
        "json_s": t5 - t4,
        "json_mb": len(text) / 1e6,
        "header_mb": sum(len(r.header) for r in raws) / 1e6,
        "read_mb": read / 1e6 if read is not None else None,
    }


def child_count(json_path: Path) -> dict[str, Any]:
    """Count threads and message ids in a ``followup replay --json`` document."""
    with open(json_path, encoding="utf-8") as fh:
        doc = json.load(fh)
    threads = doc["threads"]
    states: dict[str, int] = {}
    for thread in threads:
        states[thread["state"]] = states.get(thread["state"], 0) + 1
    return {
        "messages": sum(len(t["message_ids"]) for t in threads),
        "threads": len(threads),
        "states": dict(sorted(states.items())),
    }


def run_child_mode(argv: Sequence[str]) -> int:
    """Entry point of ``--child MODE ARGS``: do the work, print one JSON line."""
    mode, rest = argv[0], argv[1:]
    started = time.perf_counter()
    if mode == "generate":
        messages, size_mb, seed = int(rest[1]), float(rest[2]), int(rest[3])
        corpus = Path(rest[4]) if len(rest) > 4 and rest[4] else None
        result = write_mbox(Path(rest[0]), messages, size_mb, seed, corpus)
    elif mode == "stdlib-mailbox":
        result = child_stdlib_mailbox(Path(rest[0]))
    elif mode == "stdlib-lines":
        result = child_stdlib_lines(Path(rest[0]))
    elif mode == "followup-split":
        result = child_followup_split(Path(rest[0]))
    elif mode == "count":
        result = child_count(Path(rest[0]))
    else:
        raise SystemExit(f"unknown child mode {mode!r}")
    result["inside_s"] = time.perf_counter() - started
    result["vmhwm_mb"] = vm_hwm_mb()
    print(json.dumps(result))
    return 0


# --- the driver -------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    """One child run: wall and CPU seconds, peak RSS, and what it printed."""

    mode: str
    wall: float
    cpu: float
    peak_mb: float
    status: int
    output: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def followup_command() -> str:
    """The ``followup`` console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "followup"
    if beside.exists():
        return str(beside)
    found = shutil.which("followup")
    if found is None:
        raise SystemExit("the followup console script is not installed (pip install -e .)")
    return found


def command_for(mode: str, mbox: Path) -> list[str]:
    """The argv of one measurement."""
    if mode == "followup-cli":
        return [followup_command(), "replay", "--json", str(mbox), "--team", "@example.com"]
    return [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(mbox)]


def run_child(mode: str, argv: list[str], stdout: BinaryIO | None, workdir: Path) -> Measurement:
    """Run ``argv`` in a fresh process; wall time, rusage and its JSON line (if any)."""
    out_path, err_path = workdir / f"{mode}.out", workdir / f"{mode}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout or out, stderr=err, cwd=HERE.parent)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(encoding="utf-8", errors="replace").strip()
    output: dict[str, Any] = {}
    if stdout is None and text:
        try:
            output = json.loads(text.splitlines()[-1])
        except json.JSONDecodeError:
            output = {}
    error = err_path.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
    return Measurement(
        mode,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        proc.returncode,
        output,
        error,
    )


def measure(mode: str, mbox: Path, workdir: Path) -> Measurement:
    """One measurement; the CLI's stdout goes to /dev/null."""
    if mode == "followup-cli":
        with open(os.devnull, "wb") as null:
            return run_child(mode, command_for(mode, mbox), null, workdir)
    return run_child(mode, command_for(mode, mbox), None, workdir)


def warm_cache(path: Path) -> float:
    """Read the file once so every measurement starts from the page cache; seconds taken."""
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(1 << 22):
            pass
    return time.perf_counter() - started


def count_cli_messages(mbox: Path, workdir: Path) -> Measurement:
    """Run the CLI once more with its JSON kept, and count the message ids in a child."""
    json_path = workdir / "replay.json"
    with open(json_path, "wb") as keep:
        cli = run_child("followup-cli-json", command_for("followup-cli", mbox), keep, workdir)
    if cli.status != 0:
        return cli
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "count", str(json_path)]
    counted = run_child("count", argv, None, workdir)
    counted.output["json_mb"] = json_path.stat().st_size / 1e6
    json_path.unlink()
    return counted


# --- reporting --------------------------------------------------------------------------


def own_peak(m: Measurement) -> float:
    """The child's own peak RSS: ``VmHWM`` when it reported it (exact), else ``ru_maxrss``
    (which is at least this driver's peak, inherited through exec)."""
    hwm = m.output.get("vmhwm_mb")
    return float(hwm) if isinstance(hwm, (int, float)) else m.peak_mb


def best(runs: Sequence[Measurement]) -> Measurement:
    """The fastest successful run (or the first one when all failed)."""
    ok = [m for m in runs if m.status == 0]
    return min(ok, key=lambda m: m.wall) if ok else runs[0]


def verdict_word(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def print_run(index: int, m: Measurement, size_mb: float) -> None:
    """One line per child run, as it finishes."""
    status = "" if m.status == 0 else f"  EXIT {m.status}: {m.error.splitlines()[-1:]}"
    print(
        f"  run {index + 1} {m.mode:<15} {m.wall:7.2f} s wall {m.cpu:7.2f} s cpu "
        f"{size_mb / m.wall:7.1f} MB/s  peak RSS {own_peak(m):6.1f} MB{status}",
        flush=True,
    )


def print_summary(results: dict[str, list[Measurement]], size_mb: float) -> None:
    """Best of the runs for each mode."""
    print(
        f"\n  {'best of runs':<16} {'messages':>9} {'wall':>9} {'cpu':>9} {'MB/s':>8} "
        f"{'peak RSS':>10}"
    )
    for mode in MODES:
        runs = results[mode]
        m = best(runs)
        peak = max(own_peak(r) for r in runs)
        count = m.output.get("messages", "")
        count_text = f"{count:,}" if isinstance(count, int) else "(see below)"
        print(
            f"  {mode:<16} {count_text:>9} {m.wall:7.2f} s {m.cpu:7.2f} s "
            f"{size_mb / m.wall:8.1f} {peak:7.1f} MB"
        )


def print_split(split: Measurement) -> None:
    """Where the pipeline's time goes (phases timed inside the followup-split child)."""
    o = split.output
    if not o:
        return
    print("\n  followup-split phases (best run, timed inside the child):")
    for key, label in (
        ("import_s", "interpreter imports + policy"),
        ("read_s", "iter_mbox (split, headers only)"),
        ("parse_s", "parse_message"),
        ("evaluate_s", "evaluate"),
        ("json_s", "JSON document (not printed)"),
    ):
        print(f"    {label:<34} {o.get(key, 0):7.2f} s")
    read_mb = o.get("read_mb")
    read_text = f"{read_mb:,.1f} MB read by the process, " if read_mb is not None else ""
    print(
        f"    {read_text}{o.get('header_mb', 0):,.1f} MB of header blocks handed to the parser, "
        f"JSON {o.get('json_mb', 0):,.1f} MB"
    )


@dataclass(slots=True)
class Verdict:
    """The ratio and memory figures against their targets."""

    baseline_mode: str
    baseline_s: float
    followup_s: float
    ratio: float
    cpu_ratio: float
    peak_mb: float

    @property
    def pass_ratio(self) -> bool:
        """Within 1.5x of the faster baseline."""
        return self.ratio <= TARGET_RATIO

    @property
    def pass_memory(self) -> bool:
        """Under 500 MB."""
        return self.peak_mb < TARGET_PEAK_MB


def judge(results: dict[str, list[Measurement]]) -> Verdict:
    """Followup's CLI against the faster standard-library baseline."""
    baseline = min((best(results[m]) for m in BASELINES), key=lambda m: m.wall)
    cli = best(results["followup-cli"])
    peak = max(r.peak_mb for r in results["followup-cli"])
    return Verdict(
        baseline.mode,
        baseline.wall,
        cli.wall,
        cli.wall / baseline.wall,
        cli.cpu / baseline.cpu if baseline.cpu else float("inf"),
        peak,
    )


def print_verdict(v: Verdict, counts: dict[str, Any], driver_peak: float) -> None:
    """The two targets, PASS/FAIL."""
    print(
        f"\n  ratio followup-cli / {v.baseline_mode}: {v.ratio:.2f}x wall "
        f"({v.followup_s:.2f} s / {v.baseline_s:.2f} s), {v.cpu_ratio:.2f}x cpu; "
        f"target <= {TARGET_RATIO:g}x: {verdict_word(v.pass_ratio)}"
    )
    print(
        f"  followup-cli peak RSS: {v.peak_mb:,.1f} MB; target < {TARGET_PEAK_MB:g} MB: "
        f"{verdict_word(v.pass_memory)}"
    )
    same = counts.get("same")
    print(
        f"  messages: followup-cli found {_n(counts.get('cli'))} in "
        f"{_n(counts.get('threads'))} threads, stdlib-lines {_n(counts.get('lines'))}, "
        f"stdlib-mailbox {_n(counts.get('mailbox'))}: "
        f"{'same count' if same else 'COUNTS DIFFER'}"
    )
    states = counts.get("states") or {}
    print("  followup-cli thread states: " + ", ".join(f"{k} {v:,}" for k, v in states.items()))
    print(
        f"  (peak RSS: VmHWM reported by the bench's own children; ru_maxrss from wait4 for the "
        f"CLI, which cannot read below this driver's own peak of {driver_peak:.1f} MB)"
    )


def _n(value: object) -> str:
    """A count with thousands separators, or ``?``."""
    return f"{value:,}" if isinstance(value, int) else "?"


def driver_peak_mb() -> float:
    """This driver's own ``ru_maxrss``, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mbox", type=Path, help="measure this mbox instead of generating one")
    ap.add_argument("--messages", type=int, default=12_000, help="generated messages (12000)")
    ap.add_argument("--size-mb", type=float, default=300.0, help="generated file size (300)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement (3)")
    ap.add_argument("--seed", type=int, default=20261116, help="generator seed")
    ap.add_argument("--tmpdir", type=Path, help="where to generate (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated mbox")
    ap.add_argument("--no-corpus", action="store_true", help=f"do not read {CORPUS}")
    return ap.parse_args(argv)


def generate_mbox(args: argparse.Namespace, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Generate the mbox in a child (so this driver stays small); print what was made."""
    mbox = workdir / "generated.mbox"
    corpus = "" if args.no_corpus or not CORPUS.is_dir() else str(CORPUS)
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "generate",
        str(mbox),
        str(args.messages),
        str(args.size_mb),
        str(args.seed),
        corpus,
    ]
    gen = run_child("generate", argv, None, workdir)
    if gen.status != 0:
        raise SystemExit(f"generation failed:\n{gen.error}")
    o = gen.output
    print(
        f"  generated {o['messages']:,} messages ({o['threads']:,} thread slots, "
        f"{o['machine']:,} machine) with {o['attachments']:,} base64 attachments "
        f"({o['attachment_mb']:,.1f} MB before encoding) in {gen.wall:.1f} s (not timed); "
        f"{o['noise_headers']} header shapes from {corpus or 'no corpus'}"
    )
    return mbox, o


def message_counts(results: dict[str, list[Measurement]], counted: Measurement) -> dict[str, Any]:
    """Messages each side found."""
    lines = best(results["stdlib-lines"]).output.get("messages")
    boxed = best(results["stdlib-mailbox"]).output.get("messages")
    cli = counted.output.get("messages")
    return {
        "cli": cli,
        "threads": counted.output.get("threads"),
        "states": counted.output.get("states"),
        "lines": lines,
        "mailbox": boxed,
        "split": best(results["followup-split"]).output.get("messages"),
        "same": cli is not None and cli == lines == boxed,
    }


def run_all(mbox: Path, runs: int, workdir: Path, size_mb: float) -> dict[str, list[Measurement]]:
    """Every mode ``runs`` times, interleaved so noise spreads evenly."""
    results: dict[str, list[Measurement]] = {mode: [] for mode in MODES}
    for index in range(runs):
        for mode in MODES:
            m = measure(mode, mbox, workdir)
            results[mode].append(m)
            print_run(index, m, size_mb)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or take) an mbox, measure every mode, print, clean up."""
    args = parse_args(argv)
    print("Followup replay benchmark: followup replay vs the standard library on one mbox")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, runs {args.runs}")
    workdir = Path(tempfile.mkdtemp(prefix="followup-bench-", dir=args.tmpdir))
    generated: dict[str, Any] = {}
    try:
        if args.mbox is not None:
            mbox = args.mbox.resolve()
        else:
            mbox, generated = generate_mbox(args, workdir)
        size_mb = mbox.stat().st_size / 1e6
        warm = warm_cache(mbox)
        print(f"  mbox: {mbox} ({size_mb:,.1f} MB), page cache warmed in {warm:.1f} s\n")
        results = run_all(mbox, args.runs, workdir, size_mb)
        counted = count_cli_messages(mbox, workdir)
        print_summary(results, size_mb)
        print_split(best(results["followup-split"]))
        counts = message_counts(results, counted)
        verdict = judge(results)
        print_verdict(verdict, counts, driver_peak_mb())
        if counted.status != 0:
            print(f"  counting run failed: {counted.error[-500:]}")
        print("RESULT " + json.dumps(result_record(results, verdict, counts, size_mb, generated)))
    finally:
        if args.keep and args.mbox is None:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def result_record(
    results: dict[str, list[Measurement]],
    verdict: Verdict,
    counts: dict[str, Any],
    size_mb: float,
    generated: dict[str, Any],
) -> dict[str, Any]:
    """The machine-readable line."""
    modes = {
        mode: {
            "best_s": round(best(runs).wall, 3),
            "runs_s": [round(r.wall, 3) for r in runs],
            "cpu_s": round(best(runs).cpu, 3),
            "peak_rss_mb": round(max(own_peak(r) for r in runs), 1),
            "mb_per_s": round(size_mb / best(runs).wall, 1),
        }
        for mode, runs in results.items()
    }
    return {
        "bench": "replay",
        "file_mb": round(size_mb, 1),
        "generated": generated,
        "modes": modes,
        "split_phases": best(results["followup-split"]).output,
        "counts": counts,
        "baseline": verdict.baseline_mode,
        "ratio": round(verdict.ratio, 3),
        "cpu_ratio": round(verdict.cpu_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "peak_rss_mb": round(verdict.peak_mb, 1),
        "target_peak_mb": TARGET_PEAK_MB,
        "pass_ratio": verdict.pass_ratio,
        "pass_memory": verdict.pass_memory,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(run_child_mode(sys.argv[2:]))
    sys.exit(main())
