"""A week of simulated mailbox life against a real Dovecot and SMTP server, time moved, never slept.

The business calendar is London, Mon-Fri 09:00-17:00, with Friday 23 October 2026 a company
holiday; clocks go back on Sunday 25 October (BST -> GMT). Three clients write:

- A (anna): nobody acts. The whole ladder runs: acknowledgement 2 minutes later, the owner's
  reminder after 4 business hours, the backup after 1 business day, the lead after 2, a
  progress update to the client after 3: each exactly once, at the instant the business
  clock says (across the holiday, the weekend and the DST change).
- B (bert): the owner answers before the reminder (the ladder stops); bert writes again (a new
  episode: no second acknowledgement, a fresh reminder), and the owner replies ``done`` to
  that reminder (accepted: the ladder stops, a one-line confirmation comes back). A stranger
  replying to the same signed address is refused and gets nothing.
- C (cleo): "urgent" threads belong to carl, who is away: his backup bob owns it and gets
  the reminder.

Every person gets at most one digest per local working day, at 08:30 London.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from assistant.clock import FixedClock
from assistant.runtime import Runtime
from assistant.service.digest import plan_digests
from assistant.service.people import add_person
from assistant.service.pipeline import deliver_mailbox, sync_and_plan
from assistant.service.timeline import timeline
from assistant.settings import FollowupConfig
from assistant.signing import command_address
from assistant.store.db import store
from assistant.store.models import Mailbox, OutboxItem, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox
from tests.servers import Dovecot, SmtpSink

UTC_ = UTC
THU = datetime(2026, 10, 22, tzinfo=UTC)  # Thursday; BST (UTC+1) until Sunday 25th 01:00 UTC
CONFIG = FollowupConfig.model_validate(
    {
        "hours": {
            "timezone": "Europe/London",
            "weekly": "Mon-Fri 09:00-17:00",
            "extra_holidays": ["2026-10-23"],
        },
        "ownership": {"default": "ann@example.com", "keywords": {"urgent": "carl@example.com"}},
        "messages": {"team_name": "Acme Support"},
    }
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in October 2026, UTC."""
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def message(
    mid: str,
    sender: str,
    subject: str,
    when: datetime,
    *,
    to: str = "support@example.com",
    parents: tuple[str, ...] = (),
    body: str = "Hello.",
) -> bytes:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{mid}>",
    ]
    if parents:
        lines += [
            f"In-Reply-To: <{parents[-1]}>",
            "References: " + " ".join(f"<{p}>" for p in parents),
        ]
    return ("\r\n".join(lines) + f"\r\n\r\n{body}\r\n").encode()


@dataclass
class Life:
    mailbox: Mailbox
    url: str
    dovecot: Dovecot
    user: ImapUser
    sink: SmtpSink
    runtime: Runtime
    clock: FixedClock

    def deliver_mail(self, folder: str, raw: bytes, when: datetime) -> None:
        self.dovecot.append(self.user.name, folder, raw, msg_time=when)

    async def tick(self, now: datetime) -> None:
        """What `followup run` does, at simulated time ``now``."""
        mailbox = await Mailbox.get(id=self.mailbox.id)
        self.clock.set(now)
        await sync_and_plan(self.runtime, mailbox, now)  # the pipeline of `followup run`
        await plan_digests(self.runtime, now)
        await plan_digests(self.runtime, now)  # a second process doing the same finds it done
        await deliver_mailbox(self.runtime, mailbox, now)

    def sent(self, kind: str) -> list[tuple[str, str]]:
        """(recipient, Date) of each mail of ``kind`` the SMTP server accepted."""
        out = []
        for received in self.sink.messages:
            msg = received.message
            if msg["X-Followup-Action"] == kind:
                out.append((received.rcpt_tos[0], str(msg["Date"])))
        return out


@pytest.fixture
async def life(
    tmp_path: Path, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> AsyncIterator[Life]:
    url = f"sqlite://{tmp_path / 'week.sqlite3'}"
    async with store(url):
        mailbox = await add_test_mailbox(
            imap_user.url,
            smtp_url=f"smtp://{smtp_sink.host}:{smtp_sink.port}",
            connected_at=THU,
        )
        await add_person(
            "lee@example.com", at=THU, name="Lee Lead", timezone="Europe/London", lead=True
        )
        await add_person("bob@example.com", at=THU, name="Bob", timezone="Europe/London")
        await add_person(
            "ann@example.com",
            at=THU,
            name="Ann",
            timezone="Europe/London",
            backup="bob@example.com",
        )
        await add_person(
            "carl@example.com",
            at=THU,
            name="Carl",
            timezone="Europe/London",
            backup="bob@example.com",
            away=True,
        )
        clock = FixedClock(THU)
        runtime = Runtime(url, tmp_path, CONFIG, clock=clock)
        yield Life(mailbox, url, dovecot, imap_user, smtp_sink, runtime, clock)


def reminder_of(rows: list[OutboxItem], thread: str, kind: str) -> OutboxItem:
    return next(r for r in rows if r.thread_id == thread and r.kind == kind and r.status == "sent")


async def test_a_week_of_mailbox_life(life: Life) -> None:
    ticks = {THU + timedelta(hours=h) for h in range(9, 8 * 24, 3)}  # every 3 hours
    events: dict[datetime, list[tuple[str, bytes]]] = {}

    def plan(when: datetime, folder: str, raw: bytes) -> None:
        events.setdefault(when, []).append((folder, raw))
        ticks.add(when)

    plan(
        at(22, 15),
        "INBOX",
        message("a1@c.test", "Anna <anna@c.test>", "Invoice 4411 is wrong", at(22, 15)),
    )
    plan(
        at(22, 15, 30),
        "INBOX",
        message("b1@c.test", "bert@c.test", "Password reset", at(22, 15, 30)),
    )
    plan(
        at(26, 10),
        "Sent",
        message(
            "b2@example.com",
            "ann@example.com",
            "Re: Password reset",
            at(26, 10),
            to="bert@c.test",
            parents=("b1@c.test",),
        ),
    )
    plan(at(26, 9), "INBOX", message("c1@c.test", "cleo@c.test", "URGENT: site down", at(26, 9)))
    plan(
        at(27, 10),
        "INBOX",
        message(
            "b3@c.test",
            "bert@c.test",
            "Re: Password reset",
            at(27, 10),
            parents=("b1@c.test", "b2@example.com"),
        ),
    )
    # Exactly when the calendar says each step is due, and each day's digest time.
    ticks |= {at(22, 15, 2), at(22, 15, 32), at(26, 12), at(26, 16), at(27, 16), at(28, 16)}
    ticks |= {at(26, 13), at(27, 14)}
    ticks |= {
        at(22, 7, 30),
        at(23, 7, 30),
        at(26, 8, 30),
        at(27, 8, 30),
        at(28, 8, 30),
        at(29, 8, 30),
    }

    commands_sent = False
    for now in sorted(ticks):
        for folder, raw in events.get(now, []):
            life.deliver_mail(folder, raw, now)
        if now >= at(27, 14, 30) and not commands_sent:
            commands_sent = True
            rows = await OutboxItem.all()
            remind_b = reminder_of(rows, "b1@c.test", "remind_owner")
            tag = command_address("support@example.com", remind_b.id, remind_b.recipient)
            # A stranger who got hold of the address, then the owner.
            life.deliver_mail(
                "INBOX",
                message(
                    "x1@evil.test",
                    "eve@evil.test",
                    "Re: reminder",
                    now,
                    to=tag,
                    parents=(remind_b.message_id,),
                    body="done",
                ),
                now,
            )
            life.deliver_mail(
                "INBOX",
                message(
                    "cmd1@example.com",
                    "Ann <ann@example.com>",
                    "Re: reminder",
                    now,
                    to=tag,
                    parents=(remind_b.message_id,),
                    body="Done\n\n> quoted reminder",
                ),
                now,
            )
        await life.tick(now)

    rows = await OutboxItem.all()
    by = {(r.thread_id, r.kind): r for r in rows if r.status == "sent"}
    # Thread A: the whole ladder, each once, at the business-clock instants.
    assert by[("a1@c.test", "acknowledge")].sent_at == at(22, 15, 2)
    assert by[("a1@c.test", "remind_owner")].recipient == "ann@example.com"
    assert by[("a1@c.test", "remind_owner")].sent_at == at(
        26, 12
    )  # Thu 1h + (holiday, weekend, DST) Mon 3h
    assert by[("a1@c.test", "escalate_backup")].recipient == "bob@example.com"
    assert by[("a1@c.test", "escalate_backup")].sent_at == at(26, 16)
    assert by[("a1@c.test", "escalate_lead")].recipient == "lee@example.com"
    assert by[("a1@c.test", "escalate_lead")].sent_at == at(27, 16)
    assert by[("a1@c.test", "client_update")].recipient == "anna@c.test"
    assert by[("a1@c.test", "client_update")].sent_at == at(28, 16)

    # Thread B: answered before the reminder; the new message restarted the ladder without a
    # second acknowledgement; "done" by the owner stopped it.
    b_sent = sorted(
        (r.kind, r.sent_at) for r in rows if r.thread_id == "b1@c.test" and r.status == "sent"
    )
    assert b_sent == [("acknowledge", at(22, 15, 32)), ("remind_owner", at(27, 14))]
    b = await ThreadRecord.get(thread_id="b1@c.test")
    assert b.state == "handled" and b.done_at is not None
    answers = [r for r in rows if r.kind == "command_reply"]
    assert [(r.recipient, r.status) for r in answers] == [("ann@example.com", "sent")]
    assert answers[0].text.startswith("Done:")

    # Thread C: carl is away, so bob owns it and gets the reminder (Mon 09:00 + 4h).
    c = await ThreadRecord.get(thread_id="c1@c.test")
    assert (c.owner, c.owner_rule) == ("bob@example.com", "away-backup")
    assert by[("c1@c.test", "remind_owner")].recipient == "bob@example.com"
    assert by[("c1@c.test", "remind_owner")].sent_at == at(26, 13)

    # The SMTP server saw each of those exactly once, and nothing for the stranger.
    keys = Counter(m.message["X-Followup-Key"] for m in life.sink.messages)
    assert keys and max(keys.values()) == 1
    assert not [m for m in life.sink.messages if "eve@evil.test" in m.rcpt_tos]
    assert len(life.sent("acknowledge")) == 3 and len(life.sent("client_update")) == 2

    # Digests: one per person per local working day at most (none on the weekend).
    digests = [r for r in rows if r.kind == "digest"]
    per_day = Counter((r.recipient, r.key.rsplit(":", 1)[1]) for r in digests)
    assert max(per_day.values()) == 1
    days = {date.fromisoformat(d) for _, d in per_day}
    assert days <= {date(2026, 10, d) for d in (22, 23, 26, 27, 28, 29)}
    mon_ann = next(r for r in digests if r.key == "digest:ann@example.com:2026-10-26")
    assert mon_ann.status == "sent" and "Invoice 4411 is wrong" in mon_ann.text
    lee = [r for r in digests if r.recipient == "lee@example.com"]
    assert lee and all(r.status == "sent" and "Median first response" in r.text for r in lee)

    artifacts = os.environ.get("FOLLOWUP_ARTIFACTS")
    if artifacts:  # keep the week's store, for `followup thread show a1@c.test`
        shutil.copy(life.url.removeprefix("sqlite://"), Path(artifacts) / "week.sqlite3")

    # The timeline names the rule behind every line.
    story = await timeline("a1@c.test")
    kinds = [e.kind for e in story.entries]
    assert kinds[0] == "message" and "owner" in kinds
    assert [e.rule for e in story.entries if e.kind.startswith("mail:")] == [
        "acknowledge",
        "remind-owner",
        "escalate-backup",
        "escalate-lead",
        "client-update",
    ]
