"""A replay and the service agree: the sample mailbox replayed (as ``followup replay`` reads
it) and synced from a real Dovecot into the store give every thread the same state and owner.

One client's question is filed in the archive before the first sync: the service sees that
thread handled, and so does the replay told it was archived. A handled thread waits on
nobody, so it gets no owner and does not move the round-robin on: the threads after it get
the same people in both.
"""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from assistant.clock import SystemClock
from assistant.core.evaluate import MailboxPolicy, evaluate
from assistant.core.state import History
from assistant.parallel import parse_all
from assistant.service.pipeline import sync_and_evaluate
from assistant.settings import load_config
from assistant.sources import iter_source
from assistant.store.db import store
from assistant.store.models import Mailbox, ThreadRecord
from tests.conftest import ImapUser, add_test_mailbox, test_policy
from tests.servers import Dovecot

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "support.mbox"
CONFIG = ROOT / "config" / "followup.example.toml"
#: Carla's question, filed by the team without an answer.
ARCHIVED = "c1@client-c.test"


@pytest.fixture
async def synced(
    tmp_path: Path, imap_user: ImapUser, dovecot: Dovecot, secret_key: str
) -> AsyncIterator[tuple[Mailbox, MailboxPolicy]]:
    """The sample mailbox in Dovecot (one question in Archive, the rest in INBOX), synced once
    into a fresh store under the example configuration."""
    async with store(f"sqlite://{tmp_path / 'agree.sqlite3'}"):
        box = await add_test_mailbox(imap_user.url)
        policy = test_policy(box, load_config(CONFIG))
        for raw in re.split(rb"(?m)^From .*\n", SAMPLE.read_bytes())[1:]:
            msg = email.message_from_bytes(raw)
            folder = "Archive" if msg["Message-ID"] == f"<{ARCHIVED}>" else "INBOX"
            when = parsedate_to_datetime(msg["Date"])
            dovecot.append(imap_user.name, folder, raw, msg_time=when)
        await sync_and_evaluate(box, policy, clock=SystemClock())
        yield box, policy


def replayed(policy: MailboxPolicy) -> dict[str, tuple[str, str | None]]:
    """State and owner of each thread as ``followup replay`` computes them."""
    parsed = list(parse_all(iter_source(SAMPLE)))
    messages = [m for m, _ in parsed]
    now = max(m.date for m in messages)
    histories = {ARCHIVED: History(archived=True)}
    verdicts = {m.message_id: v for m, v in parsed}
    reports = evaluate(messages, policy, now, histories, verdicts)
    return {r.thread.id: (str(r.state.state), r.assignment.owner) for r in reports}


async def test_replay_and_service_give_each_thread_the_same_state_and_owner(
    synced: tuple[Mailbox, MailboxPolicy],
) -> None:
    box, policy = synced
    records = await ThreadRecord.filter(mailbox=box)
    service = {r.thread_id: (r.state, r.owner) for r in records}
    assert service == replayed(policy)
    archived = next(r for r in records if r.thread_id == ARCHIVED)
    assert (archived.state, archived.reason, archived.owner) == ("handled", "archived", None)
    # The rotation skipped the handled thread: Dev and Gus get its first two people.
    assert service["d1@client-d.test"] == ("awaiting_team", "alice@example.com")
    assert service["h1@client-g.test"] == ("awaiting_team", "sam@example.com")
    assert service["b1@client-b.test"] == ("awaiting_team", "sam@example.com")  # by domain
