"""``followup worker``, ``followup migrate`` and ``followup web``: the processes of the
scale-out mode and the web page on its own. Wiring only."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import replace
from pathlib import Path

import click

from ..core.errors import StoreError
from ..logs import setup_logging
from ..runtime import Runtime
from ..store.db import store
from .common import config_option, log_level_option

log = logging.getLogger("followup.scale")


@click.command()
@log_level_option
@config_option
def worker(log_level: str, config: Path | None) -> None:
    """Run an arq worker: sync, plan, deliver and digest jobs (needs FOLLOWUP_REDIS_URL)."""
    runtime = replace(Runtime.from_env(config), log_level=log_level)
    from arq.worker import run_worker

    from workers.settings import WorkerSettings, worker_options

    options = worker_options(runtime)  # the settings reach the jobs in arq's ctx
    setup_logging(log_level)
    delay = 1.0
    while True:  # Redis restarting or away: start again with backoff rather than die
        started = time.monotonic()
        try:
            run_worker(WorkerSettings, **options)  # type: ignore[arg-type]
            return
        except KeyboardInterrupt:
            return
        except Exception as exc:
            if time.monotonic() - started > 60:
                delay = 1.0
            log.warning(
                "worker stopped, restarting", extra={"error": str(exc), "retry_in_s": delay}
            )
            time.sleep(delay)
            delay = min(30.0, delay * 2)


@click.command()
@config_option
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Keep retrying this many seconds while the database does not answer yet.",
)
def migrate(config: Path | None, wait: float) -> None:
    """Bring the store's schema up to date, then exit (run once before the other processes)."""
    runtime = Runtime.from_env(config)
    asyncio.run(_migrate(runtime.database_url, time.monotonic() + wait))
    click.echo("store is up to date")


async def _migrate(database_url: str, deadline: float) -> None:
    """Open the store (which migrates it), retrying while the database does not answer yet
    (compose starts migrate beside PostgreSQL; podman-compose ignores service_healthy)."""
    import asyncpg  # type: ignore[import-untyped]
    from tortoise import Tortoise

    not_yet = (OSError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError)
    delay = 0.5
    while True:
        try:
            async with store(database_url):
                return
        except not_yet as exc:
            await Tortoise.close_connections()
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreError(f"the database did not answer: {exc}") from None
            click.echo(f"database not ready ({exc}), retrying", err=True)
            await asyncio.sleep(min(delay, left))
            delay = min(5.0, delay * 2)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8086, show_default=True, type=int)
@log_level_option
@config_option
def web(host: str, port: int, log_level: str, config: Path | None) -> None:
    """Serve the web page (and /health, digest unsubscribe links) without syncing or sending."""
    from ..web.app import create_app
    from ..web.serve import WebServer, is_loopback

    setup_logging(log_level)
    runtime = Runtime.from_env(config)

    async def main() -> None:
        async with store(runtime.database_url):
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            app = create_app(runtime, exposed=not is_loopback(host))
            server = WebServer(app, host, port, runtime.config.web.trusted_proxies)
            await server.start()
            log.info("web page", extra={"url": f"http://{host}:{server.port}/"})
            await stop.wait()
            await server.stop()

    asyncio.run(main())
