"""``followup inspect`` and ``followup replay``: the rules over files, with no store and
nothing sent. Wiring only: read sources, call the core, print."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ..clock import SystemClock
from ..core.evaluate import MailboxPolicy, evaluate
from ..core.headers import parse_message
from ..core.machine import classify
from ..core.model import Message, Verdict
from ..parallel import default_workers, parse_all
from ..report import inspect_record, replay_document, replay_table, wide_console
from ..settings import build_policy, load_config
from ..sources import RawHeader, SourceError, is_maildir, iter_paths, iter_source
from .common import config_option, now_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message per line.")
def inspect(paths: tuple[Path, ...], as_json: bool) -> None:
    """Say, for each message in PATHS (.eml files, folders, mbox, Maildir), whether a machine
    wrote it and which rule said so."""
    out = Console(highlight=False, soft_wrap=True)
    machine = total = 0
    for raw in iter_paths(paths):  # a SourceError ends the command in one line
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
    if not as_json:
        out.print(f"{total} messages: {machine} machine, {total - machine} human", style="bold")


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


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--team", "team", multiple=True, help="A team address or @domain (repeatable).")
@now_option("Evaluate at this ISO-8601 time (default: newest message).")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--all", "show_all", is_flag=True, help="Also list threads that wait on nobody.")
def replay(
    source: Path,
    team: tuple[str, ...],
    now: datetime | None,
    config: Path | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """Run every rule over SOURCE (an mbox file or a Maildir) and show, per thread, its state,
    owner, waiting time and what Followup would send at --now. Nothing is sent."""
    policy = _policy(config, team)
    messages = _read_source(source)
    if now is None:
        now = max((m.date for m, _ in messages), default=SystemClock().now())
    verdicts = {m.message_id: v for m, v in messages}
    reports = evaluate([m for m, _ in messages], policy, now, verdicts=verdicts)
    if as_json:
        click.echo(json.dumps(replay_document(reports, now), ensure_ascii=False))
    else:
        replay_table(wide_console(), reports, now, len(messages), show_all)


def _policy(config: Path | None, team: tuple[str, ...]) -> MailboxPolicy:
    """The rules of the replay: the settings file's, with ``--team`` added."""
    cfg = load_config(config)
    if not team and not cfg.mailbox.team:
        raise click.UsageError("say who the team is: --team ADDRESS or --team @domain")
    return build_policy(cfg, list(team))


def _read_source(source: Path) -> list[tuple[Message, Verdict]]:
    """Every message of an mbox file or a Maildir, parsed and classified."""
    try:
        if not source.exists():
            raise SourceError(f"{source}: no such file or folder")
        if not (source.is_file() or is_maildir(source)):
            raise SourceError(f"{source}: neither an mbox file nor a Maildir (no cur/ or new/)")
        return _read_messages(source, show_progress=sys.stderr.isatty())
    except OSError as exc:
        raise click.ClickException(f"{source}: {exc.strerror or exc}") from None
