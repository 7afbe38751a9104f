"""The ``followup`` command. It only wires: parse arguments, read sources, call the core, print."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from . import __version__
from .clock import SystemClock
from .core.evaluate import evaluate
from .core.headers import parse_message
from .core.machine import classify
from .core.model import Message, Verdict
from .parallel import default_workers, parse_all
from .report import inspect_record, replay_document, replay_table, wide_console
from .settings import ConfigError, build_policy, load_config
from .sources import RawHeader, SourceError, is_maildir, iter_paths, iter_source


class LazyGroup(click.Group):
    """Loads the service commands (store, IMAP, ORM) only when one of them runs, so
    ``followup replay`` and ``inspect`` start quickly."""

    lazy: ClassVar[dict[str, str]] = {
        "mailbox": "assistant.cli_mailbox:mailbox",
        "sync": "assistant.cli_mailbox:sync",
        "secret-key": "assistant.cli_mailbox:secret_key",
        "watch": "assistant.cli_run:watch",
        "run": "assistant.cli_run:run_command",
        "worker": "assistant.cli_scale:worker",
        "migrate": "assistant.cli_scale:migrate",
        "web": "assistant.cli_scale:web",
        "people": "assistant.cli_team:people",
        "digest": "assistant.cli_team:digest",
        "thread": "assistant.cli_team:thread",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="followup")
def main() -> None:
    """Followup: acknowledge clients, own every waiting thread, escalate before it is late."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message per line.")
def inspect(paths: tuple[Path, ...], as_json: bool) -> None:
    """Say, for each message in PATHS (.eml files, folders, mbox, Maildir), whether a machine
    wrote it and which rule said so."""
    out = Console(highlight=False, soft_wrap=True)
    machine = total = 0
    try:
        for raw in iter_paths(paths):
            msg = parse_message(raw.header, raw.arrived, raw.source)
            verdict = classify(msg)
            total += 1
            machine += verdict.machine
            record = inspect_record(msg, verdict)
            if as_json:
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                label = f"[red]machine[/] {verdict.rule}" if verdict.machine else "[green]human[/]"
                out.print(f"{raw.source}\t{label}\t{verdict.detail}")
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    if not as_json:
        out.print(f"{total} messages: {machine} machine, {total - machine} human", style="bold")


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint="--now") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_messages(source: Path, show_progress: bool) -> list[tuple[Message, Verdict]]:
    total = source.stat().st_size if source.is_file() else None
    messages: list[tuple[Message, Verdict]] = []
    err = Console(stderr=True)
    columns = [TextColumn("reading {task.fields[name]}"), BarColumn()]
    if total:
        columns += [DownloadColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.completed} messages")]
    with Progress(*columns, console=err, transient=True, disable=not show_progress) as bar:
        task = bar.add_task("read", total=total, name=source.name)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        raws: Iterator[RawHeader] = iter_source(source, advance)
        # Big sources parse on every core; small ones are not worth starting processes for.
        workers = default_workers() if (total or 0) > PARALLEL_FROM_BYTES else 1
        messages.extend(parse_all(raws, workers))
    return messages


PARALLEL_FROM_BYTES = 32 << 20


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--team", "team", multiple=True, help="A team address or @domain (repeatable).")
@click.option("--now", "now_text", help="Evaluate at this ISO-8601 time (default: newest message).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML settings.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--all", "show_all", is_flag=True, help="Also list threads that wait on nobody.")
def replay(
    source: Path,
    team: tuple[str, ...],
    now_text: str | None,
    config_path: Path | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """Run every rule over SOURCE (an mbox file or a Maildir) and show, per thread, its state,
    owner, waiting time and what Followup would send at --now. Nothing is sent."""
    now = _parse_now(now_text)
    try:
        cfg = load_config(config_path)
        if not team and not cfg.mailbox.team:
            raise click.UsageError("say who the team is: --team ADDRESS or --team @domain")
        policy = build_policy(cfg, list(team))
        if not source.exists():
            raise SourceError(f"{source}: no such file or folder")
        if not (source.is_file() or is_maildir(source)):
            raise SourceError(f"{source}: neither an mbox file nor a Maildir (no cur/ or new/)")
        messages = _read_messages(source, show_progress=sys.stderr.isatty())
    except (ConfigError, SourceError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{source}: {exc.strerror or exc}") from None
    if now is None:
        now = max((m.date for m, _ in messages), default=SystemClock().now())
    verdicts = {m.message_id: v for m, v in messages}
    reports = evaluate([m for m, _ in messages], policy, now, verdicts=verdicts)
    if as_json:
        click.echo(json.dumps(replay_document(reports, now), ensure_ascii=False))
    else:
        replay_table(wide_console(), reports, now, len(messages), show_all)
