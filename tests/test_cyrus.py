"""The matrix's second server: `followup run` against Cyrus IMAP 3.6 (unpacked privately).

The acknowledgement scenarios of ``test_every_client`` run here as they run on Dovecot, and
Cyrus's own quirks get theirs: an expunge-only change (Cyrus answers a CONDSTORE search that
matches nothing with ``* SEARCH (MODSEQ 1)``) is synced, never a crash loop, so a client
whose message the team archives inside the grace period is not acknowledged.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import test_every_client as every_client
from tests.conftest import ImapUser, start_server
from tests.servers import Cyrus, SmtpSink, server_dir
from tests.test_every_client import Desk, Service, acks, outbox, wait_acks
from tests.test_sync import mail


@pytest.fixture
def desk(
    cli_env: dict[str, str],
    tmp_path: Path,
    cyrus_user: ImapUser,
    cyrus: Cyrus,
    smtp_sink: SmtpSink,
) -> Iterator[Desk]:
    svc = Service(cli_env, tmp_path / "service.log")
    yield Desk(cli_env, cyrus_user, cyrus, smtp_sink, svc)  # type: ignore[arg-type]
    svc.reap()


def test_mail_between_add_and_first_run_is_new_not_history(desk: Desk) -> None:
    every_client.test_mail_between_add_and_first_run_is_new_not_history(desk)


def test_a_one_shot_sync_before_run_loses_no_acknowledgement(desk: Desk) -> None:
    every_client.test_a_one_shot_sync_before_run_loses_no_acknowledgement(desk)


def test_killed_after_storing_before_planning_the_restart_acknowledges(desk: Desk) -> None:
    every_client.test_killed_after_storing_before_planning_the_restart_acknowledges(desk)


def test_an_auto_responder_and_a_bounce_pause_only_their_addresses(desk: Desk) -> None:
    every_client.test_an_auto_responder_and_a_bounce_pause_only_their_addresses(desk)


def archive(desk: Desk, message_id: str) -> None:
    """What a teammate's mail client does: MOVE the client's message to Archive."""
    with desk.dovecot.client(desk.user.name) as imap:
        imap.select_folder("INBOX")
        uids = imap.search(["HEADER", "Message-ID", message_id])
        assert uids, message_id
        imap.move(uids, "Archive")


def test_archived_inside_the_grace_period_is_not_acknowledged(desk: Desk, tmp_path: Path) -> None:
    added = every_client.add(
        desk.env,
        desk.user.url,
        "--smtp",
        f"smtp://{desk.sink.host}:{desk.sink.port}",
        "--grace",
        "4s",
    )
    assert added.returncode == 0, added.stderr
    desk.service.start()
    desk.service.wait_caught_up()
    desk.append(mail("kept@c.test", "kim@c.test", "Where is my parcel?"))
    desk.append(mail("filed@c.test", "fay@c.test", "Thanks, all good"))
    deadline = time.monotonic() + 30
    while "filed@c.test" not in every_client.stored_ids(desk.env):
        assert time.monotonic() < deadline, desk.service.tail()
        time.sleep(0.1)
    archive(desk, "filed@c.test")  # the team files it within the grace period: an expunge
    wait_acks(desk.sink, desk.service, {"kept@c.test"}, timeout=30)
    time.sleep(1.0)  # the archived one's row was due with the other
    health = desk.service.health()
    desk.service.stop()
    assert acks(desk.sink) == Counter({"kept@c.test": 1})
    assert health["mailboxes"][0]["reconnects"] == 0  # no crash loop on Cyrus's answer
    rows = outbox(desk.env, "SELECT status FROM outbox WHERE reply_to_message_id='filed@c.test'")
    assert ("sent",) not in rows, rows


@pytest.fixture(scope="module")
def plain_cyrus() -> Iterator[Cyrus]:
    """A Cyrus without IDLE and whose folders carry no SPECIAL-USE attributes."""
    with server_dir("cyrus-plain") as path:
        server = start_server(Cyrus(path, idle=False, special_use=False).start)
        yield server
        server.stop()


def test_no_idle_no_special_use_localized_folders(
    plain_cyrus: Cyrus, cli_env: dict[str, str], tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """French folder names, no SPECIAL-USE, no IDLE: Sent is found by its (non-ASCII) name,
    one of them only; the watcher polls; a teammate's reply filed there answers its client."""
    name, password = f"plain{secrets.token_hex(3)}", secrets.token_hex(8)
    plain_cyrus.add_user(name, password)
    with plain_cyrus.client(name) as imap:  # a French mailbox: no English folder names
        for folder in ("Sent", "Archive", "Drafts", "Trash"):
            imap.delete_folder(folder)
    for folder in ("Éléments envoyés", "Archives", "Éléments envoyés/2019", "Brouillons"):
        plain_cyrus.create_folder(name, folder)
    user = ImapUser(name, password, plain_cyrus.host, plain_cyrus.port, 0)
    desk = Desk(cli_env, user, plain_cyrus, smtp_sink, Service(cli_env, tmp_path / "s.log"))  # type: ignore[arg-type]
    try:
        tested = every_client.run(cli_env, "mailbox", "test", "support")  # nothing yet
        assert tested.returncode != 0
        desk.connect()
        tested = every_client.run(cli_env, "mailbox", "test", "support").stdout
        roles = {
            " ".join(line.split()[:-1]): line.split()[-1]
            for line in tested.splitlines()
            if line.startswith("  ")
        }
        assert roles["Éléments envoyés"] == "sent" and roles["Archives"] == "archive", tested
        assert roles["Éléments envoyés/2019"] == "other" and roles["Brouillons"] == "drafts"
        assert " IDLE " not in tested  # this server offers no IDLE: the watcher polls
        desk.service.start(poll=1)
        desk.service.wait_caught_up()
        desk.append(mail("q1@c.test", "anna@c.test", "Parcel lost"))
        wait_acks(desk.sink, desk.service, {"q1@c.test"}, timeout=30)
        reply = mail(
            "r1@example.com",
            "alice@example.com",
            "Re: Parcel lost",
            to="anna@c.test",
            parents=("q1@c.test",),
        )
        plain_cyrus.append(name, "Éléments envoyés", reply)
        deadline = time.monotonic() + 30
        state = "SELECT state FROM thread WHERE thread_id='q1@c.test'"
        while outbox(desk.env, state) != [("awaiting_client",)]:
            assert time.monotonic() < deadline, desk.service.tail()
            time.sleep(0.2)
        desk.service.stop()
    finally:
        desk.service.reap()
