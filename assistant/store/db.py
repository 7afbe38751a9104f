"""Opening the store: the database URL, tortoise's config, and migrations applied at start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate

MODELS = "assistant.store.models"
MIGRATIONS = "assistant.store.migrations"


def database_url(url: str | None, data_dir: Path) -> str:
    """The URL to use: the given one, or an SQLite file in ``data_dir``."""
    if url:
        if url.startswith("postgresql://"):
            return "postgres://" + url.removeprefix("postgresql://")
        return url
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o700)  # the store holds credentials and mail headers
    # WAL (tortoise's default) with synchronous=NORMAL: durable across process crashes (what
    # exactly-once delivery relies on), one fsync per checkpoint instead of per commit.
    return f"sqlite://{data_dir / 'followup.sqlite3'}?synchronous=NORMAL"


def tortoise_config(url: str) -> dict[str, Any]:
    """The tortoise configuration for one database.

    The connection is named after its dialect: tortoise caches prepared INSERTs per
    connection name, so one process can use SQLite and PostgreSQL one after the other.
    """
    name = url.split(":", 1)[0].replace("+", "_")
    return {
        "connections": {name: url},
        "apps": {
            "models": {
                "models": [MODELS],
                "default_connection": name,
                "migrations": MIGRATIONS,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _private_sqlite(url: str) -> None:
    """Create an SQLite store readable by its owner only (0600); SQLite gives its -wal and
    -shm files the database file's mode. An existing store is tightened the same way."""
    path = url.removeprefix("sqlite://").split("?", 1)[0]
    if not path or path == ":memory:":
        return
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


async def open_store(url: str) -> None:
    """Connect and bring the schema up to date with tortoise's migrations."""
    if url.startswith("sqlite://"):
        _private_sqlite(url)
    config = tortoise_config(url)
    await migrate(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)


async def close_store() -> None:
    """Close every connection."""
    await Tortoise.close_connections()


@asynccontextmanager
async def store(url: str) -> AsyncIterator[None]:
    """``async with store(url):`` opens, migrates and closes."""
    await open_store(url)
    try:
        yield
    finally:
        await close_store()
