"""Acknowledgements end to end: real Dovecot, real SMTP server, exactly once, never a loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.clock import FixedClock
from assistant.runtime import Runtime
from assistant.service.deliver import DeliveryReport
from assistant.service.pipeline import deliverer_for, mailbox_policy, sync_and_plan
from assistant.settings import FollowupConfig, GuardsConfig, MessagesConfig
from assistant.store.db import store
from assistant.store.models import Mailbox, OutboxItem, StoredMessage, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox
from tests.servers import Dovecot, SmtpSink
from tests.test_corpus import CORPUS, labelled
from tests.test_sync import mail

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Ack:
    mailbox: Mailbox
    url: str
    dovecot: Dovecot
    user: ImapUser
    sink: SmtpSink
    config: FollowupConfig

    def client_mail(self, mid: str, sender: str, subject: str, **kw: object) -> None:
        raw = mail(mid, sender, subject, **kw)  # type: ignore[arg-type]
        self.dovecot.append(self.user.name, "INBOX", raw, msg_time=datetime.now(UTC))

    async def cycle(self, now: datetime | None = None) -> DeliveryReport:
        mailbox = await Mailbox.get(id=self.mailbox.id)
        clock = FixedClock(now or datetime.now(UTC))  # the test's clock, moved by ``now``
        runtime = Runtime(self.url, Path("."), self.config, clock=clock)
        await sync_and_plan(runtime, mailbox, clock.now())  # the pipeline `followup run` uses
        policy = await mailbox_policy(runtime, mailbox)
        return await deliverer_for(runtime, mailbox, policy).deliver_due(clock.now())

    def sent_copies(self, message_id: str) -> int:
        client = self.dovecot.client(self.user.name)
        try:
            client.select_folder("Sent", readonly=True)
            return len(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))
        finally:
            client.logout()


async def make_env(
    url: str,
    user: ImapUser,
    dovecot: Dovecot,
    sink: SmtpSink,
    grace: int = 0,
    config: FollowupConfig | None = None,
) -> Ack:
    mailbox = await add_test_mailbox(
        user.url,
        smtp_url=f"smtp://{sink.host}:{sink.port}",
        grace_seconds=grace,
        connected_at=datetime.now(UTC) - timedelta(seconds=5),
    )
    env = Ack(mailbox, url, dovecot, user, sink, config or FollowupConfig())
    await env.cycle()  # the first sync: everything already there is history
    return env


@pytest.fixture
async def ack(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> AsyncIterator[Ack]:
    async with store(store_url):
        yield await make_env(store_url, imap_user, dovecot, smtp_sink)


async def test_one_threaded_marked_acknowledgement_and_a_copy_in_sent(ack: Ack) -> None:
    ack.client_mail(
        "q1@c.test",
        "Anna Berg <anna@c.test>",
        "Invoice 118 wrong VAT",
        extra="References: <older@c.test>",
    )
    report = await ack.cycle()
    assert report.sent == 1
    (received,) = ack.sink.messages
    msg = received.message
    assert list(received.rcpt_tos) == ["anna@c.test"]
    assert msg["Subject"] == "Re: Invoice 118 wrong VAT"
    assert msg["In-Reply-To"] == "<q1@c.test>"
    assert msg["References"].split() == ["<older@c.test>", "<q1@c.test>"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] is None
    assert "support@example.com" in msg["From"] and msg["Reply-To"] == "support@example.com"
    assert msg.get_content_type() == "multipart/alternative"
    assert {p.get_content_type() for p in msg.iter_parts()} == {"text/plain", "text/html"}
    assert "Anna Berg" in msg.get_body(("plain",)).get_content()
    row = await OutboxItem.get(kind="acknowledge", recipient="anna@c.test")
    assert row.thread_id == "older@c.test"  # the root the client's References name
    assert row.status == "sent" and msg["Message-ID"] == f"<{row.message_id}>"
    assert msg["X-Followup-Key"] == row.key
    assert ack.sent_copies(row.message_id) == 1
    # The copy syncs back, is known as our own, and changes nothing; no second mail, ever.
    again = await ack.cycle()
    assert again.sent == 0 and len(ack.sink.messages) == 1
    own = await StoredMessage.get(message_id=row.message_id)
    assert own.machine_rule == "followup-own"
    assert (await ThreadRecord.get(thread_id="older@c.test")).state == "awaiting_team"


async def test_machine_mail_and_history_get_nothing(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> None:
    dovecot.append(
        imap_user.name,
        "INBOX",
        mail("h1@c.test", "hanna@c.test", "Old question"),
        msg_time=datetime.now(UTC),
    )
    async with store(store_url):
        ack = await make_env(store_url, imap_user, dovecot, smtp_sink)
        ack.client_mail(
            "o1@c.test", "erik@c.test", "Automatic reply: hi", extra="Auto-Submitted: auto-replied"
        )
        ack.client_mail("b1@mx.test", "MAILER-DAEMON@mx.test", "Undelivered Mail Returned")
        ack.client_mail("n1@v.test", "news@v.test", "November news", extra="List-Id: <news.v.test>")
        ack.client_mail("real@c.test", "rita@c.test", "A real question")  # proves the pass ran
        await ack.cycle()
        assert [m.rcpt_tos for m in ack.sink.messages] == [("rita@c.test",)]
        ids = ["o1@c.test", "b1@mx.test", "n1@v.test"]
        machine = await StoredMessage.filter(message_id__in=ids)
        assert len(machine) == 3 and all(m.machine_rule for m in machine)
        history = await ThreadRecord.get(thread_id="h1@c.test")
        assert history.state == "awaiting_team"  # stored and waiting, but history: no ack
        acked = await OutboxItem.filter(kind="acknowledge").values_list("recipient", flat=True)
        assert acked == ["rita@c.test"]


async def test_history_is_never_acknowledged(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> None:
    dovecot.append(
        imap_user.name,
        "INBOX",
        mail("old@c.test", "anna@c.test", "Old question"),
        msg_time=datetime.now(UTC),
    )
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink)
        await env.cycle()
        assert smtp_sink.messages == []
        assert (await ThreadRecord.get(thread_id="old@c.test")).state == "awaiting_team"


async def test_human_reply_inside_the_grace_period_wins(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> None:
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink, grace=120)
        env.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
        assert (await env.cycle()).sent == 0  # not due yet
        dovecot.append(
            imap_user.name,
            "Sent",
            mail(
                "r1@example.com",
                "alice@example.com",
                "Re: Wrong VAT",
                to="anna@c.test",
                parents=("q1@c.test",),
                minute=59,
            ),
            msg_time=datetime.now(UTC),
        )
        report = await env.cycle(now=datetime.now(UTC) + timedelta(minutes=3))
        assert report.sent == 0 and smtp_sink.messages == []
        row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
        assert row.status == "skipped" and row.skip_rule == "no-ack-thread-not-waiting"


async def test_an_outlook_reply_with_only_thread_index_wins_the_grace_period(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> None:
    """A teammate answers from Outlook: no In-Reply-To or References, a generic subject,
    only Thread-Index (the conversation's 22 bytes and 5 of its own): still the answer."""
    first, reply = "AdOefxorAAECAwQFBgcICQoLDA0ODw==", "AdOefxorAAECAwQFBgcICQoLDA0ODwAAobLD"
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink, grace=120)
        env.client_mail(
            "q1@c.test",
            "anna@c.test",
            "Question",
            extra=f"Thread-Index: {first}\r\nThread-Topic: Question",
        )
        assert (await env.cycle()).sent == 0  # not due yet
        answer = mail(
            "r1@example.com",
            "alice@example.com",
            "RE: Question",
            to="anna@c.test",
            minute=59,
            extra=f"Thread-Index: {reply}\r\nThread-Topic: Question",
        )
        dovecot.append(imap_user.name, "Sent", answer, msg_time=datetime.now(UTC))
        report = await env.cycle(now=datetime.now(UTC) + timedelta(minutes=3))
        assert report.sent == 0 and smtp_sink.messages == []
        row = await OutboxItem.get(kind="acknowledge", reply_to_message_id="q1@c.test")
        # (Both arrived within one second: whichever the clock orders last, a human answered.)
        assert row.status == "skipped"
        assert row.skip_rule in ("no-ack-thread-not-waiting", "no-ack-after-human-reply")


async def test_one_acknowledgement_per_sender_per_day(ack: Ack) -> None:
    ack.client_mail("q1@c.test", "anna@c.test", "First topic entirely")
    ack.client_mail("q2@c.test", "anna@c.test", "Second topic, other thing")
    report = await ack.cycle()
    assert report.sent == 1 and report.skipped == {"ack-rate-per-sender": 1}
    assert len(ack.sink.messages) == 1


async def test_transient_smtp_error_retries_then_sends_once(ack: Ack) -> None:
    ack.sink.fail_next(1, code=451)
    ack.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
    first = await ack.cycle()
    assert first.retried == 1 and ack.sink.messages == []
    row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
    assert row.status == "retry" and "451" in (row.last_error or "")
    assert (await ack.cycle()).sent == 0  # backoff: not yet
    later = await ack.cycle(now=datetime.now(UTC) + timedelta(hours=2))
    assert later.sent == 1 and len(ack.sink.messages) == 1


async def test_permanent_smtp_error_stops_and_shows(ack: Ack) -> None:
    ack.sink.fail_next(1, code=550)
    ack.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
    report = await ack.cycle()
    assert report.failed == 1
    row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
    assert row.status == "failed" and "550" in (row.last_error or "")
    assert (await ack.cycle(now=datetime.now(UTC) + timedelta(days=1))).sent == 0


async def test_broken_template_falls_back_to_the_builtin(
    store_url: str,
    imap_user: ImapUser,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    secret_key: str,
    tmp_path: Path,
) -> None:
    broken = tmp_path / "templates" / "acknowledge"
    broken.mkdir(parents=True)
    (broken / "subject.j2").write_text("Re: {{ thread_subject }}")
    (broken / "text.j2").write_text("Hello {{ no_such_variable }}")
    (broken / "html.j2").write_text("<p>{% if %}</p>")
    config = FollowupConfig(messages=MessagesConfig(templates_dir=tmp_path / "templates"))
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink, config=config)
        env.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
        assert (await env.cycle()).sent == 1
        row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
        assert row.template_error and "no_such_variable" in row.template_error
        body = smtp_sink.messages[0].message.get_body(("plain",)).get_content()
        assert "Wrong VAT" in body and "no_such_variable" not in body


async def test_dry_run_records_and_sends_nothing(ack: Ack) -> None:
    ack.mailbox.dry_run = True
    await ack.mailbox.save(update_fields=["dry_run"])
    ack.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
    report = await ack.cycle()
    assert report.dry_run == 1 and ack.sink.messages == []
    row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
    assert row.status == "dry_run" and "Wrong VAT" in row.text


async def test_a_burst_is_throttled_oldest_first_and_never_pauses_the_mailbox(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> None:
    config = FollowupConfig(guards=GuardsConfig(max_per_minute=2))
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink, config=config)
        for i in range(5):
            env.client_mail(f"q{i}@c{i}.test", f"client{i}@c{i}.test", f"Question {i} about orders")
        now = datetime.now(UTC)
        report = await env.cycle(now)
        assert (report.sent, report.throttled, report.paused) == (2, 3, False)
        assert (await Mailbox.get(id=env.mailbox.id)).paused_reason is None
        assert await OutboxItem.filter(kind="acknowledge", status="pending").count() == 3
        again = await env.cycle(now + timedelta(seconds=30))  # the same minute: they wait
        assert again.sent == 0
        later = await env.cycle(now + timedelta(seconds=61))  # the minute moved on
        assert later.sent == 2
        last = await env.cycle(now + timedelta(seconds=122))
        assert last.sent == 1 and not last.throttled
        received = [str(m.message["In-Reply-To"]) for m in smtp_sink.messages]
        assert received == [f"<q{i}@c{i}.test>" for i in range(5)]  # oldest first, each once


async def test_no_machine_message_of_the_corpus_is_answered(ack: Ack) -> None:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"no corpus at {CORPUS}")
    machine = {p for p, is_machine in labelled().items() if is_machine}
    for path in sorted(machine):
        ack.dovecot.append(ack.user.name, "INBOX", path.read_bytes(), msg_time=datetime.now(UTC))
    ack.client_mail("real@c.test", "rita@c.test", "A real question")  # proves the pass ran
    await ack.cycle()
    assert [m.rcpt_tos for m in ack.sink.messages] == [("rita@c.test",)]
    stored = await StoredMessage.filter(mailbox_id=ack.mailbox.id, folder__name="INBOX").count()
    assert stored == len(machine) + 1  # every corpus message was stored (or quarantined: none)
    acked = await OutboxItem.filter(kind="acknowledge").exclude(status="skipped")
    assert [row.recipient for row in acked] == ["rita@c.test"]


@pytest.mark.parametrize("point", ["before_smtp", "after_smtp", "after_append"])
async def test_killed_at_any_point_of_the_send_path_sends_exactly_once(
    store_url: str,
    imap_user: ImapUser,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    secret_key: str,
    point: str,
) -> None:
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink)
        env.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
    driver = [sys.executable, str(ROOT / "tests" / "ack_driver.py"), store_url, "support"]
    environ = {**os.environ, "FOLLOWUP_CRASH_AT": point, "PYTHONPATH": str(ROOT)}
    crashed = await asyncio.to_thread(
        subprocess.run, driver, env=environ, capture_output=True, timeout=120
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    environ.pop("FOLLOWUP_CRASH_AT")
    for _ in range(2):  # restart after the crashed sender's lease, and once more
        done = await asyncio.to_thread(
            subprocess.run, [*driver, "600"], env=environ, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    smtp_sink.wait_for(1)
    assert len(smtp_sink.messages) == 1
    async with store(store_url):
        row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
        assert row.status == "sent"
        assert env.sent_copies(row.message_id) == 1


async def test_a_human_reply_during_a_crash_cancels_the_pending_acknowledgement(
    store_url: str,
    imap_user: ImapUser,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    secret_key: str,
) -> None:
    async with store(store_url):
        env = await make_env(store_url, imap_user, dovecot, smtp_sink)
        env.client_mail("q1@c.test", "anna@c.test", "Wrong VAT")
    driver = [sys.executable, str(ROOT / "tests" / "ack_driver.py"), store_url, "support"]
    environ = {**os.environ, "FOLLOWUP_CRASH_AT": "before_smtp", "PYTHONPATH": str(ROOT)}
    crashed = await asyncio.to_thread(
        subprocess.run, driver, env=environ, capture_output=True, timeout=120
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    reply = mail(
        "r1@example.com",
        "alice@example.com",
        "Re: Wrong VAT",
        to="anna@c.test",
        parents=("q1@c.test",),
        minute=5,
    )
    dovecot.append(imap_user.name, "Sent", reply, msg_time=datetime.now(UTC))
    environ.pop("FOLLOWUP_CRASH_AT")
    done = await asyncio.to_thread(
        subprocess.run, [*driver, "600"], env=environ, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert smtp_sink.messages == []  # the recovered row met the same guards as a new one
    async with store(store_url):
        row = await OutboxItem.get(kind="acknowledge", thread_id="q1@c.test")
        assert (row.status, row.skip_rule) == ("skipped", "no-ack-thread-not-waiting")


async def test_planning_takes_the_thread_as_evaluated(
    ack: Ack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluate step hands its waiting threads on: the planner does not rebuild them from
    the store, unless the record moved on since (another evaluation): then it does."""
    from assistant.core.commands import parse_command
    from assistant.service import outbox
    from assistant.service.actions import apply_action
    from assistant.service.pipeline import after_sync, sync_and_evaluate

    ack.client_mail("q1@c.test", "anna@c.test", "Invoice 118 wrong VAT")
    ack.client_mail("q2@c.test", "ben@c.test", "Login broken")
    ack.client_mail("q3@c.test", "cleo@c.test", "Refund missing")
    mailbox = await Mailbox.get(id=ack.mailbox.id)
    clock = FixedClock(datetime.now(UTC))
    runtime = Runtime(ack.url, Path("."), ack.config, clock=clock)
    report = await sync_and_evaluate(mailbox, await mailbox_policy(runtime, mailbox), clock=clock)
    assert set(report.evaluated) == {"q1@c.test", "q2@c.test", "q3@c.test"}
    # Another evaluation moved q2's record on: what this pass holds of it is stale.
    await ThreadRecord.filter(thread_id="q2@c.test").update(revision=7)
    # q3 was snoozed (a reply command, the web page) after it was evaluated.
    q3 = await ThreadRecord.get(thread_id="q3@c.test")
    snooze = parse_command("snooze 2d")
    await apply_action(runtime, mailbox, q3, snooze, "ann@example.com", clock.now(), {}, "web")
    rebuilt: list[str] = []
    real = outbox.load_thread

    async def counted(box: Mailbox, thread_id: str, policy: object) -> object:
        rebuilt.append(thread_id)
        return await real(box, thread_id, policy)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "load_thread", counted)
    await after_sync(runtime, mailbox, report, clock.now())
    assert sorted(rebuilt) == ["q2@c.test", "q3@c.test"]
    planned = await OutboxItem.filter(kind="acknowledge").values_list("recipient", flat=True)
    assert sorted(planned) == ["anna@c.test", "ben@c.test", "cleo@c.test"]
