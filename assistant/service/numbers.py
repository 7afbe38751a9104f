"""What the team sees of its own work on the web page: first-response times per ISO week
(count, median and 90th percentile, by mailbox and by owner), the automatic mail sent, and
the audit log of everything Followup sent or decided not to send."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.mail_kinds import MailKind
from ..store.models import OutboxItem, ThreadRecord
from .templates import KINDS

#: How far back the numbers look.
WINDOW = timedelta(weeks=8)
#: The audit log's length.
AUDIT_ROWS = 200

Key = tuple[str, str, str]  # (ISO week, "mailbox" or "owner", which)


@dataclass(frozen=True, slots=True)
class WeekRow:
    """First responses of one week for one mailbox or one owner."""

    week: str
    by: str
    who: str
    count: int
    median_h: float
    p90_h: float


@dataclass(frozen=True, slots=True)
class Numbers:
    """The weekly rows, the largest p90 (the bars' scale), and mail sent by kind."""

    table: list[WeekRow]
    top: float
    sent: dict[str, int]


async def numbers(now: datetime) -> Numbers:
    """The numbers of the ``WINDOW`` before ``now``."""
    since = now - WINDOW
    answered = await ThreadRecord.filter(
        answered_at__gte=since, first_response_s__not_isnull=True
    ).prefetch_related("mailbox")
    table = response_table(_samples(answered))
    top = max((row.p90_h for row in table), default=1.0) or 1.0
    sent = {
        kind: await OutboxItem.filter(kind=kind, status="sent", sent_at__gte=since).count()
        for kind in KINDS
        if kind != MailKind.COMMAND_REPLY  # answers to people, not follow-ups
    }
    return Numbers(table, top, sent)


def _samples(records: Iterable[ThreadRecord]) -> dict[Key, list[int]]:
    """First-response seconds by (week, "mailbox", name) and by (week, "owner", address)."""
    samples: dict[Key, list[int]] = {}
    for record in records:
        assert record.answered_at is not None
        week = record.answered_at.strftime("%G-W%V")
        for key in (
            (week, "mailbox", record.mailbox.name),
            (week, "owner", record.owner or "(nobody)"),
        ):
            samples.setdefault(key, []).append(record.first_response_s or 0)
    return samples


def response_table(samples: dict[Key, list[int]]) -> list[WeekRow]:
    """One row per key, in key order: count, median and p90 in hours."""
    table = []
    for (week, by, who), values in sorted(samples.items()):
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        median = statistics.median(values)
        table.append(WeekRow(week, by, who, len(values), median / 3600, p90 / 3600))
    return table


async def audit_log() -> list[OutboxItem]:
    """The newest ``AUDIT_ROWS`` mails sent, skipped or failed (pending ones are plans)."""
    return (
        await OutboxItem.exclude(status="pending")
        .order_by("-id")
        .limit(AUDIT_ROWS)
        .prefetch_related("mailbox")
    )
