"""How reports look: JSON records and rich tables for ``inspect`` and ``replay``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from .core.evaluate import ThreadReport
from .core.ladder import Action
from .core.model import Message, Verdict
from .core.state import State


def wide_console(stderr: bool = False) -> Console:
    """A console; when writing to a file or pipe, wide enough not to fold table cells."""
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal:
        console = Console(highlight=False, stderr=stderr, width=160)
    return console


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def inspect_record(msg: Message, verdict: Verdict) -> dict[str, Any]:
    """The JSON object ``followup inspect --json`` prints for one message."""
    return {
        "path": msg.source,
        "message_id": None if msg.synthetic_id else msg.message_id,
        "machine": verdict.machine,
        "rule": verdict.rule,
        "category": verdict.category,
        "detail": verdict.detail or None,
        "from": msg.sender.email if msg.sender else None,
        "subject": msg.subject,
        "date": _iso(msg.date),
        "issues": list(msg.issues),
    }


def _action(action: Action) -> dict[str, Any]:
    return {
        "rule": action.rule,
        "kind": str(action.kind),
        "due": _iso(action.due),
        "key": action.key,
        "to": action.recipient,
        "promised_by": _iso(action.promised_by),
    }


def _hours(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / 3600, 2) if value is not None else None


def _participants(report: ThreadReport) -> list[str]:
    seen: dict[str, None] = {}
    for msg in report.thread.messages:
        if msg.sender is not None:
            seen.setdefault(msg.sender.email)
    return list(seen)


def replay_document(reports: list[ThreadReport], now: datetime) -> dict[str, Any]:
    """The JSON document of ``followup replay --json``."""
    threads = []
    for r in reports:
        state = r.state
        threads.append(
            {
                "id": r.thread.id,
                "subject": r.thread.subject,
                "state": str(state.state),
                "reason": state.reason,
                "waiting_since": _iso(state.waiting_since),
                "waiting_business_hours": _hours(r.waiting_business),
                "client": state.client.email if state.client else None,
                "participants": _participants(r),
                "owner": r.assignment.owner,
                "owner_rule": r.assignment.rule,
                "message_ids": [m.message_id for m in r.thread.messages],
                "machine": {mid: v.rule for mid, v in r.verdicts.items() if v.machine},
                "actions": [_action(a) for a in r.decision.actions],
                "upcoming": _action(r.decision.upcoming) if r.decision.upcoming else None,
                "skipped": [
                    {"rule": s.rule, "step": s.step, "reason": s.reason} for s in r.decision.skipped
                ],
            }
        )
    return {"now": _iso(now), "threads": threads}


def _fmt_wait(value: timedelta | None) -> str:
    if value is None:
        return ""
    hours = value.total_seconds() / 3600
    return f"{hours:.1f} bh"


def _fmt_actions(report: ThreadReport, now: datetime) -> str:
    parts = [f"[bold]{a.rule}[/] → {a.recipient}" for a in report.decision.actions]
    upcoming = report.decision.upcoming
    if upcoming is not None:
        parts.append(f"[dim]next {upcoming.rule} {upcoming.due:%a %d %b %H:%M}Z[/]")
    return "\n".join(parts)


_STATE_STYLE = {
    State.AWAITING_TEAM: "bold yellow",
    State.AWAITING_CLIENT: "green",
    State.HANDLED: "blue",
    State.IGNORED: "dim",
}


def replay_table(
    console: Console, reports: list[ThreadReport], now: datetime, messages: int, show_all: bool
) -> None:
    """Print the human-readable replay: waiting threads, most waiting first."""
    shown = [r for r in reports if show_all or r.state.state is State.AWAITING_TEAM]
    shown.sort(key=lambda r: r.waiting_business or timedelta(0), reverse=True)
    table = Table(title=f"Threads at {now:%Y-%m-%d %H:%M} UTC", show_lines=False, expand=False)
    table.add_column("subject", overflow="fold", max_width=40)
    table.add_column("client / participants", overflow="fold", max_width=32)
    table.add_column("state")
    table.add_column("waiting", justify="right")
    table.add_column("owner", overflow="fold")
    table.add_column("actions at now", overflow="fold")
    for r in shown:
        table.add_row(*_replay_row(r, now))
    console.print(table)
    counts = Counter(r.state.state for r in reports)
    due = sum(len(r.decision.actions) for r in reports)
    summary = ", ".join(f"{counts[s]} {s}" for s in State)
    console.print(f"{messages} messages, {len(reports)} threads: {summary}; {due} actions due.")
    if not show_all and len(shown) < len(reports):
        console.print("[dim](threads not waiting on the team are hidden; --all shows them)[/]")


def _replay_row(r: ThreadReport, now: datetime) -> tuple[str, ...]:
    who = r.state.client.email if r.state.client else ", ".join(_participants(r)[:2])
    owner = f"{r.assignment.owner}\n[dim]{r.assignment.rule}[/]" if r.assignment.owner else ""
    style = _STATE_STYLE[r.state.state]
    return (
        r.thread.subject or "(no subject)",
        who,
        f"[{style}]{r.state.state}[/]",
        _fmt_wait(r.waiting_business),
        owner,
        _fmt_actions(r, now),
    )
