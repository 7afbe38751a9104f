"""Header blocks parsed in worker processes give exactly the rows parsed inline."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.mail.fetchparse import Fetched
from assistant.runtime import Environment
from assistant.service import prepare
from assistant.service.prepare import Preparer, Target, default_workers, prepare_batch
from assistant.store.bulk import insert_columns
from assistant.store.db import store
from assistant.store.models import StoredMessage

HEADERS = [
    b"From: Anna <anna@c.test>\r\nTo: support@example.com\r\nSubject: Wrong VAT\r\n"
    b"Date: Mon, 16 Nov 2026 09:00:00 +0000\r\nMessage-ID: <q1@c.test>\r\n\r\n",
    "From: Zoë <zoe@c.test>\r\nSubject: Grüße aus Köln\r\nDate: garbage\r\n\r\n".encode(),
    b"Subject: no from, no id, no date\r\n\r\n",
    b"From: MAILER-DAEMON@mx.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Auto-Submitted: auto-replied\r\nMessage-ID: <b1@mx.test>\r\n\r\n",
    b"From: b@c.test\r\nReferences: "
    + b" ".join(f"<r{i}@c.test>".encode() for i in range(300))
    + b"\r\nIn-Reply-To: <r299@c.test>\r\nMessage-ID: <long@c.test>\r\n\r\n",
    b"\xff\xfe broken \x00 header without colon\r\n\r\n",
]


def fetched() -> list[Fetched]:
    when = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    return [
        Fetched(uid=10 + n, header=h, flags=("\\Seen",) * (n % 2), internaldate=when, modseq=n)
        for n, h in enumerate(HEADERS)
    ]


async def test_pooled_rows_equal_inline_rows_and_a_dead_worker_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with store(f"sqlite://{tmp_path / 'f.sqlite3'}"):
        target = Target(1, 2, "INBOX", insert_columns(StoredMessage))
        items = fetched()
        inline = prepare_batch(
            [(f.uid, f.header, f.flags, f.internaldate, f.modseq) for f in items], target
        )
        assert inline.uids == [f.uid for f in items]
        # References rows name their message by folder and UID (the parser keeps 50 ids).
        assert len(inline.refs) == 50 and inline.refs[0] == [1, "r0@c.test", 2, 14]
        preparer = Preparer(workers=1)
        try:
            preparer.start()
            assert preparer._ready is not None
            await asyncio.wrap_future(preparer._ready)  # the worker is up: use it
            assert await preparer.prepare(items, target, pooled=True) == inline
            assert (preparer.pooled_batches, preparer.inline_batches) == (1, 0)
            assert preparer._pool is not None
            for pid in list(preparer._pool._processes):  # a worker killed (OOM, kill -9)
                os.kill(pid, signal.SIGKILL)
            with caplog.at_level(logging.WARNING):
                assert await preparer.prepare(items, target, pooled=True) == inline
            assert "parsing in this process" in caplog.text
            assert not preparer.wants_pool(100_000)  # the rest is prepared here
        finally:
            preparer.close()


def test_workers_follow_the_setting_and_the_cores(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def preparer() -> Preparer:  # as the entry points pass the setting down
        return Preparer(workers=Environment.read().sync_workers)

    monkeypatch.setenv("FOLLOWUP_SYNC_WORKERS", "3")
    assert preparer().workers == 3
    monkeypatch.setenv("FOLLOWUP_SYNC_WORKERS", "0")
    assert preparer().workers == 0 and not preparer().wants_pool(10**6)
    monkeypatch.setenv("FOLLOWUP_SYNC_WORKERS", "many")
    with caplog.at_level(logging.WARNING):
        assert preparer().workers == 0  # a bad value parses inline (and says so in the log)
    assert "FOLLOWUP_SYNC_WORKERS='many' is not a number" in caplog.text
    monkeypatch.delenv("FOLLOWUP_SYNC_WORKERS")
    cores = max(0, len(os.sched_getaffinity(0)) - 1)
    assert preparer().workers == default_workers() == cores == Preparer().workers
    assert Preparer(workers=1).wants_pool(prepare.POOL_MIN)
    assert not Preparer(workers=1).wants_pool(prepare.POOL_MIN - 1)


async def test_concurrent_syncs_share_one_pool_stopped_by_the_last(tmp_path: Path) -> None:
    async with store(f"sqlite://{tmp_path / 'f.sqlite3'}"):
        target = Target(1, 2, "INBOX", insert_columns(StoredMessage))
        first, second = Preparer(workers=1), Preparer(workers=1)
        try:
            first.start()
            second.start()
            assert first._pool is second._pool is not None  # one set of workers for both
            pool = first._pool
            assert first._ready is not None
            await asyncio.wrap_future(first._ready)
            first.close()
            assert await second.prepare(fetched(), target, pooled=True) == prepare_batch(
                [(f.uid, f.header, f.flags, f.internaldate, f.modseq) for f in fetched()], target
            )
            assert second.pooled_batches == 1  # still running for the sync that holds it
            second.close()
            with pytest.raises(RuntimeError, match="shutdown"):
                pool.submit(prepare_batch, [], target)  # stopped with the last sync
            third = Preparer(workers=1)
            third.start()
            assert third._pool is not None and third._pool is not pool  # a fresh one
            third.close()
        finally:
            first.close()
            second.close()


async def test_workers_that_cannot_start_mean_parsing_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(prepare.ProcessPoolExecutor, "submit", no_memory)
    async with store(f"sqlite://{tmp_path / 'f.sqlite3'}"):
        target = Target(1, 2, "INBOX", insert_columns(StoredMessage))
        preparer = Preparer(workers=1)
        with caplog.at_level(logging.WARNING):
            rows = await preparer.prepare(fetched(), target, pooled=True)
        assert "Cannot allocate memory" in caplog.text and "parsing inline" in caplog.text
        assert rows.uids == [f.uid for f in fetched()] and preparer.inline_batches == 1
        assert not preparer.running and not preparer.wants_pool(100_000)
