"""Bulk inserts and reads write and read what the ORM would, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from assistant.store.bulk import insert_rows, select_rows
from assistant.store.db import store
from assistant.store.models import Folder, Mailbox, StoredMessage

WHEN = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))


async def test_rows_round_trip_like_the_orm(store_url: str) -> None:
    async with store(store_url):
        box = await Mailbox.create(
            name="m", address="s@e.test", imap_secret="x", connected_at=WHEN, created_at=WHEN
        )
        folder = await Folder.create(mailbox=box, name="INBOX")
        row = {
            "mailbox_id": box.id,
            "folder_id": folder.id,
            "uid": 7,
            "message_id": "a@b",
            "synthetic_id": True,
            "references": ["r1@b", "r2@b"],
            "to": [["x@y.test", "Zoë"]],
            "headers": {"list-id": "<l.example>"},
            "date": WHEN,
            "date_source": "header",
            "subject": "Grüße",
            "sender": None,
        }
        await insert_rows(StoredMessage, [row])
        await insert_rows(StoredMessage, [row], ignore_conflicts=True)  # same (folder, uid)
        orm = await StoredMessage.get(folder=folder, uid=7)
        assert orm.references == ["r1@b", "r2@b"] and orm.to == [["x@y.test", "Zoë"]]
        assert orm.headers == {"list-id": "<l.example>"} and orm.synthetic_id is True
        assert orm.date == WHEN and orm.subject == "Grüße" and orm.sender is None
        assert orm.in_reply_to == [] and orm.flags == []  # defaults filled by the ORM default

        columns = ("id", "references", "to", "date", "synthetic_id", "sender")
        (values,) = await select_rows(StoredMessage, columns, "mailbox_id=? AND uid>?", [box.id, 6])
        read = dict(zip(columns, values, strict=True))
        assert read == {
            "id": orm.id,
            "references": ["r1@b", "r2@b"],
            "to": [["x@y.test", "Zoë"]],
            "date": WHEN,
            "synthetic_id": True,
            "sender": None,
        }
        assert read["date"].utcoffset() is not None and read["date"].astimezone(UTC) == WHEN

        with pytest.raises(ValueError, match="at most 512"):
            await insert_rows(StoredMessage, [{**row, "uid": 8, "message_id": "x" * 600}])
        with pytest.raises(ValueError, match="unknown or generated"):
            await insert_rows(StoredMessage, [{**row, "uid": 9, "nonsense": 1}])
