"""``followup worker`` and ``followup watch --workers N`` in the scale-out mode: wiring only."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

import click

from .logs import setup_logging
from .runtime import Runtime
from .store.db import store

log = logging.getLogger("followup.scale")


def require_redis(runtime: Runtime) -> str:
    """The Redis URL, or a clear error saying how to set it."""
    if not runtime.redis_url:
        raise click.ClickException(
            "the scale-out mode needs Redis: set FOLLOWUP_REDIS_URL (or [scale] redis_url), "
            "e.g. redis://127.0.0.1:6379/0; without it, `followup run` does everything in one "
            "process"
        )
    return runtime.redis_url


@click.command()
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings.")
def worker(log_level: str, config: Path | None) -> None:
    """Run an arq worker: sync, plan, deliver and digest jobs (needs FOLLOWUP_REDIS_URL)."""
    runtime = Runtime.from_env(config)
    url = require_redis(runtime)
    if config is not None:
        os.environ["FOLLOWUP_CONFIG"] = str(config)
    os.environ["FOLLOWUP_LOG_LEVEL"] = log_level
    setup_logging(log_level)
    from arq.worker import run_worker

    from workers.settings import WorkerSettings, redis_settings

    delay = 1.0
    while True:  # Redis restarting or away: start again with backoff rather than die
        started = time.monotonic()
        try:
            run_worker(WorkerSettings, redis_settings=redis_settings(url))  # type: ignore[arg-type]
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


def _watch_process(
    database_url: str, redis_url: str, lease_seconds: float, log_level: str, budget: int
) -> None:
    """One watcher process (run by multiprocessing)."""
    from arq import create_pool

    from workers.settings import redis_settings

    from .clock import SystemClock
    from .service.fleet import Fleet
    from .service.scale_watch import FleetWatcher

    setup_logging(log_level)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where is it?

    async def main() -> None:
        async with store(database_url):
            pool = await create_pool(redis_settings(redis_url))
            fleet = Fleet(pool, FleetWatcher.new_id(), lease_seconds)
            watcher = FleetWatcher(fleet, SystemClock(), budget=budget)  # the one clock
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, watcher.stop)
            log.info("watcher started", extra={"watcher": watcher.fleet.watcher_id})
            try:
                await watcher.run()
            finally:
                await pool.aclose()
            log.info("watcher stopped")

    asyncio.run(main())


def run_watchers(runtime: Runtime, processes: int, log_level: str) -> None:
    """Start ``processes`` watcher processes and wait for them (Ctrl-C stops them all)."""
    url = require_redis(runtime)
    lease = runtime.config.scale.lease_seconds
    budget = runtime.config.imap.max_connections
    args = (runtime.database_url, url, lease, log_level, budget)
    if processes == 1:
        _watch_process(*args)
        return
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_watch_process, args=args, daemon=False) for _ in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()


@click.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings.")
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
                raise click.ClickException(f"the database did not answer: {exc}") from None
            click.echo(f"database not ready ({exc}), retrying", err=True)
            await asyncio.sleep(min(delay, left))
            delay = min(5.0, delay * 2)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8086, show_default=True, type=int)
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML settings.")
def web(host: str, port: int, log_level: str, config: Path | None) -> None:
    """Serve the web page (and /health, digest unsubscribe links) without syncing or sending."""
    from .web.app import create_app
    from .web.serve import WebServer, is_loopback

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
