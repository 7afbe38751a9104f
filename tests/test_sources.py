"""Streaming header-only readers for mbox files and Maildirs."""

from __future__ import annotations

import mailbox
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.core.headers import parse_message
from assistant.sources import SourceError, iter_mbox, iter_paths, iter_source


def write_mbox(path: Path, messages: list[bytes], newline: bytes = b"\n") -> None:
    with open(path, "wb") as fh:
        for i, data in enumerate(messages):
            fh.write(b"From sender@test Mon Nov 16 09:%02d:00 2026" % i + newline)
            fh.write(data.replace(b"\n", newline))
            fh.write(newline)


def message(i: int, body: bytes = b"Hello.\n") -> bytes:
    return b"From: c%d@client.test\nSubject: message %d\nMessage-ID: <m%d@x>\n\n" % (i, i, i) + body


def test_mbox_is_split_into_header_blocks(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    write_mbox(path, [message(i) for i in range(5)])
    raws = list(iter_mbox(path))
    assert [parse_message(r.header).message_id for r in raws] == [f"m{i}@x" for i in range(5)]
    assert raws[2].arrived == datetime(2026, 11, 16, 9, 2, tzinfo=UTC)
    assert all(b"Hello" not in r.header for r in raws)


def test_escaped_from_lines_in_bodies_do_not_split(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    body = b"line\n>From the archive, quoted\nFrom-header-lookalike\n"
    write_mbox(path, [message(0, body), message(1)])
    assert len(list(iter_mbox(path))) == 2


def test_crlf_mbox(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    write_mbox(path, [message(i) for i in range(3)], newline=b"\r\n")
    assert [parse_message(r.header).subject for r in iter_mbox(path)] == [
        "message 0",
        "message 1",
        "message 2",
    ]


def test_large_attachment_bodies_are_skipped_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    big = (b"QUJDREVGR0g=" * 100 + b"\n") * 4000  # ~4.8 MB of base64 per message
    write_mbox(path, [message(0, big), message(1, big), message(2)])
    raws = list(iter_mbox(path))
    assert [parse_message(r.header).message_id for r in raws] == ["m0@x", "m1@x", "m2@x"]
    assert max(len(r.header) for r in raws) < 200


def test_agrees_with_the_standard_library_mailbox_module(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    box = mailbox.mbox(path)
    for i in range(20):
        box.add(message(i, b"From here on, a body line that mailbox escapes.\n" * i))
    box.close()
    ours = [parse_message(r.header).message_id for r in iter_mbox(path)]
    reader = mailbox.mbox(path)
    theirs = [m["Message-ID"].strip("<>") for m in reader]
    reader.close()
    assert ours == theirs


def test_maildir_reads_cur_and_new_with_arrival_time(tmp_path: Path) -> None:
    md = mailbox.Maildir(tmp_path / "md")
    for i in range(3):
        md.add(message(i))
    os.rename(
        next((tmp_path / "md" / "new").iterdir()), tmp_path / "md" / "cur" / "1700000000.x:2,S"
    )
    raws = list(iter_source(tmp_path / "md"))
    assert len(raws) == 3
    assert any(r.arrived == datetime.fromtimestamp(1700000000, UTC) for r in raws)


def test_not_an_mbox_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(SourceError, match="not an mbox"):
        list(iter_source(junk))
    with pytest.raises(SourceError, match="no such file"):
        list(iter_source(tmp_path / "missing"))
    with pytest.raises(SourceError, match="neither"):
        list(iter_source(tmp_path))


def test_inspect_paths_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(message(1))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.eml").write_bytes(message(2))
    assert len(list(iter_paths([tmp_path]))) == 2


def test_header_running_into_the_next_message_is_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    path.write_bytes(
        b"From a Mon Nov 16 09:00:00 2026\nSubject: one\nMessage-ID: <1@x>\n"
        b"From b Mon Nov 16 09:01:00 2026\nSubject: two\nMessage-ID: <2@x>\n\nbody\n"
    )
    assert [parse_message(r.header).subject for r in iter_mbox(path)] == ["one", "two"]


def test_empty_header_block_does_not_read_the_body_as_headers(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    path.write_bytes(
        b"From a Mon Nov 16 09:00:00 2026\n\nSubject: not a header\n\n"
        b"From b Mon Nov 16 09:01:00 2026\nSubject: two\n\nbody\n"
    )
    raws = list(iter_mbox(path))
    assert [r.header for r in raws] == [b"", b"Subject: two\n"]


def test_crlf_header_blocks_end_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    write_mbox(path, [message(0)], newline=b"\r\n")
    (raw,) = iter_mbox(path)
    assert raw.header.endswith(b"\r\n") and not raw.header.endswith(b"\r\n\r\n")


def test_one_message_after_an_mbox_from_line_keeps_its_path(tmp_path: Path) -> None:
    """A .eml saved by a client that writes an mbox "From " line first is one message: it is
    reported by the path as given (not "path#0"); a real mbox still gets "#N" per message."""
    one = tmp_path / "bounce.eml"
    one.write_bytes(
        b"From MAILER-DAEMON Mon Nov 16 09:00:00 2026\nFrom: MAILER-DAEMON@mx.test\n"
        b"Subject: Undelivered Mail Returned to Sender\n\nbody\n"
    )
    (only,) = list(iter_paths([one]))
    assert only.source == str(one)
    two = tmp_path / "two.mbox"
    two.write_bytes(one.read_bytes() + b"\n" + one.read_bytes())
    assert [m.source for m in iter_paths([two])] == [f"{two}#0", f"{two}#1"]
