"""History or new mail: the connect-time cut-off and how UID and INTERNALDATE combine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assistant.core.cutoff import SKEW, history_cutoff, is_new_mail

CONNECTED = datetime(2026, 11, 16, 9, 0, 0, 500_000, tzinfo=UTC)


def test_the_uidnext_recorded_at_connect_holds_while_the_uidvalidity_does() -> None:
    assert history_cutoff(40, 7, uidvalidity=7, uidnext=55) == 40  # mail since connect is new
    assert history_cutoff(40, 7, uidvalidity=8, uidnext=3) == 3  # renumbered: all history
    assert history_cutoff(None, None, uidvalidity=7, uidnext=55) == 55  # never recorded


def test_both_facts_must_say_new_the_one_that_says_history_wins() -> None:
    after = CONNECTED + timedelta(seconds=1)
    assert is_new_mail(40, after, 40, CONNECTED)
    assert not is_new_mail(39, after, 40, CONNECTED)  # below the cut-off, whatever its date
    moved_back = CONNECTED - SKEW - timedelta(seconds=1)  # copied back into INBOX later
    assert not is_new_mail(41, moved_back, 40, CONNECTED)
    assert is_new_mail(41, CONNECTED - SKEW + timedelta(seconds=1), 40, CONNECTED)  # skew
    assert not is_new_mail(41, None, 40, CONNECTED)
    assert not is_new_mail(41, after, None, CONNECTED)
