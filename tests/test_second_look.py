"""The send-time second look at a client's body (issue 17): robots whose headers say nothing
are recognised by the first KB of their text, in several languages, just before the
acknowledgement would go; people who merely mention those words are answered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.service.timeline import timeline
from assistant.store.models import OutboxItem
from tests.test_acknowledge import Ack, ack  # noqa: F401  (the fixture)

MULTIPART = (
    'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\n'
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n--b1--\r\n"
)


def raw(mid: str, sender: str, subject: str, text: str) -> bytes:
    head = (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        f"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{mid}>\r\nMIME-Version: 1.0\r\n"
    )
    return (head + MULTIPART.format(text=text)).encode()


ROBOTS = [
    ("ooo-en", "I am out of the office until Monday 14 December with limited access to email."),
    ("ooo-es", "Estoy fuera de la oficina hasta el lunes. Responderé a su mensaje a mi regreso."),
    ("auto-de", "Dies ist eine automatische Antwort. Ich bin ab dem 4. Januar wieder erreichbar."),
    (
        "relay",
        "This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform "
        "you that your message could not be delivered to one or more recipients.",
    ),
]


@pytest.mark.parametrize(("tag", "text"), ROBOTS)
async def test_a_robot_known_only_by_its_body_gets_no_acknowledgement(
    ack: Ack,  # noqa: F811
    tag: str,
    text: str,
) -> None:
    mid = f"{tag}@robot.test"
    ack.dovecot.append(
        ack.user.name,
        "INBOX",
        raw(mid, f"{tag}@robot.test", "Re: Order 4471", text),
        msg_time=datetime.now(UTC),
    )
    report = await ack.cycle()
    assert report.sent == 0 and ack.sink.messages == []
    (row,) = await OutboxItem.filter(kind="acknowledge", recipient=f"{tag}@robot.test")
    assert row.status == "skipped" and (row.skip_rule or "").startswith("body-")
    entries = (await timeline(mid, ack.mailbox.name)).entries
    assert any(str(row.skip_rule) in entry.text for entry in entries)  # shown with its rule


async def test_people_who_mention_those_words_are_answered(ack: Ack) -> None:  # noqa: F811
    text = (
        "Hello, I tried to reach Paul but got an automatic reply saying he is out of the "
        "office until Monday. Could someone else look at invoice 118? Thanks, Anna"
    )
    ack.dovecot.append(
        ack.user.name,
        "INBOX",
        raw("p1@c.test", "anna@c.test", "Invoice 118", text),
        msg_time=datetime.now(UTC),
    )
    report = await ack.cycle()
    assert report.sent == 1
