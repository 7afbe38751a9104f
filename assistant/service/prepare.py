"""Fetched header blocks -> insert-ready message rows, in this process or on another core.

Parsing and classifying a header block costs about as much as storing it, and a sync is
otherwise one core of Python. For a large fetch (a first sync) the blocks go to worker
processes while this process reads the next FETCH and inserts the previous batch; small
fetches (a watcher's new message) are prepared inline, where a worker would only add a hop.
Both paths run the same :func:`prepare_batch`, so what lands in the table is the same.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from tortoise import Tortoise

from ..core.authenticity import Screen
from ..core.headers import parse_message
from ..core.machine import stored_rule
from ..mail.fetchparse import Fetched
from ..parallel import default_workers as cores
from ..store.bulk import row_values
from ..store.db import MODELS
from ..store.models import StoredMessage
from ..store.records import message_fields

log = logging.getLogger(__name__)

#: A fetch of at least this many messages is parsed in worker processes.
POOL_MIN = 2000

#: ``uid, header, flags, internaldate, modseq``: a :class:`Fetched` as a plain tuple.
Item = tuple[int, bytes, tuple[str, ...], datetime | None, int | None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a batch goes: the row fields every message of a folder shares."""

    mailbox_id: int
    folder_id: int
    folder_name: str
    columns: tuple[str, ...]
    #: Checks for mail that came in over SMTP; None for Sent (the team's own filing).
    screen: Screen | None = None


@dataclass(slots=True)
class Prepared:
    """One batch ready to insert: database values per row, and a ``[mailbox_id, ref_id,
    folder_id, uid]`` row per reference (the message's row id is the database's to give)."""

    uids: list[int]
    values: list[list[Any]]
    refs: list[list[Any]]
    #: Messages that could not even be parsed or classified: (UID, the error).
    quarantined: list[tuple[int, str]] = field(default_factory=list)


def prepare_batch(items: Sequence[Item], target: Target) -> Prepared:
    """Parse, classify and convert ``items`` into rows for ``target.columns`` (pure)."""
    values: list[list[Any]] = []
    refs: list[list[Any]] = []
    quarantined: list[tuple[int, str]] = []
    uids: list[int] = []
    for uid, header, flags, arrived, modseq in items:
        try:
            msg = parse_message(header, arrived, source=f"{target.folder_name}:{uid}")
            row = message_fields(msg)
            row.update(
                mailbox_id=target.mailbox_id,
                folder_id=target.folder_id,
                uid=uid,
                internaldate=arrived,
                flags=list(flags),
                modseq=modseq,
                machine_rule=stored_rule(msg, target.screen),
            )
            (converted,) = row_values(StoredMessage, target.columns, [row])
        except Exception as exc:  # one message never stops the batch (the rules never raise)
            quarantined.append((uid, f"{type(exc).__name__}: {exc}"))
            continue
        uids.append(uid)
        values.append(converted)
        refs += [
            [target.mailbox_id, ref[:512], target.folder_id, uid]
            for ref in dict.fromkeys([*msg.references, *msg.in_reply_to])
        ]
    return Prepared(uids, values, refs, quarantined)


def _ready() -> None:
    """A first task: done once a worker has started and imported everything."""


def default_workers() -> int:
    """One process per core but one (kept for this process): the count when the settings
    name none (``FOLLOWUP_SYNC_WORKERS``, :attr:`~assistant.runtime.Runtime.sync_workers`)."""
    return max(0, cores() - 1)


def _init_worker() -> None:
    # Ctrl-C goes to the whole process group: the parent stops the sync and the pool,
    # a worker must not print a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The models' relations (the ``folder_id``-style columns rows are keyed by), without
    # any connection: a worker converts values, it never talks to the database.
    Tortoise.init_models([MODELS], "models")


class _SharedPool:
    """The process's one pool of workers, shared by the syncs running at once (a watcher per
    mailbox, concurrent arq jobs): never more workers than cores, whatever the number of
    mailboxes. Started by the first sync that needs it, stopped when the last one using it
    closes, so an idle service keeps no worker processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[ProcessPoolExecutor, Future[None]] | None = None
        self._users: dict[ProcessPoolExecutor, int] = {}

    def join(self, workers: int) -> tuple[ProcessPoolExecutor, Future[None]]:
        """The running pool (started now if none), and a future done once a worker is up.
        Raises what starting a process raises (``OSError`` when out of memory...)."""
        with self._lock:
            if self._current is None:
                pool = ProcessPoolExecutor(
                    max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker
                )
                try:
                    self._current = (pool, pool.submit(_ready))  # spawns the processes
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            pool, ready = self._current
            self._users[pool] = self._users.get(pool, 0) + 1
            return pool, ready

    def discard(self, pool: ProcessPoolExecutor) -> None:
        """``pool`` is broken (a worker died): the next sync gets a new one."""
        with self._lock:
            if self._current is not None and self._current[0] is pool:
                self._current = None

    def leave(self, pool: ProcessPoolExecutor) -> None:
        """One sync is done with ``pool``; the last one out stops it."""
        with self._lock:
            self._users[pool] -= 1
            last = self._users[pool] == 0
            if last:
                del self._users[pool]
                if self._current is not None and self._current[0] is pool:
                    self._current = None
        if last:
            pool.shutdown(wait=True, cancel_futures=True)


_POOL = _SharedPool()


class Preparer:
    """Prepares one sync's batches inline or, for large fetches, in the shared worker pool.

    Use one per sync and :meth:`close` it after. Workers that cannot start or that die are
    logged and the batches are prepared inline instead: nothing is lost.
    """

    def __init__(self, workers: int | None = None) -> None:
        """``workers``: the processes to prepare large fetches in (0: inline); None, the
        default (:func:`default_workers`)."""
        self.workers = default_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[None] | None = None
        self._broken = False
        #: Batches prepared by the workers and in this process (for logs and tests).
        self.pooled_batches = self.inline_batches = 0

    @property
    def running(self) -> bool:
        """True while this sync holds the worker pool (:meth:`close` lets it go)."""
        return self._pool is not None

    def wants_pool(self, count: int) -> bool:
        """True when a fetch of ``count`` messages should use the worker processes (a large
        one, or any once they run: the Sent folder after a large INBOX)."""
        return self.workers > 0 and not self._broken and (count >= POOL_MIN or self.running)

    def start(self) -> None:
        """Join (or start) the worker pool now: workers import while the first FETCH runs."""
        if self._pool is None and self.workers > 0 and not self._broken:
            try:
                self._pool, self._ready = _POOL.join(self.workers)
            except Exception as exc:  # whatever stops a process starting: parse inline
                log.warning("cannot start sync worker processes (%s): parsing inline", exc)
                self._broken = True

    async def prepare(
        self, fetched: Sequence[Fetched], target: Target, *, pooled: bool
    ) -> Prepared:
        """``fetched`` as rows; in a worker process when ``pooled`` and the pool works."""
        items = [(f.uid, f.header, f.flags, f.internaldate, f.modseq) for f in fetched]
        if pooled:
            self.start()
        # While the workers are still starting (an interpreter and its imports, ~0.3 s)
        # this process would only wait: it prepares those first batches itself.
        if pooled and self._pool is not None and self._ready is not None and self._ready.done():
            try:
                done = await asyncio.wrap_future(self._pool.submit(prepare_batch, items, target))
            except BrokenProcessPool as exc:
                log.warning("sync worker process died (%s): parsing in this process", exc)
                self._broken = True
                _POOL.discard(self._pool)
            else:
                self.pooled_batches += 1
                return done
        self.inline_batches += 1
        return prepare_batch(items, target)

    def close(self) -> None:
        """Let the worker pool go (the last sync using it stops it)."""
        if self._pool is not None:
            pool, self._pool, self._ready = self._pool, None, None
            _POOL.leave(pool)
