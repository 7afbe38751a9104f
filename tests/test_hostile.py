"""Hostile mail never stops a mailbox: ids with 8-bit bytes, NULs and UTF-8, huge headers;
a row the store refuses is quarantined with its reason and the rest goes on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.service import prepare
from assistant.service.prepare import Target, prepare_batch
from assistant.service.storing import store_batch
from assistant.store.bulk import insert_columns
from assistant.store.db import store
from assistant.store.models import Folder, Quarantine, StoredMessage
from tests.conftest import add_test_mailbox
from tests.test_cli_mailbox import run
from tests.test_every_client import Desk, acks, outbox, wait_acks
from tests.test_every_client import desk as desk  # the fixture
from tests.test_sync import mail

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

#: A display name holding another address: the SMTP library refuses what it parses out.
TWO_ADDRESSES = b'From: "Team" victim@third.example <a@evil.example>\r\nMessage-ID: <t2@h.test>\r\n'

HOSTILE = [
    TWO_ADDRESSES + b"Subject: two addresses\r\n\r\nx\r\n",
    b"From: a@h.test\r\nMessage-ID: <ab\xe9c@h.test>\r\nSubject: 8-bit id\r\n\r\nx\r\n",
    "From: b@h.test\r\nMessage-ID: <b1@h.test>\r\nIn-Reply-To: <ünï@h.test>\r\n"
    "References: <ü@h.test> <b0@h.test>\r\nSubject: UTF-8 ids\r\n\r\nx\r\n".encode(),
    b"From: c@h.test\r\nMessage-ID: <c\x001@h.test>\r\nSubject: N\x00UL\r\n\r\nx\r\n",
    b"From: d@h.test\r\nMessage-ID: <" + b"d" * 20_000 + b"@h.test>\r\n"
    b"References: " + b" ".join(b"<r%d\xff@h.test>" % i for i in range(3000)) + b"\r\n"
    b"Subject: " + b"\xfe" * 30_000 + b"\r\n\r\nx\r\n",
    b"From: =?x-unknown?q?=00?= <e@h.test>\r\nMessage-ID: <e@h.test\r\n"
    b"Date: Mon, 99 Zzz 9999 99:99:99 +9999\r\nSubject: =?utf-8?b?////?=\r\n\r\nx\r\n",
]


async def test_one_row_the_store_refuses_is_quarantined_the_others_stored(
    store_url: str, imap_user: object, secret_key: str
) -> None:
    async with store(store_url):
        box = await add_test_mailbox("imap://u:p@127.0.0.1:1")
        folder = await Folder.create(mailbox=box, name="INBOX", role="inbox")
        columns = insert_columns(StoredMessage)
        items = [
            (uid, mail(f"q{uid}@c.test", "c@c.test", f"Q {uid}"), (), NOW, None)
            for uid in (1, 2, 3)
        ]
        batch = prepare_batch(items, Target(box.id, folder.id, "INBOX", columns))
        batch.values[1][columns.index("message_id")] = None  # a row no database accepts
        stored = await store_batch(folder, batch, columns, NOW)
        assert len(stored) == 2
        uids = (
            await StoredMessage.filter(folder=folder).order_by("uid").values_list("uid", flat=True)
        )
        assert list(uids) == [1, 3]
        (bad,) = await Quarantine.all()
        assert (bad.folder, bad.uid, bad.stage) == ("INBOX", 2, "store") and bad.error
        assert (await Folder.get(id=folder.id)).last_uid == 3  # the cursor moved past it


def test_hostile_messages_never_stop_a_mailbox(desk: Desk, tmp_path: Path) -> None:
    desk.connect()
    desk.service.start()
    desk.service.wait_caught_up()
    for raw in HOSTILE * 2:
        desk.append(raw)
    clients = {f"n{i}@c.test" for i in range(10)}
    for i, mid in enumerate(sorted(clients)):
        desk.append(mail(mid, f"normal{i}@c.test", f"Normal question {i}"))
    wait_acks(desk.sink, desk.service, clients, timeout=60)
    health = desk.service.health()
    desk.service.stop()
    assert {k: v for k, v in acks(desk.sink).items() if k in clients} == Counter(
        dict.fromkeys(clients, 1)
    )
    assert health["mailboxes"][0]["reconnects"] == 0  # the watcher never fell over
    # Every hostile message is stored (or quarantined, with its reason): none is lost.
    inbox = "SELECT count(*) FROM message JOIN folder ON folder.id=folder_id WHERE role='inbox'"
    ((stored,),) = outbox(desk.env, inbox)
    ((quarantined,),) = outbox(desk.env, "SELECT count(*) FROM quarantine")
    assert stored + quarantined == 2 * len(HOSTILE) + len(clients), (stored, quarantined)
    # The acknowledgement the SMTP library refuses fails alone, with its reason.
    failed = outbox(desk.env, "SELECT recipient, skip_rule FROM outbox WHERE status='failed'")
    assert failed == [('"team" victim@third.example', "row-error")], failed
    hostile = tmp_path / "hostile.mbox"
    hostile.write_bytes(b"".join(b"From x@y Mon Nov 16 09:00:00 2026\n" + r for r in HOSTILE))
    replayed = run(desk.env, "replay", str(hostile), "--team", "@example.com", "--json")
    assert replayed.returncode == 0 and "Traceback" not in replayed.stderr, replayed.stderr
    inspected = run(desk.env, "inspect", "--json", str(hostile))
    assert inspected.returncode == 0 and len(inspected.stdout.splitlines()) == len(HOSTILE)


async def test_a_message_the_rules_cannot_read_is_quarantined_at_parse(
    store_url: str, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = prepare.stored_rule

    def fragile(msg: Any, screen: Any = None) -> Any:
        if msg.message_id == "p2@c.test":
            raise RecursionError("maximum recursion depth exceeded")
        return real(msg, screen)

    monkeypatch.setattr(prepare, "stored_rule", fragile)
    async with store(store_url):
        box = await add_test_mailbox("imap://u:p@127.0.0.1:1")
        folder = await Folder.create(mailbox=box, name="INBOX", role="inbox")
        columns = insert_columns(StoredMessage)
        items = [(u, mail(f"p{u}@c.test", "c@c.test", "Q"), (), NOW, None) for u in (1, 2, 3)]
        batch = prepare_batch(items, Target(box.id, folder.id, "INBOX", columns))
        assert batch.uids == [1, 3] and [u for u, _ in batch.quarantined] == [2]
        assert len(await store_batch(folder, batch, columns, NOW)) == 2
        (bad,) = await Quarantine.all()
        assert (bad.uid, bad.stage) == (2, "parse") and "RecursionError" in bad.error
        only_bad = prepare_batch(items[1:2], Target(box.id, folder.id, "INBOX", columns))
        await store_batch(folder, only_bad, columns, NOW)
        assert (await Folder.get(id=folder.id)).last_uid == 3
