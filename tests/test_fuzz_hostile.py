"""Fuzz: 1,000 generated hostile messages among 100 real clients, into `followup run` (a
subprocess, real Dovecot and SMTP sink). Every client is acknowledged exactly once, the
service never stops, and every hostile message is either stored or quarantined."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.hostile_mail import messages
from tests.test_every_client import Desk, acks, outbox
from tests.test_every_client import desk as desk  # the fixture
from tests.test_sync import mail

SEED = 20261206
HOSTILE, CLIENTS = 1000, 100


def test_a_thousand_hostile_messages_never_stop_a_mailbox(desk: Desk, tmp_path: Path) -> None:
    settings = tmp_path / "followup.toml"
    settings.write_text("[guards]\nmax_per_minute = 100000\n")  # the throttle is not tested here
    desk.connect()
    desk.service.start(FOLLOWUP_CONFIG=str(settings))
    desk.service.wait_caught_up()
    hostile = messages(SEED, HOSTILE)
    clients = [f"n{i}@normal.test" for i in range(CLIENTS)]
    batch: list[bytes] = []
    with desk.dovecot.client(desk.user.name) as imap:
        for i, raw in enumerate(hostile):
            batch.append(raw)
            if i % 10 == 9:  # a real client every ten hostile messages
                n = i // 10
                batch.append(mail(clients[n], f"client{n}@c{n % 13}.test", f"Order {n} late"))
            if len(batch) >= 55:
                imap.multiappend("INBOX", batch)
                batch = []
        if batch:
            imap.multiappend("INBOX", batch)
        imap.select_folder("INBOX", readonly=True)
        inbox_uids = set(imap.search(["ALL"]))
    assert len(inbox_uids) == HOSTILE + CLIENTS
    appended = time.monotonic()
    answered: Counter[str] = Counter()
    seen = 0
    while time.monotonic() - appended < 240 and not set(clients) <= set(answered):
        new = desk.sink.messages[seen:]  # parse each delivery once: there are a thousand
        seen += len(new)
        answered.update(str(m.message["In-Reply-To"]).strip("<>") for m in new)
        time.sleep(0.5)
    assert set(clients) <= set(answered), desk.service.tail()
    print(
        f"\nfuzz: every client acknowledged {time.monotonic() - appended:.1f} s after the APPENDs"
    )
    health = desk.service.health()
    assert health["mailboxes"][0]["paused"] is False
    time.sleep(2)  # anything still in flight would show as a second acknowledgement
    received = acks(desk.sink)
    desk.service.stop()  # exits 0: it never died
    assert {c: received[c] for c in clients} == Counter(dict.fromkeys(clients, 1))
    sent = Counter(str(m.message["Message-ID"]) for m in desk.sink.messages)
    assert max(sent.values()) == 1  # no mail, to anyone, went out twice
    stored = {
        u
        for (u,) in outbox(
            desk.env,
            "SELECT m.uid FROM message m JOIN folder f ON m.folder_id=f.id WHERE f.role='inbox'",
        )
    }
    quarantined = {u for (u,) in outbox(desk.env, "SELECT uid FROM quarantine")}
    assert inbox_uids <= stored | quarantined, sorted(inbox_uids - stored - quarantined)[:20]
    reasons = outbox(desk.env, "SELECT stage, count(*) FROM quarantine GROUP BY stage")
    print(f"\nfuzz: {len(stored)} stored, {len(quarantined)} quarantined {dict(reasons)}")
