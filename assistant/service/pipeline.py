"""The steps after a sync and the delivery pass: one code path for both modes.

``followup run`` (one process) calls these from its watchers' hooks and its ticker; the arq
jobs of the scale-out mode (``workers/``) call the very same functions. Nothing here knows
which mode runs it.
"""

from __future__ import annotations

from datetime import datetime

from ..clock import Clock
from ..core.evaluate import MailboxPolicy
from ..runtime import Runtime
from ..store.models import Mailbox, OutboxItem, ThreadRecord
from .commands import handle_commands
from .crash import crash_point
from .deliver import ACTIVE, Deliverer, DeliveryReport
from .evaluate import reevaluate
from .ingest import Progress, SyncReport, sync_mailbox
from .loops import detect_loops
from .outbox import plan_pending
from .people import everyone


async def mailbox_policy(runtime: Runtime, mailbox: Mailbox) -> MailboxPolicy:
    """The mailbox's rules with the team's people as they are now."""
    return runtime.policy(mailbox, await everyone(runtime.config))


async def after_sync(runtime: Runtime, mailbox: Mailbox, report: SyncReport, now: datetime) -> None:
    """Apply reply commands among the new messages, then plan every thread evaluated since
    it was last planned (this sync's, taken as evaluated, and any an earlier crash or
    one-shot sync left, rebuilt from the store)."""
    try:
        if report.changed_ids:
            await detect_loops(mailbox, report.changed_ids, now, runtime.config.guards.limits())
            await handle_commands(runtime, mailbox, report.changed_ids, now)
    finally:  # whatever happened to the commands, the clients' mail is planned
        crash_point("before_plan")
        policy = await mailbox_policy(runtime, mailbox)
        await plan_pending(mailbox, policy, now, report.evaluated)


async def evaluate_changes(
    mailbox: Mailbox, report: SyncReport, policy: MailboxPolicy, now: datetime
) -> SyncReport:
    """The evaluate step: re-thread the rows a sync changed, once; the threads it touched
    are recorded on ``report`` for the steps after it."""
    if report.changed_ids:
        result = await reevaluate(mailbox, report.changed_ids, policy, now)
        report.thread_ids, report.evaluated = result.written, result.awaiting
        report.threads_changed = len(report.thread_ids)
    return report


async def sync_and_evaluate(
    mailbox: Mailbox,
    policy: MailboxPolicy,
    since: datetime | None = None,
    progress: Progress | None = None,
    *,
    clock: Clock,
    workers: int | None = None,
) -> SyncReport:
    """One sync of ``mailbox`` (its own connection), then :func:`evaluate_changes`."""
    report = await sync_mailbox(mailbox, policy, since, progress, clock=clock, workers=workers)
    return await evaluate_changes(mailbox, report, policy, clock.now())


async def sync_and_plan(runtime: Runtime, mailbox: Mailbox, now: datetime) -> SyncReport:
    """Sync, evaluate, then :func:`after_sync`: the whole chain for one change."""
    policy = await mailbox_policy(runtime, mailbox)
    report = await sync_and_evaluate(
        mailbox, policy, clock=runtime.clock, workers=runtime.sync_workers
    )
    await after_sync(runtime, mailbox, report, now)
    return report


async def has_due(mailbox: Mailbox, now: datetime) -> bool:
    """Whether anything of ``mailbox``'s outbox is due (cheap: one indexed query)."""
    return await OutboxItem.filter(mailbox=mailbox, status__in=ACTIVE, due_at__lte=now).exists()


async def deliver_mailbox(
    runtime: Runtime, mailbox: Mailbox, now: datetime, dry_run: bool = False
) -> DeliveryReport | None:
    """Deliver what is due for ``mailbox`` (rows are claimed: safe from any process)."""
    if not await has_due(mailbox, now):
        return None
    deliverer = deliverer_for(runtime, mailbox, await mailbox_policy(runtime, mailbox), dry_run)
    return await deliverer.deliver_due(now)


def deliverer_for(
    runtime: Runtime, mailbox: Mailbox, policy: MailboxPolicy, dry_run: bool = False
) -> Deliverer:
    """The one way to build a delivery pass: the runtime's clock, lease and Sent rules."""
    return Deliverer(
        mailbox,
        policy,
        runtime.config,
        dry_run,
        runtime.clock,
        lease=runtime.send_lease,
        self_filing_hosts=runtime.self_filing_hosts,
    )


async def plan_mailbox(runtime: Runtime, mailbox: Mailbox) -> int:
    """Plan what earlier evaluations left unplanned (a crash, a one-shot ``followup sync``,
    another process); return how many rows were written. Cheap when nothing is left."""
    if not await ThreadRecord.filter(mailbox=mailbox, unplanned=True).exists():
        return 0
    policy = await mailbox_policy(runtime, mailbox)
    return len(await plan_pending(mailbox, policy, runtime.clock.now()))
