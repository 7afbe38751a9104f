"""The fast FETCH reader agrees with imapclient's parser, on Dovecot and on odd shapes."""

from __future__ import annotations

import imaplib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imapclient.datetime_util import parse_to_datetime

from assistant.mail import fetchparse
from assistant.mail.fetchparse import (
    Fetched,
    answers,
    from_imapclient,
    internaldate,
    read_fetch,
    sequence_set,
)
from assistant.mail.imap import HEADER_ITEM, ImapSession
from assistant.mail.urls import parse_url
from tests.conftest import ImapUser
from tests.servers import Dovecot

HEAD = b"BODY[HEADER.FIELDS (FROM SUBJECT)]"


def test_internaldate_matches_imapclient() -> None:
    for text in (
        b"23-Nov-2026 14:12:00 +0000",
        b" 1-Feb-2025 00:00:59 -0930",
        b"31-Dec-1999 23:59:59 +1400",
    ):
        expected = parse_to_datetime(text, normalise=False).astimezone(UTC)
        assert internaldate(text) == expected
    assert internaldate(b"garbage") is None
    assert internaldate(b"32-Foo-2026 14:12:00 +0000") is None


@given(st.lists(st.integers(1, 500), min_size=1, unique=True))
def test_sequence_set_covers_exactly_the_uids(uids: list[int]) -> None:
    uids.sort()
    covered: list[int] = []
    for part in sequence_set(uids).split(","):
        lo, _, hi = part.partition(":")
        covered += range(int(lo), int(hi or lo) + 1)
    assert covered == uids


def test_fast_shape_and_every_fallback_shape() -> None:
    data = [
        # the usual shape
        (
            b'1 (UID 7 FLAGS (\\Seen $Label) INTERNALDATE "23-Nov-2026 14:12:00 +0100" '
            b"MODSEQ (12) " + HEAD + b" {9}",
            b"From: a\r\n",
        ),
        b")",
        # items after the literal (trailer) are read too
        (b"2 (UID 8 " + HEAD + b" {3}", b"x\r\n"),
        b' FLAGS () INTERNALDATE "01-Jan-2026 00:00:00 +0000")',
        # a NIL header (no literal): imapclient's path
        b'3 (UID 9 FLAGS () INTERNALDATE "01-Jan-2026 00:00:00 +0000" ' + HEAD + b" NIL)",
        # an item we did not ask for: imapclient's path
        (b"4 (UID 10 RFC822.SIZE 44 " + HEAD + b" {3}", b"y\r\n"),
        b")",
        # two literals in one response: imapclient's path
        (b"5 (UID 11 " + HEAD + b" {1}", b"a"),
        (b" BODY[TEXT] {1}", b"b"),
        b")",
        # unsolicited flag change without UID: not ours
        b"6 (FLAGS (\\Deleted))",
    ]
    got = {f.uid: f for f in read_fetch(data)}
    assert sorted(got) == [7, 8, 9, 10, 11]
    assert got[7] == Fetched(
        7,
        b"From: a\r\n",
        ("\\Seen", "$Label"),
        datetime(2026, 11, 23, 13, 12, tzinfo=UTC),
        12,
    )
    assert got[8].header == b"x\r\n" and got[8].flags == ()
    assert got[8].internaldate == datetime(2026, 1, 1, tzinfo=UTC)
    assert got[9].header == b"" and got[10].header == b"y\r\n" and got[11].header == b"a"


def test_an_unsolicited_flag_change_never_replaces_the_fetched_header() -> None:
    data = [
        b"1 (FLAGS (\\Seen) UID 7)",  # another client's flag change, before our answer
        (b"1 (UID 7 FLAGS () " + HEAD + b" {9}", b"From: a\r\n"),
        b")",
        (b"2 (UID 8 FLAGS () " + HEAD + b" {9}", b"From: b\r\n"),
        b")",
        b"2 (FLAGS (\\Flagged) UID 8)",  # ... and after it
        b"3 (FLAGS () UID 9)",  # a message whose answer has no header fields at all
        b"4 (FLAGS (\\Seen) UID 99)",  # not asked for
    ]
    got = answers(read_fetch(data), {7, 8, 9})
    assert sorted(got) == [7, 8, 9]
    assert got[7].header == b"From: a\r\n" and got[8].header == b"From: b\r\n"
    assert got[9].header == b""


@pytest.fixture
def session(dovecot: Dovecot, imap_user: ImapUser) -> ImapSession:
    messages = [
        b"From: a@c.test\r\nSubject: plain\r\nMessage-ID: <1@c>\r\n\r\nbody\r\n",
        b"X-Other: only\r\n\r\nno fetched header at all\r\n",
        "From: Zoë <z@c.test>\r\nSubject: Grüße\r\n\r\n8-bit\r\n".encode(),
        b'Subject: a "quoted" (paren) {5}\r\n literal-like\r\n\r\nbody\r\n',
        b"From: b@c.test\r\n"
        + b"References: "
        + b" ".join(f"<r{i}@c.test>".encode() for i in range(2000))
        + b"\r\n\r\nlong header\r\n",
    ]
    zone = timezone(timedelta(hours=-7))
    for n, raw in enumerate(messages):
        dovecot.append(
            imap_user.name,
            "INBOX",
            raw,
            flags=("\\Seen", "$Custom") if n % 2 else (),
            msg_time=datetime(2026, 3, 29, 1, 30 + n, tzinfo=zone),
        )
    session = ImapSession(parse_url(imap_user.url, "imap"))
    session.select("INBOX")
    return session


def test_fast_fetch_equals_imapclient_fetch_on_dovecot(
    session: ImapSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fallback(parts: object) -> None:
        raise AssertionError(f"Dovecot's usual answer took the slow path: {parts!r}")

    try:
        uids = session.all_uids()
        with monkeypatch.context() as patch:
            patch.setattr(fetchparse, "_slow", no_fallback)
            fast = list(session.fetch_headers(uids))
        items = ["UID", "FLAGS", "INTERNALDATE", HEADER_ITEM, "MODSEQ"]
        slow = [from_imapclient(u, d) for u, d in sorted(session.client.fetch(uids, items).items())]
        assert len(fast) == 5
        assert fast == slow
        # A sub-range with a gap asks only for what was asked.
        assert [f.uid for f in session.fetch_headers([uids[0], uids[2], uids[3]])] == [
            uids[0],
            uids[2],
            uids[3],
        ]
    finally:
        session.close()


def test_raw_fetch_keeps_imaplib_state_and_errors(
    session: ImapSession, dovecot: Dovecot, imap_user: ImapUser
) -> None:
    """The lean reader leaves the connection as imaplib would: other untagged responses
    stored, the command's tag retired, a failed command raised, a dead connection aborted."""
    imap = session.client._imap
    try:
        uids = session.all_uids()
        # New mail while selected: Dovecot announces it (EXISTS) during the next command.
        dovecot.append(imap_user.name, "INBOX", b"From: late@c.test\r\n\r\nlate\r\n")
        data = fetchparse.uid_fetch(imap, sequence_set(uids), f"(UID {HEADER_ITEM})")
        assert [f.uid for f in read_fetch(data)] == uids
        assert imap.untagged_responses["EXISTS"][-1] == b"6"
        assert not imap.tagged_commands
        with pytest.raises(imaplib.IMAP4.error, match="UID FETCH failed"):
            fetchparse.uid_fetch(imap, "1", "(NOSUCHITEM)")
        assert session.all_uids()[-1] > uids[-1]  # still usable after a refused command
        dovecot.kill_connections(imap_user.name)
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            fetchparse.uid_fetch(imap, sequence_set(uids), f"(UID {HEADER_ITEM})")
    finally:
        session.close()


def test_search_answers_of_every_shape() -> None:
    from assistant.mail.search import search_uids

    assert search_uids([b"(MODSEQ 1)"]) == []  # Cyrus, nothing matched
    assert search_uids([b"4 2 9 (MODSEQ 77)"]) == [2, 4, 9]
    assert search_uids([b"3 1", b"2"]) == [1, 2, 3]  # split over several lines
    assert search_uids([None, b"", b"x 5"]) == [5]
