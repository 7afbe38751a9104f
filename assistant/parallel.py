"""Parse header blocks on every core while the reader streams the file.

The reader (an mbox or Maildir walk) stays in this process; chunks of header blocks go to a
pool of worker processes and come back as parsed records, in order. At most a few chunks are
in flight, so memory stays bounded however large the source is.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context

from .core.headers import parse_message
from .core.machine import storing_verdict
from .core.model import Message, Verdict
from .sources import RawHeader

CHUNK = 500
Parsed = tuple[Message, Verdict]


def _parse_one(raw: RawHeader) -> Parsed:
    msg = parse_message(raw.header, raw.arrived, raw.source)
    return msg, storing_verdict(msg)


def _parse_chunk(chunk: list[RawHeader]) -> list[Parsed]:
    return [_parse_one(r) for r in chunk]


def default_workers() -> int:
    """One worker per core (the reader's own work is light)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_all(raws: Iterable[RawHeader], workers: int = 1) -> Iterator[Parsed]:
    """Parsed and classified records of ``raws`` in order; ``workers`` > 1 does it in that
    many processes."""
    if workers <= 1:
        yield from (_parse_one(r) for r in raws)
        return
    source = iter(raws)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        pending: deque[Future[list[Parsed]]] = deque()
        while chunk := list(islice(source, CHUNK)):
            pending.append(pool.submit(_parse_chunk, chunk))
            if len(pending) > 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
