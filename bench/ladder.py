"""Benchmark the ladder and the digests: 100,000 open threads, 200 people, 200 digests.

Run from the project root::

    .venv/bin/python bench/ladder.py                   # 100,000 threads, 200 people
    .venv/bin/python bench/ladder.py --threads 10000   # a quick run

1. **Evaluate and schedule the ladder** (pure core, in this process): for ``--threads`` open
   threads spread over ``--people`` people (a tenth of them away, each with a backup, one
   lead), waiting since random instants of the past two weeks, each thread's owner is chosen
   by the ownership rules (sender domain, keyword, round-robin) and its ladder decided at one
   ``now`` (:func:`assistant.core.ladder.decide`: acknowledgement, reminder, escalations, client
   update on a London business calendar with holidays). Baseline in the same run: only the
   idempotency keys of the five steps per thread (SHA-256), the least any deterministic ladder
   must compute. Target: < 5 s.
2. **Build and send 200 digests** against a private Dovecot and an aiosmtpd sink (as the
   tests start them): a fresh SQLite store with one mailbox, ``--people`` people and 10,000
   waiting threads owned by them; :func:`assistant.service.digest.send_digests` at a digest
   time (load the board, render 200 digests, write 200 outbox rows, send each over SMTP and
   APPEND its copy to Sent). Baseline in the same run: the same 200 rendered messages sent by
   plain aiosmtplib over one connection and APPENDed by plain imapclient. Target: < 30 s.

Nothing is asserted; figures are printed with PASS/FAIL and the last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers

import aiosmtplib

from assistant.core.clock import BusinessCalendar, holiday_set
from assistant.core.ladder import Case, Ladder, decide
from assistant.core.model import Address, Message
from assistant.core.outbox import idempotency_key
from assistant.core.ownership import OwnershipRules, Person, assign_owner
from assistant.core.state import History, State, ThreadState
from assistant.runtime import Runtime
from assistant.secrets import new_key
from assistant.service.digest import send_digests
from assistant.service.mailboxes import add_mailbox
from assistant.settings import FollowupConfig
from assistant.store.db import store
from assistant.store.models import OutboxItem, ThreadRecord
from assistant.store.models import Person as PersonRow
from tests.servers import Dovecot, SmtpSink

NOW = datetime(2026, 11, 24, 8, 45, tzinfo=UTC)  # Tuesday, after everyone's 08:30 digest
TARGET_LADDER_S = 5.0
TARGET_DIGESTS_S = 30.0


def people(count: int) -> dict[str, Person]:
    """``count`` people; every tenth away; each backs up the next; the first is the lead."""
    emails = [f"p{i:03d}@example.com" for i in range(count)]
    return {
        e: Person(
            e,
            f"Person {i}",
            backup=emails[(i + 1) % count],
            away=i % 10 == 9,
            lead=i == 0,
            timezone="Europe/London",
        )
        for i, e in enumerate(emails)
    }


def cases(count: int, team: dict[str, Person], rng: Random) -> list[tuple[Address, str, datetime]]:
    """(client, subject, waiting_since) of ``count`` open threads."""
    out = []
    for i in range(count):
        since = NOW - timedelta(minutes=rng.randrange(1, 14 * 24 * 60))
        client = Address(f"c{i}@client{i % 500}.test", f"Client {i}")
        out.append((client, f"Order {i} {'urgent' if i % 7 == 0 else 'question'}", since))
    return out


def ladder_pass(
    threads: list[tuple[Address, str, datetime]],
    team: dict[str, Person],
    calendar: BusinessCalendar,
) -> tuple[float, int]:
    """Owner + decide for every thread; returns seconds and due actions."""
    rules = OwnershipRules(
        by_domain={
            f"client{d}.test": f"p{d % len(team):03d}@example.com" for d in range(0, 500, 5)
        },
        by_keyword=(("urgent", "p001@example.com"),),
        rotation=tuple(team),
    )
    ladder, due, rotation = Ladder(), 0, 0
    start = time.perf_counter()
    for i, (client, subject, since) in enumerate(threads):
        assignment = assign_owner(client, subject, rules, team, None, rotation)
        rotation = assignment.rotation_next
        first = Message(
            message_id=f"m{i}@c.test",
            synthetic_id=False,
            in_reply_to=(),
            references=(),
            sender=client,
            to=(),
            cc=(),
            reply_to=(),
            date=since,
            date_source="header",
            subject=subject,
            subject_key=subject.lower(),
        )
        state = ThreadState(
            State.AWAITING_TEAM, waiting_since=since, episode_start=first, client=client
        )
        case = Case(
            "support", f"m{i}@c.test", state, assignment.owner, "p000@example.com", team, True
        )
        due += len(decide(case, NOW, History(), ladder, calendar).actions)
    return time.perf_counter() - start, due


def baseline_pass(threads: list[tuple[Address, str, datetime]]) -> float:
    """Only the five idempotency keys per thread."""
    start = time.perf_counter()
    for i, _ in enumerate(threads):
        for step in ("acknowledge", "remind-owner", "escalate-backup", "escalate-lead", "update"):
            idempotency_key("support", f"m{i}@c.test", step, f"m{i}@c.test")
    return time.perf_counter() - start


async def seed_store(
    url: str, imap_url: str, smtp_url: str, team: dict[str, Person], threads: int, rng: Random
) -> None:
    """One mailbox, the people, ``threads`` waiting threads."""
    async with store(url):
        box = await add_mailbox(
            "support",
            "support@example.com",
            imap_url,
            smtp_url,
            ["@example.com"],
            None,
            0,
            NOW - timedelta(days=30),
            None,
        )
        await PersonRow.bulk_create(
            [
                PersonRow(
                    email=p.email,
                    name=p.name,
                    timezone=p.timezone,
                    lead=p.lead,
                    away=p.away,
                    created_at=NOW,
                )
                for p in team.values()
            ]
        )
        owners = list(team)
        await ThreadRecord.bulk_create(
            [
                ThreadRecord(
                    mailbox=box,
                    thread_id=f"t{i}@c.test",
                    subject=f"Order {i} has not arrived",
                    state="awaiting_team",
                    waiting_since=NOW - timedelta(minutes=rng.randrange(60, 10 * 24 * 60)),
                    client=f"c{i}@c.test",
                    last_message_at=NOW,
                    owner=owners[i % len(owners)],
                    owner_rule="round-robin",
                    updated_at=NOW,
                )
                for i in range(threads)
            ],
            batch_size=1000,
        )


async def digests_pass(url: str) -> tuple[float, int, list[tuple[str, str, bytes]]]:
    """send_digests at NOW: seconds, rows sent, and the sent messages (for the baseline)."""
    async with store(url):
        runtime = Runtime(url, Path("."), FollowupConfig())
        start = time.perf_counter()
        await send_digests(runtime, NOW)
        elapsed = time.perf_counter() - start
        rows = await OutboxItem.filter(kind="digest", status="sent")
        return elapsed, len(rows), [(r.recipient, r.subject, r.text.encode()) for r in rows]


async def digest_baseline(
    sink: SmtpSink, dovecot: Dovecot, user: str, sent: list[tuple[str, str, bytes]]
) -> float:
    """The same messages: one aiosmtplib connection, plain imapclient APPENDs to Sent."""
    from email.message import EmailMessage

    imap = dovecot.client(user)
    start = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname=sink.host, port=sink.port)
    await smtp.connect()
    for recipient, subject, text in sent:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "support@example.com", recipient, subject
        msg.set_content(text.decode())
        await smtp.send_message(msg)
        imap.append("Sent", msg.as_bytes(), flags=[b"\\Seen"])
    await smtp.quit()
    elapsed = time.perf_counter() - start
    imap.logout()
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--digest-threads", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args(argv)
    rng = Random(args.seed)
    team = people(args.people)
    calendar = BusinessCalendar.build(
        "Europe/London", "Mon-Fri 09:00-17:30", holiday_set("GB", None, ())
    )
    threads = cases(args.threads, team, rng)
    base = baseline_pass(threads)
    seconds, due = ladder_pass(threads, team, calendar)
    print(f"1. Ladder: {args.threads:,} open threads, {args.people} people")
    print(f"   baseline (5 idempotency keys per thread): {base:.2f} s")
    print(
        f"   owner + decide:                            {seconds:.2f} s = {seconds / base:.1f}x "
        f"baseline, {due:,} actions due  (target < {TARGET_LADDER_S:.0f} s: "
        f"{'PASS' if seconds < TARGET_LADDER_S else 'FAIL'})"
    )

    import os

    os.environ.setdefault("FOLLOWUP_SECRET_KEY", new_key())
    with tempfile.TemporaryDirectory(prefix="followup-bench-ladder-") as tmp:
        dovecot = Dovecot(Path(tmp) / "dovecot").start()
        sink = SmtpSink().start()
        try:
            dovecot.add_user("support", "pw")
            imap_url = f"imap://support:pw@{dovecot.host}:{dovecot.port}"
            smtp_url = f"smtp://{sink.host}:{sink.port}"
            url = f"sqlite://{tmp}/bench.sqlite3"
            asyncio.run(seed_store(url, imap_url, smtp_url, team, args.digest_threads, rng))
            digest_s, sent, messages = asyncio.run(digests_pass(url))
            floor = asyncio.run(digest_baseline(sink, dovecot, "support", messages))
        finally:
            sink.stop()
            dovecot.stop()
    print(f"2. Digests: {args.people} people, {args.digest_threads:,} waiting threads")
    print(
        f"   baseline (send + APPEND the same {len(messages)} messages, plain libraries): "
        f"{floor:.2f} s"
    )
    print(
        f"   send_digests (board, render, outbox, SMTP, Sent): {digest_s:.2f} s = "
        f"{digest_s / floor:.1f}x baseline, {sent} sent  (target < {TARGET_DIGESTS_S:.0f} s: "
        f"{'PASS' if digest_s < TARGET_DIGESTS_S and sent == args.people else 'FAIL'})"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "ladder",
                "threads": args.threads,
                "ladder_s": round(seconds, 3),
                "ladder_baseline_s": round(base, 3),
                "digests_s": round(digest_s, 3),
                "digests_baseline_s": round(floor, 3),
                "digests_sent": sent,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
