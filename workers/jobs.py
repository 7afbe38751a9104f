"""arq jobs: each a few lines calling the use-cases in :mod:`assistant.service`.

Every job opens nothing itself: the worker's startup put the runtime (settings, store) in
``ctx``. Connection trouble (IMAP, SMTP, the database) is retried with exponential backoff by
raising arq's ``Retry``; after ``max_tries`` the job gives up and the next tick asks again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from arq import Retry

from assistant.runners.fleet import Fleet
from assistant.runtime import Runtime
from assistant.service.digest import plan_digests, sender_mailbox
from assistant.service.pipeline import deliver_mailbox, has_due, plan_mailbox, sync_and_plan
from assistant.store.models import Folder, Mailbox

log = logging.getLogger("followup.worker")


def _retry(ctx: dict[str, Any], what: str, exc: BaseException) -> Retry:
    tries = int(ctx.get("job_try", 1))
    delay = min(300.0, 2.0**tries)
    log.warning(
        "job failed, retrying",
        extra={
            "job": what,
            "try": tries,
            "retry_in_s": delay,
            "error": f"{exc.__class__.__name__}: {exc}",
        },
    )
    return Retry(defer=delay)


async def sync_mailbox_job(ctx: dict[str, Any], mailbox_id: int) -> int:
    """Sync one mailbox (again while changes keep coming), plan, deliver what is due."""
    runtime: Runtime = ctx["runtime"]
    fleet = Fleet(ctx["redis"])
    rounds = 0
    try:
        mailbox = await Mailbox.get_or_none(id=mailbox_id)
        if mailbox is None:
            return 0
        while True:
            await fleet.take_dirty(mailbox_id)
            await sync_and_plan(runtime, mailbox, runtime.clock.now())
            rounds += 1
            if not await fleet.is_dirty(mailbox_id):
                break
        await deliver_mailbox(runtime, mailbox, runtime.clock.now())
    except Exception as exc:  # IMAP, SMTP, database: retried with backoff
        raise _retry(ctx, f"sync:{mailbox_id}", exc) from exc
    return rounds


async def deliver_job(ctx: dict[str, Any], mailbox_id: int) -> None:
    """Deliver what is due for one mailbox."""
    runtime: Runtime = ctx["runtime"]
    try:
        mailbox = await Mailbox.get_or_none(id=mailbox_id)
        if mailbox is not None:
            await deliver_mailbox(runtime, mailbox, runtime.clock.now())
    except Exception as exc:
        raise _retry(ctx, f"deliver:{mailbox_id}", exc) from exc


async def tick_job(ctx: dict[str, Any]) -> None:
    """Periodic: request syncs that are flagged or overdue, deliveries that came due.

    A mailbox no watcher holds is synced every ``poll_seconds``; one a watcher IDLEs on only
    every ten (a safety net: IDLE tells of changes, polling all of them would be most of the
    load at hundreds of mailboxes)."""
    runtime: Runtime = ctx["runtime"]
    fleet = Fleet(ctx["redis"])
    now = runtime.clock.now()
    poll = timedelta(seconds=runtime.config.scale.poll_seconds)
    mailboxes = await Mailbox.all()
    holders = await fleet.holders([m.id for m in mailboxes])
    for mailbox in mailboxes:
        last = await Folder.filter(mailbox=mailbox).order_by("synced_at").first()
        synced = last.synced_at if last is not None else None
        period = poll * 10 if holders.get(mailbox.id) else poll
        if synced is None or synced < now - period or await fleet.is_dirty(mailbox.id):
            await fleet.request_sync(mailbox.id)
        elif await plan_mailbox(runtime, mailbox) or await has_due(mailbox, now):
            await fleet.request_delivery(mailbox.id)


async def digests_job(ctx: dict[str, Any]) -> None:
    """Periodic: plan the digests whose time has come, then have them delivered."""
    runtime: Runtime = ctx["runtime"]
    report = await plan_digests(runtime, runtime.clock.now())
    for error in report.errors:
        log.warning("digest not sent", extra={"error": error})
    mailbox = await sender_mailbox(runtime)
    if report.planned and mailbox is not None:
        await Fleet(ctx["redis"]).request_delivery(mailbox.id)
