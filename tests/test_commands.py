"""Reply commands against a real Dovecot: digest lines by number, help, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.clock import FixedClock
from assistant.runtime import Runtime
from assistant.service.commands import handle_commands
from assistant.service.people import add_person, load_people
from assistant.service.pipeline import after_sync, sync_and_evaluate
from assistant.settings import FollowupConfig
from assistant.signing import command_address
from assistant.store.db import store
from assistant.store.models import Mailbox, OutboxItem, StoredMessage, ThreadEvent, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox
from tests.servers import Dovecot

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class Desk:
    mailbox: Mailbox
    digest: OutboxItem
    runtime: Runtime
    dovecot: Dovecot
    user: ImapUser

    def reply(self, n: int, sender: str, body: str, to: str | None = None) -> None:
        raw = (
            f"From: {sender}\r\nTo: {to or self.address}\r\nSubject: Re: your digest\r\n"
            f"Message-ID: <cmd{n}@example.com>\r\nIn-Reply-To: <{self.digest.message_id}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
            f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n> quoted\r\n"
            f"--b\r\nContent-Type: text/html\r\n\r\n<p>{body}</p>\r\n--b--\r\n"
        ).encode()
        self.dovecot.append(self.user.name, "INBOX", raw, msg_time=NOW)

    @property
    def address(self) -> str:
        return command_address("support@example.com", self.digest.id, self.digest.recipient)

    async def handle(self) -> list[OutboxItem]:
        mailbox = await Mailbox.get(id=self.mailbox.id)
        policy = self.runtime.policy(mailbox, await load_people())
        report = await sync_and_evaluate(mailbox, policy, clock=self.runtime.clock)
        await handle_commands(self.runtime, mailbox, report.changed_ids, NOW)
        return await OutboxItem.filter(kind="command_reply").order_by("id")


@pytest.fixture
async def desk(
    tmp_path: Path, imap_user: ImapUser, dovecot: Dovecot, secret_key: str
) -> AsyncIterator[Desk]:
    async with store(f"sqlite://{tmp_path / 'c.sqlite3'}"):
        box = await add_test_mailbox(imap_user.url, connected_at=NOW)
        await add_person("ann@example.com", at=NOW, name="Ann")
        await add_person("bob@example.com", at=NOW, name="Bob")
        for n in (1, 2):
            await ThreadRecord.create(
                mailbox=box,
                thread_id=f"t{n}@c.test",
                subject=f"Question {n}",
                state="awaiting_team",
                waiting_since=NOW,
                client=f"c{n}@c.test",
                last_message_at=NOW,
                owner="ann@example.com",
                owner_rule="mailbox-default",
                updated_at=NOW,
            )
        digest = await OutboxItem.create(
            mailbox=box,
            key="digest:ann@example.com:2026-11-24",
            kind="digest",
            rule="daily-digest",
            thread_id="",
            recipient="ann@example.com",
            message_id="followup.d1@example.com",
            due_at=NOW,
            created_at=NOW,
            sent_at=NOW,
            status="sent",
            payload={"threads": [["support", "t1@c.test"], ["support", "t2@c.test"]]},
        )
        runtime = Runtime("", tmp_path, FollowupConfig(), clock=FixedClock(NOW))
        yield Desk(box, digest, runtime, dovecot, imap_user)


async def test_digest_lines_by_number_help_and_refusals(desk: Desk) -> None:
    desk.reply(1, "Ann <ann@example.com>", "assign bob@example.com #2")
    desk.reply(2, "ann@example.com", "snooze until monday #1")
    desk.reply(3, "ann@example.com", "close it please")
    desk.reply(4, "ann@example.com", "done")  # which one? the digest has two
    desk.reply(5, "bob@example.com", "assign zed@example.com #1")
    desk.reply(6, "mallory@evil.test", "done #1")
    forged = desk.address.replace(desk.address.split(".")[2][:4], "aaaa")
    desk.reply(7, "ann@example.com", "done #1", to=forged)
    desk.reply(8, "ann@example.com", "assign zed@example.com #1")
    answers = await desk.handle()
    text = {a.reply_to_message_id: a.text for a in answers}
    assert set(text) == {f"cmd{n}@example.com" for n in (1, 2, 3, 4, 5, 8)}  # 6, 7: no answer
    assert text["cmd1@example.com"].startswith('Assigned: "Question 2" is now owned by Bob')
    assert text["cmd2@example.com"].startswith('Snoozed: "Question 1" stays quiet until Mon 30 Nov')
    assert "'close' is not a command" in text["cmd3@example.com"]
    assert "done | snooze" in text["cmd3@example.com"]  # the help comes with it
    assert "which thread?" in text["cmd4@example.com"]
    # Bob is a team member, but the digest went to Ann: her tag is hers alone.
    assert "went to ann@example.com: only they can act" in text["cmd5@example.com"]
    assert "zed@example.com is not a team member" in text["cmd8@example.com"]
    assert all(a.recipient in ("ann@example.com", "bob@example.com") for a in answers)

    t1, t2 = (
        await ThreadRecord.get(thread_id="t1@c.test"),
        await ThreadRecord.get(thread_id="t2@c.test"),
    )
    assert (
        t1.snoozed_until == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        and t1.owner == "ann@example.com"
    )
    assert (t2.owner, t2.owner_rule, t2.assigned_to) == (
        "bob@example.com",
        "assigned",
        "bob@example.com",
    )
    events = await ThreadEvent.filter(kind="command").values_list("rule", "actor")
    assert sorted(events) == [
        ("reply-command:assign", "ann@example.com"),
        ("reply-command:snooze", "ann@example.com"),
    ]
    # Commands are never conversations, and a second sync applies nothing twice.
    assert await StoredMessage.filter(machine_rule="followup-command").count() == 8
    assert len(await desk.handle()) == 6


def deeply_nested(to: str, depth: int = 5000) -> bytes:
    """A reply whose body is multipart inside multipart ``depth`` times."""
    head = (
        f"From: ann@example.com\r\nTo: {to}\r\nSubject: Re: your digest\r\n"
        "Message-ID: <deep@example.com>\r\nMIME-Version: 1.0\r\n"
    )
    parts = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(depth)
    )
    return (head + parts + "Content-Type: text/plain\r\n\r\ndone #1\r\n").encode()


async def test_absurd_commands_are_answered_and_never_stop_the_pass(desk: Desk) -> None:
    """Overflowing durations and dates, and a MIME tree deeper than any parser's stack, each
    get an answer (or none), and a client's message in the same batch is still planned."""
    await desk.handle()  # the first sync: what is in the mailbox now is history
    desk.reply(1, "ann@example.com", "snooze 99999999999999999999h #1")
    desk.reply(2, "ann@example.com", "snooze until 9999-12-31 #1")
    desk.reply(3, "ann@example.com", "snooze 1e400d #1")
    desk.dovecot.append(desk.user.name, "INBOX", deeply_nested(desk.address), msg_time=NOW)
    client = (
        "From: nina@c.test\r\nTo: support@example.com\r\nSubject: Where is my order?\r\n"
        "Message-ID: <nina@c.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n"
    )
    desk.dovecot.append(desk.user.name, "INBOX", client.encode(), msg_time=NOW)
    mailbox = await Mailbox.get(id=desk.mailbox.id)
    report = await sync_and_evaluate(
        mailbox, desk.runtime.policy(mailbox, await load_people()), clock=desk.runtime.clock
    )
    await after_sync(desk.runtime, mailbox, report, NOW)
    answers = await OutboxItem.filter(kind="command_reply")
    text = {a.reply_to_message_id: a.text for a in answers}
    assert "366 days at most" in text["cmd1@example.com"]
    assert "in the next 366 days" in text["cmd2@example.com"]
    assert "cannot read" in text["cmd3@example.com"]
    assert "the reply is empty" in text["deep@example.com"]  # an unreadable body: no command
    assert (await ThreadRecord.get(thread_id="t1@c.test")).snoozed_until is None
    acks = await OutboxItem.filter(kind="acknowledge").values_list("reply_to_message_id", flat=True)
    assert acks == ["nina@c.test"]


async def test_a_tag_expires_and_dies_with_its_episode(desk: Desk) -> None:
    old = await OutboxItem.create(
        mailbox=desk.mailbox,
        key="digest:ann@example.com:2026-11-02",
        kind="digest",
        rule="daily-digest",
        thread_id="",
        recipient="ann@example.com",
        message_id="followup.d0@example.com",
        due_at=NOW - timedelta(days=22),
        created_at=NOW - timedelta(days=22),
        sent_at=NOW - timedelta(days=22),
        status="sent",
        payload={"threads": [["support", "t1@c.test"]]},
    )
    reminder = await OutboxItem.create(
        mailbox=desk.mailbox,
        key="support:remind-owner:earlier-episode",
        kind="remind_owner",
        rule="remind-owner",
        thread_id="t1@c.test",
        reply_to_message_id="earlier@c.test",  # the client's episode before the current one
        recipient="ann@example.com",
        message_id="followup.r0@example.com",
        due_at=NOW,
        created_at=NOW,
        sent_at=NOW,
        status="sent",
    )
    for n, row in ((1, old), (2, reminder)):
        to = command_address("support@example.com", row.id, row.recipient)
        desk.reply(n, "ann@example.com", "done", to=to)
    answers = {a.reply_to_message_id: a.text for a in await desk.handle()}
    assert "commands work for 14 days" in answers["cmd1@example.com"]
    assert "the conversation has moved on" in answers["cmd2@example.com"]
    assert (await ThreadRecord.get(thread_id="t1@c.test")).done_at is None


async def test_a_command_is_stored_as_one_and_evaluated_once(desk: Desk) -> None:
    """Mail to a command address carries the command rule from the moment it is stored: the
    sync's evaluation already sees no conversation, and handling it re-evaluates nothing."""
    desk.reply(1, "ann@example.com", "snooze 2d #1")
    mailbox = await Mailbox.get(id=desk.mailbox.id)
    policy = desk.runtime.policy(mailbox, await load_people())
    report = await sync_and_evaluate(mailbox, policy, clock=desk.runtime.clock)
    row = await StoredMessage.get(message_id="cmd1@example.com")
    assert row.machine_rule == "followup-command"
    record = await ThreadRecord.get(mailbox=mailbox, thread_id=row.thread_id)
    assert (record.state, record.revision) == ("ignored", 1)
    await handle_commands(desk.runtime, mailbox, report.changed_ids, NOW)
    await record.refresh_from_db()
    assert record.revision == 1  # not re-evaluated
    assert await OutboxItem.filter(kind="command_reply").count() == 1
