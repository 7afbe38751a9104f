"""The connection test's verdict on a server's UIDs, from two sessions' views of INBOX."""

from __future__ import annotations

from assistant.core.syncable import InboxView, sync_problems


def test_a_stable_server_with_new_mail_in_between_is_fine() -> None:
    first = InboxView(7, 11, (3, 9, 10), fetched=True)
    assert sync_problems(first, InboxView(7, 12, (3, 9, 10, 11))) == []
    assert sync_problems(InboxView(7, 1, ()), InboxView(7, 1, ())) == []  # empty INBOX


def test_a_server_that_renumbers_or_resets_is_refused_with_the_reason() -> None:
    first = InboxView(7, 11, (3, 9, 10), fetched=True)
    assert "changed UIDs" in sync_problems(first, InboxView(7, 14, (11, 12, 13)))[0]
    assert "UIDVALIDITY changed" in sync_problems(first, InboxView(8, 11, (3, 9, 10)))[0]
    assert "UIDVALIDITY and UIDNEXT" in sync_problems(InboxView(None, None, ()), first)[0]
    assert (
        "at or above its UIDNEXT" in sync_problems(InboxView(7, 5, (9,)), InboxView(7, 5, (9,)))[0]
    )
    broken = InboxView(7, 11, (3,), fetched=False)
    assert "could not be fetched" in sync_problems(broken, broken)[0]
