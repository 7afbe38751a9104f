"""The scale-out mode's shared state in Redis: watcher heartbeats, mailbox leases, sync requests.

- A watcher announces itself with ``followup:watcher:<id>`` (expires after the lease time)
  and holds each of its mailboxes with ``followup:lease:<mailbox id>`` = its id (``SET NX``
  with the same expiry, renewed every second); a watcher that dies stops renewing and its
  mailboxes are free within ``lease_seconds``. Renewing and releasing only touch a lease
  whose value is still the holder's (a small Lua script), so a slow watcher can never extend
  or delete a lease someone else took over.
- A change seen by IDLE becomes an arq job ``sync:<mailbox id>`` (arq refuses a second job
  with the same id while one is queued or running, so one mailbox is never synced twice at
  once). Because a job already running may have read the folder before the new change,
  ``followup:dirty:<mailbox id>`` is set first; the job syncs again while it finds the flag.

Redis holds nothing that cannot be rebuilt: after a Redis restart the watchers take leases
again and the workers' periodic tick re-requests every mailbox whose last sync is older than
``poll_seconds`` (the store is the truth).
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

PREFIX = "followup:"
SYNC_JOB = "sync_mailbox_job"
DELIVER_JOB = "deliver_job"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(mailbox_id: int) -> str:
    """The Redis key of one mailbox's lease."""
    return f"{PREFIX}lease:{mailbox_id}"


def dirty_key(mailbox_id: int) -> str:
    """Set when a mailbox changed and a sync is wanted."""
    return f"{PREFIX}dirty:{mailbox_id}"


class Fleet:
    """Leases, heartbeats and job requests over one Redis connection pool."""

    def __init__(self, redis: ArqRedis, watcher_id: str = "", lease_seconds: float = 10.0):
        self.redis = redis
        self.watcher_id = watcher_id
        self.lease_ms = int(lease_seconds * 1000)

    async def heartbeat(self) -> None:
        """Announce this watcher for one lease period."""
        await self.redis.set(f"{PREFIX}watcher:{self.watcher_id}", b"1", px=self.lease_ms)

    async def live_watchers(self) -> int:
        """How many watchers announced themselves within the lease period."""
        count = 0
        async for _ in self.redis.scan_iter(match=f"{PREFIX}watcher:*", count=500):
            count += 1
        return count

    async def holders(self, mailbox_ids: list[int]) -> dict[int, str | None]:
        """Who holds each mailbox's lease (None: free)."""
        if not mailbox_ids:
            return {}
        values = await self.redis.mget([lease_key(i) for i in mailbox_ids])
        return {
            i: (v.decode() if isinstance(v, bytes) else v)
            for i, v in zip(mailbox_ids, values, strict=True)
        }

    async def acquire(self, mailbox_id: int) -> bool:
        """Take a free lease; False when someone holds it."""
        return bool(
            await self.redis.set(lease_key(mailbox_id), self.watcher_id, nx=True, px=self.lease_ms)
        )

    async def renew(self, mailbox_id: int) -> bool:
        """Extend our lease; False when it is no longer ours."""
        result: Any = await self.redis.eval(  # type: ignore[misc]
            _RENEW, 1, lease_key(mailbox_id), self.watcher_id, str(self.lease_ms)
        )
        return bool(result)

    async def release(self, mailbox_id: int) -> None:
        """Give our lease back (only if it is still ours)."""
        await self.redis.eval(_RELEASE, 1, lease_key(mailbox_id), self.watcher_id)  # type: ignore[misc]

    async def request_sync(self, mailbox_id: int) -> bool:
        """Ask for a sync of ``mailbox_id``; True when a new job was queued."""
        await self.redis.set(dirty_key(mailbox_id), b"1")
        job = await self.redis.enqueue_job(SYNC_JOB, mailbox_id, _job_id=f"sync:{mailbox_id}")
        return job is not None

    async def take_dirty(self, mailbox_id: int) -> bool:
        """Clear the mailbox's change flag; True when it was set."""
        return bool(await self.redis.getdel(dirty_key(mailbox_id)))

    async def is_dirty(self, mailbox_id: int) -> bool:
        """Whether a change is waiting for a sync."""
        return bool(await self.redis.exists(dirty_key(mailbox_id)))

    async def request_delivery(self, mailbox_id: int) -> None:
        """Ask for a delivery pass of ``mailbox_id`` (at most one queued or running)."""
        await self.redis.enqueue_job(DELIVER_JOB, mailbox_id, _job_id=f"deliver:{mailbox_id}")
