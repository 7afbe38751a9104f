"""arq ``WorkerSettings`` for ``arq workers.WorkerSettings`` and ``followup worker``."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from assistant.logs import setup_logging
from assistant.runtime import Runtime
from assistant.store.db import close_store, open_store

from .jobs import deliver_job, digests_job, sync_mailbox_job, tick_job


def redis_settings(url: str | None = None) -> RedisSettings:
    """Where the queue lives: ``FOLLOWUP_REDIS_URL`` (or the given URL)."""
    dsn = url or os.environ.get("FOLLOWUP_REDIS_URL") or "redis://127.0.0.1:6379/0"
    settings = RedisSettings.from_dsn(dsn)
    settings.conn_retries = 30  # Redis restarting: keep trying for ~30 s, then fail loudly
    settings.conn_retry_delay = 1
    return settings


async def startup(ctx: dict[str, Any]) -> None:
    """Open the store once per worker process (migrations run here, idempotently)."""
    setup_logging(os.environ.get("FOLLOWUP_LOG_LEVEL", "INFO"))
    runtime = Runtime.from_env()
    await open_store(runtime.database_url)
    ctx["runtime"] = runtime


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the store."""
    await close_store()


def _timeout() -> float:
    return float(os.environ.get("FOLLOWUP_JOB_TIMEOUT", "300"))


class WorkerSettings:
    """The worker: jobs for the use-cases, cron for the periodic ones."""

    functions: ClassVar[list[Any]] = [
        func(sync_mailbox_job, timeout=_timeout(), max_tries=8),
        func(deliver_job, timeout=_timeout(), max_tries=8),
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(tick_job, second=set(range(0, 60, 5)), run_at_startup=True, unique=True, timeout=60),
        cron(digests_job, second={30}, unique=True, timeout=120),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    keep_result = 0  # a finished job's id is free again at once (sync:<mailbox> is reused)
    max_jobs = 20
    poll_delay = 0.1  # seconds between queue polls: arq's 0.5 s default is most of a sync's wait
    job_timeout = _timeout()
    allow_abort_jobs = False
