"""One sync + plan + deliver cycle, as `followup run` does it; run in a subprocess by the
crash tests (``FOLLOWUP_CRASH_AT`` makes it die by SIGKILL at a named point)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from assistant.runtime import Runtime
from assistant.service.deliver import Deliverer
from assistant.service.ingest import sync_mailbox
from assistant.service.outbox import plan_threads
from assistant.settings import FollowupConfig
from assistant.store.db import store
from assistant.store.models import Mailbox


async def cycle(url: str, name: str, config: FollowupConfig | None = None) -> None:
    """Sync, plan and deliver once for mailbox ``name``."""
    config = config or FollowupConfig()
    runtime = Runtime(url, Path("."), config)
    mailbox = await Mailbox.get(name=name)
    policy = runtime.policy(mailbox)
    report = await sync_mailbox(mailbox, policy)
    await plan_threads(mailbox, report.thread_ids, policy)
    await Deliverer(mailbox, policy, config).deliver_due(datetime.now(UTC))


async def main(url: str, name: str) -> None:
    async with store(url):
        await cycle(url, name)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
