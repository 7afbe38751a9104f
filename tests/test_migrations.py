"""Upgrading a store that already holds data: every migration applies over existing rows."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate

from assistant.store.db import store, tortoise_config
from assistant.store.models import Mailbox, OutboxItem, ThreadRecord


async def test_upgrade_from_the_first_schema_keeps_rows(store_url: str) -> None:
    config = tortoise_config(store_url)
    await migrate(config=config, target="models.0001_initial")
    db = Tortoise.get_connection(next(iter(config["connections"])))
    when = datetime(2026, 1, 1, tzinfo=UTC)
    row = {
        "name": "support",
        "address": "s@e.test",
        "imap_secret": "token",
        "team": "[]",
        "grace_seconds": 120,
        "connected_at": when,
        "created_at": when,
    }
    sqlite = db.capabilities.dialect == "sqlite"
    marks = ", ".join("?" if sqlite else f"${i}" for i in range(1, len(row) + 1))
    await db.execute_query(
        f"INSERT INTO mailbox ({', '.join(row)}) VALUES ({marks})", list(row.values())
    )
    await Tortoise.close_connections()
    async with store(store_url):
        box = await Mailbox.get(name="support")
        assert box.address == "s@e.test" and box.dry_run is False and box.rotation_at == 0
        thread = await ThreadRecord.create(
            mailbox=box,
            thread_id="t",
            state="awaiting_team",
            last_message_at=datetime(2026, 1, 2, tzinfo=UTC),
            updated_at=datetime(2026, 1, 2, tzinfo=UTC),
        )
        assert thread.assigned_to is None and thread.done_at is None
        assert await OutboxItem.filter(mailbox=box).count() == 0
