"""Digests against real SMTP, IMAP and both stores: once per person per day, whatever runs.

Two `followup digest send` processes started together, and processes killed by SIGKILL before
and after the SMTP server accepted a digest: every person still gets exactly one digest.
Also: the one-click unsubscribe link pauses only the person it was made for.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.service.digest import unsubscribe_page
from assistant.service.people import add_person
from assistant.settings import FollowupConfig
from assistant.signing import unsubscribe_token
from assistant.store.db import store
from assistant.store.models import Mailbox, OutboxItem, Person, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox
from tests.servers import SmtpSink

ROOT = Path(__file__).resolve().parents[1]
FOLLOWUP = str(Path(sys.executable).parent / "followup")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 09:00 London (GMT)
PEOPLE = ("ann@example.com", "bob@example.com", "lee@example.com")


@pytest.fixture
async def team(
    store_url: str, imap_user: ImapUser, smtp_sink: SmtpSink, secret_key: str
) -> AsyncIterator[str]:
    async with store(store_url):
        box = await add_test_mailbox(
            imap_user.url, smtp_url=f"smtp://{smtp_sink.host}:{smtp_sink.port}"
        )
        await add_person("lee@example.com", at=NOW, timezone="Europe/London", lead=True)
        await add_person("ann@example.com", at=NOW, timezone="Europe/London")
        await add_person("bob@example.com", at=NOW, timezone="Europe/London")
        for n, owner in enumerate(("ann@example.com", "ann@example.com", "bob@example.com")):
            await ThreadRecord.create(
                mailbox=box,
                thread_id=f"t{n}@c.test",
                subject=f"Question {n}",
                state="awaiting_team",
                waiting_since=datetime(2026, 11, 23, 10 + n, tzinfo=UTC),
                client=f"c{n}@c.test",
                last_message_at=datetime(2026, 11, 23, 10 + n, tzinfo=UTC),
                owner=owner,
                owner_rule="mailbox-default",
                updated_at=NOW,
            )
    yield store_url


def send(url: str, now: datetime, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FOLLOWUP_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("FOLLOWUP_CRASH_AT", None)
    if crash:
        env["FOLLOWUP_CRASH_AT"] = crash
    command = [FOLLOWUP, "digest", "send", "--now", now.isoformat()]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, (out + err).decode()


def digests_received(sink: SmtpSink) -> Counter[str]:
    return Counter(
        m.rcpt_tos[0] for m in sink.messages if m.message["X-Followup-Action"] == "digest"
    )


async def test_two_processes_send_each_digest_once(team: str, smtp_sink: SmtpSink) -> None:
    first, second = send(team, NOW), send(team, NOW)
    results = await asyncio.gather(
        asyncio.to_thread(finish, first), asyncio.to_thread(finish, second)
    )
    for code, output in results:
        assert code == 0, output
    assert digests_received(smtp_sink) == dict.fromkeys(PEOPLE, 1)
    code, output = await asyncio.to_thread(finish, send(team, NOW.replace(hour=15)))
    assert code == 0 and "0 planned" in output  # decided once for the day
    assert digests_received(smtp_sink) == dict.fromkeys(PEOPLE, 1)
    message = next(m.message for m in smtp_sink.messages if m.rcpt_tos == ("ann@example.com",))
    assert message["Subject"].startswith("2 waiting on you")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/digest/unsubscribe?t=" in message["List-Unsubscribe"]
    wire = next(m.data for m in smtp_sink.messages if m.rcpt_tos == ("ann@example.com",))
    found = re.search(rb"^List-Unsubscribe: (\S+)\r$", wire, re.MULTILINE)
    assert found and found.group(1).startswith(b"<http") and b"=?" not in found.group(1)
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert body.index("Question 0") < body.index("Question 1")  # most overdue first
    lead = next(m.message for m in smtp_sink.messages if m.rcpt_tos == ("lee@example.com",))
    assert "Median first response" in lead.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("point", ["before_smtp", "after_smtp"])
async def test_a_process_killed_mid_digest_loses_and_repeats_nothing(
    team: str, smtp_sink: SmtpSink, point: str
) -> None:
    code, output = await asyncio.to_thread(finish, send(team, NOW, crash=point))
    assert code == -9, output
    # Restarted later the same day (after the crashed sender's lease), twice.
    for hour in (10, 11):
        code, output = await asyncio.to_thread(finish, send(team, NOW.replace(hour=hour)))
        assert code == 0, output
    assert digests_received(smtp_sink) == dict.fromkeys(PEOPLE, 1)
    async with store(team):
        rows = await OutboxItem.filter(kind="digest")
        assert sorted(r.status for r in rows) == ["sent"] * 3


async def test_one_click_unsubscribe_pauses_only_that_person(team: str) -> None:
    async with store(team):
        token = unsubscribe_token("ann@example.com")
        status, page = await unsubscribe_page("GET", f"/digest/unsubscribe?t={token}", NOW)
        assert status.startswith("200") and "<form" in page
        assert not (await Person.get(email="ann@example.com")).digest_paused  # GET changes nothing
        forged = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
        status, _ = await unsubscribe_page("POST", f"/digest/unsubscribe?t={forged}", NOW)
        assert status.startswith("400")
        status, _ = await unsubscribe_page("POST", f"/digest/unsubscribe?t={token}", NOW)
        assert status.startswith("200")
        paused = {p.email: p.digest_paused for p in await Person.all()}
        assert paused == {
            "ann@example.com": True,
            "bob@example.com": False,
            "lee@example.com": False,
        }
        assert await Mailbox.all().count() == 1


async def test_unsubscribing_someone_known_only_from_the_settings_file(team: str) -> None:
    config = FollowupConfig.model_validate(
        {"people": [{"email": "cy@example.com", "name": "Cy", "timezone": "Europe/Paris"}]}
    )
    async with store(team):
        token = unsubscribe_token("cy@example.com")
        status, _ = await unsubscribe_page("POST", f"/digest/unsubscribe?t={token}", NOW, config)
        assert status.startswith("200")
        cy = await Person.get(email="cy@example.com")
        assert (cy.name, cy.timezone, cy.digest_paused) == ("Cy", "Europe/Paris", True)
        status, _ = await unsubscribe_page("POST", f"/digest/unsubscribe?t={token}", NOW)
        assert status.startswith("200")  # now in the store: found without the file
