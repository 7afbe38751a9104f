"""One sync + plan + deliver cycle, as `followup run` does it; run in a subprocess by the
crash tests (``FOLLOWUP_CRASH_AT`` makes it die by SIGKILL at a named point; a third
argument moves the clock, e.g. past a crashed sender's lease)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from assistant.clock import FixedClock
from assistant.runtime import Runtime
from assistant.service.pipeline import deliver_mailbox, sync_and_plan
from assistant.settings import FollowupConfig
from assistant.store.db import store
from assistant.store.models import Mailbox


async def cycle(
    url: str, name: str, config: FollowupConfig | None = None, later: float = 0.0
) -> None:
    """Sync, plan and deliver once for mailbox ``name`` (``later`` seconds from now), through
    the pipeline `followup run` uses."""
    config = config or FollowupConfig()
    clock = FixedClock(datetime.now(UTC) + timedelta(seconds=later))  # this process's clock
    runtime = Runtime(url, Path("."), config, clock=clock)
    mailbox = await Mailbox.get(name=name)
    await sync_and_plan(runtime, mailbox, clock.now())
    await deliver_mailbox(runtime, mailbox, clock.now())


async def main(url: str, name: str, later: float) -> None:
    async with store(url):
        await cycle(url, name, later=later)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0))
