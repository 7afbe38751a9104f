"""What every ``followup`` command shares: the ``--now``, ``--config`` and ``--log-level``
options, the store around a command's work, lazily loaded command groups, and the one way a
failure is said (:func:`reported`: one line, no traceback, exit status 1)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..clock import Clock, FixedClock, SystemClock
from ..core.errors import FollowupError
from ..gc_policy import tune_collector

if TYPE_CHECKING:  # the store's modules load with the commands that use them (not replay)
    from ..runtime import Runtime

T = TypeVar("T")


def reported(exc: FollowupError) -> click.ClickException:
    """The one way a command says that it failed: ``Error: <message>`` on one line, exit 1
    (anything outside the error tree is a bug and keeps its traceback)."""
    return click.ClickException(str(exc))


class LazyGroup(click.Group):
    """A command group that imports a command's module only when it runs (``followup
    replay`` starts without loading the store, IMAP and the ORM), and turns every
    :class:`~assistant.core.errors.FollowupError` into :func:`reported`'s one line."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Command name -> ``"module:attribute"``.
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        tune_collector()  # after the command's imports: they stay out of every collection
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            raise reported(exc) from None


def parse_now(value: str | None) -> datetime | None:
    """``--now`` as an aware time (UTC when no offset is given); ``None`` when not given."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 time, e.g. 2026-11-23T08:30+00:00", param_hint="--now"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _now_callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    return parse_now(value)


def now_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The one ``--now`` option: the command receives ``now`` as an aware datetime or None."""
    return click.option("--now", "now", callback=_now_callback, help=help_text)


def clock_at(now: datetime | None) -> Clock:
    """The command's clock: fixed at ``--now`` when given, else the real time."""
    return SystemClock() if now is None else FixedClock(now)


config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="TOML settings (the service commands also read FOLLOWUP_CONFIG).",
)

log_level_option = click.option("--log-level", default="INFO", show_default=True)


def run_with_store(
    config: Path | None, work: Callable[[Runtime], Awaitable[T]], clock: Clock | None = None
) -> T:
    """Build the settings once (file and environment), open the store, run ``work``, close.
    ``clock`` is the command's time (``--now``); the real time otherwise."""
    from ..runtime import Runtime

    return run_in_store(Runtime.from_env(config, clock), work)


def run_in_store(runtime: Runtime, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open ``runtime``'s store, run ``work``, close."""
    from ..store.db import store

    async def main() -> T:
        async with store(runtime.database_url):
            return await work(runtime)

    return asyncio.run(main())
