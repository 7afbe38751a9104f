"""Whom we answer, end to end (real Dovecot and SMTP sink): the envelope sender, never a
forged From; nothing to a message the mailbox's server says failed DMARC; no silence bought
with a forged team reply."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from assistant.settings import AuthenticationConfig, FollowupConfig
from assistant.store.db import store
from assistant.store.models import OutboxItem, StoredMessage, ThreadRecord
from tests.conftest import ImapUser
from tests.servers import Dovecot, SmtpSink
from tests.test_acknowledge import Ack, make_env

SERVER = "mx.support.test"


@pytest.fixture
async def desk(
    store_url: str, imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink, secret_key: str
) -> AsyncIterator[Ack]:
    config = FollowupConfig(authentication=AuthenticationConfig(servers=[SERVER]))
    async with store(store_url):
        yield await make_env(store_url, imap_user, dovecot, smtp_sink, config=config)


def results(text: str) -> str:
    return f"Authentication-Results: {SERVER}; {text}"


async def test_a_forged_from_is_answered_at_the_envelope_sender_only(desk: Ack) -> None:
    desk.client_mail(
        "relay@evil.test",
        "Team <victim@third.example>",
        "Your invoice: see https://evil.test/pay",
        extra="Return-Path: <attacker@evil.test>\r\n" + results("spf=pass smtp.mailfrom=evil.test"),
    )
    desk.client_mail(
        "anna@client.test",
        "anna@client.test",
        "Question",
        extra="Return-Path: <bounces+1@mail.client.test>",
    )
    await desk.cycle()
    assert sorted(m.rcpt_tos for m in desk.sink.messages) == [
        ("anna@client.test",),  # an aligned bounce address is not whom we answer
        ("attacker@evil.test",),  # RFC 3834 §4: the envelope sender, never the third party
    ]


async def test_no_acknowledgement_when_the_server_says_dmarc_failed(desk: Ack) -> None:
    desk.client_mail(
        "spoof@third.example",
        "ceo@third.example",
        "Urgent transfer",
        extra=results("spf=fail smtp.mailfrom=evil.test; dmarc=fail header.from=third.example"),
    )
    desk.client_mail("real@client.test", "rita@client.test", "A real question")
    await desk.cycle()
    assert [m.rcpt_tos for m in desk.sink.messages] == [("rita@client.test",)]
    row = await OutboxItem.get_or_none(
        kind="acknowledge", reply_to_message_id="spoof@third.example"
    )
    assert row is None  # not planned at all: the ladder skipped it by name
    # Still shown to the team as waiting: a misconfigured client is still a client.
    assert (await ThreadRecord.get(thread_id="spoof@third.example")).state == "awaiting_team"


async def test_a_forged_team_reply_does_not_silence_the_thread(desk: Ack) -> None:
    desk.client_mail("q1@client.test", "anna@client.test", "Parcel 55 lost")
    forged = "spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail header.from=example.com"
    desk.client_mail(
        "forged@evil.test",
        "alice@example.com",
        "Re: Parcel 55 lost",
        to="anna@client.test",
        extra=results(forged),
    )
    genuine = "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"
    desk.client_mail("q2@client.test", "bob@client.test", "Refund?")
    desk.client_mail(
        "real-reply@example.com",
        "alice@example.com",
        "Re: Refund?",
        to="bob@client.test",
        parents=("q2@client.test",),
        extra=results(genuine),
    )
    await desk.cycle()
    forged_row = await StoredMessage.get(message_id="forged@evil.test")
    assert forged_row.machine_rule == "unverified-team-sender"
    assert (await ThreadRecord.get(thread_id="q1@client.test")).state == "awaiting_team"
    assert (await ThreadRecord.get(thread_id="q2@client.test")).state == "awaiting_client"
    assert [m.rcpt_tos for m in desk.sink.messages] == [("anna@client.test",)]
