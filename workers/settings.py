"""arq ``WorkerSettings`` for ``arq workers.WorkerSettings`` and ``followup worker``.

``followup worker`` builds the settings once (:class:`~assistant.runtime.Runtime`) and hands
them to arq through :func:`worker_options` (the runtime rides in arq's ``ctx``); ``arq
workers.WorkerSettings`` has no command line, so its startup builds them from the
environment instead.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from assistant.core.errors import FollowupError
from assistant.gc_policy import tune_collector
from assistant.logs import setup_logging
from assistant.runtime import Environment, Runtime
from assistant.settings import load_config
from assistant.store.db import close_store, open_store

from .jobs import deliver_job, digests_job, sync_mailbox_job, tick_job

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_settings(url: str | None = None) -> RedisSettings:
    """Where the queue lives: ``url``, else the local default."""
    settings = RedisSettings.from_dsn(url or DEFAULT_REDIS)
    settings.conn_retries = 30  # Redis restarting: keep trying for ~30 s, then fail loudly
    settings.conn_retry_delay = 1
    return settings


async def startup(ctx: dict[str, Any]) -> None:
    """Open the store once per worker process (migrations run here, idempotently). The
    settings come in ``ctx`` from ``followup worker``, else from the environment; a
    configuration that cannot be used ends the worker with one line, not a traceback."""
    runtime = ctx.get("runtime")
    if not isinstance(runtime, Runtime):
        try:
            runtime = Runtime.from_env()
        except FollowupError as exc:
            logging.getLogger("followup.worker").error("cannot start: %s", exc)
            raise SystemExit(1) from None
        setup_logging(runtime.log_level)
    await open_store(runtime.database_url)
    ctx["runtime"] = runtime
    tune_collector()  # everything is imported and open: keep it out of every collection


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the store."""
    await close_store()


def _functions(timeout: float) -> list[Any]:
    return [
        func(sync_mailbox_job, timeout=timeout, max_tries=8),
        func(deliver_job, timeout=timeout, max_tries=8),
    ]


def worker_options(runtime: Runtime) -> dict[str, Any]:
    """What ``followup worker`` passes to ``arq.run_worker`` over :class:`WorkerSettings`:
    the queue, the job timeout and the settings themselves (in every job's ``ctx``)."""
    return {
        "functions": _functions(runtime.job_timeout),
        "job_timeout": runtime.job_timeout,
        "redis_settings": redis_settings(runtime.queue_url()),
        "ctx": {"runtime": runtime},
    }


_START = Environment.read()  # `arq workers.WorkerSettings`: no command line, the environment


def _plain_timeout(start: Environment) -> float:
    """The job timeout of a plain ``arq workers.WorkerSettings``, as ``followup worker``
    reads it: the variable, else the settings file's ``[scale] job_timeout``. A file that
    cannot be read is reported by :func:`startup` (one line), so the default stands here."""
    if start.job_timeout is not None:
        return start.job_timeout
    try:
        return load_config(start.config_path).scale.job_timeout
    except FollowupError:
        return 300.0


_TIMEOUT = _plain_timeout(_START)


class WorkerSettings:
    """The worker: jobs for the use-cases, cron for the periodic ones."""

    functions: ClassVar[list[Any]] = _functions(_TIMEOUT)
    cron_jobs: ClassVar[list[Any]] = [
        cron(tick_job, second=set(range(0, 60, 5)), run_at_startup=True, unique=True, timeout=60),
        cron(digests_job, second={30}, unique=True, timeout=120),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(_START.redis_url)
    keep_result = 0  # a finished job's id is free again at once (sync:<mailbox> is reused)
    max_jobs = 20
    poll_delay = 0.1  # seconds between queue polls: arq's 0.5 s default is most of a sync's wait
    job_timeout = _TIMEOUT
    allow_abort_jobs = False
