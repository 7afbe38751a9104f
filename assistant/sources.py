"""Read messages' header blocks from mbox files, Maildirs and ``.eml`` files, streaming.

Only header blocks are kept: an mbox of hundreds of megabytes of attachments is read in fixed
size chunks and every body is skipped without being decoded or held in memory. The arrival
time each format records (the mbox ``From_`` line, the Maildir file name) is handed on as the
INTERNALDATE fallback for a missing or broken Date header.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .core.errors import UsageError

CHUNK = 1 << 20
#: A header block larger than this is cut: no real header is that big, a broken file might be.
MAX_HEADER = 1 << 20
_HEADER_END = re.compile(rb"\r?\n\r?\n")  # for single files
_BLANK_LINE = re.compile(rb"\n\r?\n")  # starts with a literal: re scans for it quickly
_FROM_LINE_DATE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(\w{3}) +(\d{1,2}) +(\d{1,2}):(\d{2}):(\d{2}) +(\d{4})"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        (
            b"Jan",
            b"Feb",
            b"Mar",
            b"Apr",
            b"May",
            b"Jun",
            b"Jul",
            b"Aug",
            b"Sep",
            b"Oct",
            b"Nov",
            b"Dec",
        ),
        start=1,
    )
}

Progress = Callable[[int], None]


class SourceError(UsageError):
    """A path that is not a readable mbox, Maildir or message file."""


@dataclass(frozen=True, slots=True)
class RawHeader:
    """A message's header block, where it came from, and the arrival time the source knew."""

    header: bytes
    source: str
    arrived: datetime | None = None


def _from_line_date(line: bytes) -> datetime | None:
    match = _FROM_LINE_DATE.search(line)
    if not match:
        return None
    mon, day, hh, mm, ss, year = match.groups()
    try:
        return datetime(
            int(year), _MONTHS.get(mon, 0), int(day), int(hh), int(mm), int(ss), tzinfo=UTC
        )
    except ValueError:
        return None


def _header_end(buf: bytes, start: int) -> tuple[int, int] | None:
    """Where the header block that starts at ``start`` ends, and where its body starts.

    None when the buffer holds neither the blank line nor the next message's ``From_`` line.
    A header running straight into the next ``From_`` line (no body) ends there.
    """
    if buf.startswith(b"\n", start):
        return start, start + 1
    if buf.startswith(b"\r\n", start):
        return start, start + 2
    match = _BLANK_LINE.search(buf, start)
    blank, skip = (match.start(), match.end() - match.start()) if match else (-1, 0)
    limit = blank if blank >= 0 else len(buf)
    sep = buf.find(b"\nFrom ", start, limit)
    if sep >= 0:
        return sep + 1, sep + 1
    if blank >= 0:
        return blank + 1, blank + skip
    return None


class _MboxReader:
    """An mbox read in 1 MiB chunks: each step reads on only as far as it needs."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = fh.read(CHUNK)
        self.done = len(self.buf)
        self.eof = not self.buf

    def _more(self) -> bytes:
        more = self.fh.read(CHUNK)
        self.done += len(more)
        self.eof = not more
        return more

    def header_at(self, pos: int) -> tuple[int, int, tuple[int, int] | None]:
        """From the ``From_`` line at ``pos``, load until its header block is complete.

        Returns the line's (possibly moved) start, its end, and :func:`_header_end`'s answer."""
        while True:
            line_end = self.buf.find(b"\n", pos)
            found = _header_end(self.buf, line_end + 1) if line_end >= 0 else None
            if found is not None or self.eof or len(self.buf) - pos > MAX_HEADER:
                return pos, line_end, found
            self.buf, pos = self.buf[pos:] + self._more(), 0

    def next_message(self, body: int) -> int | None:
        """Skip the body at ``body`` without keeping it; the next ``From_`` line, or None."""
        buf = self.buf
        search_from = body - 1 if body > 0 and buf[body - 1 : body] == b"\n" else body
        while True:
            nxt = self.buf.find(b"\nFrom ", search_from)
            if nxt >= 0:
                return nxt + 1
            if self.eof:
                return None
            self.buf, search_from = self.buf[-6:] + self._more(), 0


def iter_mbox(path: Path, progress: Progress | None = None) -> Iterator[RawHeader]:
    """Yield the header block of every message of an mbox, reading it in 1 MiB chunks."""
    with open(path, "rb") as fh:
        reader = _MboxReader(fh)
        if not reader.buf.startswith(b"From "):
            raise SourceError(f"{path}: not an mbox file (it does not start with 'From ')")
        pos: int | None = 0
        index = 0
        while pos is not None:
            pos, line_end, found = reader.header_at(pos)
            buf = reader.buf
            header_start = (line_end if line_end >= 0 else len(buf) - 1) + 1
            header_end, body = found if found is not None else (len(buf), len(buf))
            arrived = _from_line_date(buf[pos:header_start])
            yield RawHeader(buf[header_start:header_end], f"{path}#{index}", arrived)
            index += 1
            pos = reader.next_message(body)
            if progress:
                progress(reader.done)


def _read_header_file(path: Path) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(64 * 1024)
        while _HEADER_END.search(data) is None and len(data) < MAX_HEADER:
            more = fh.read(64 * 1024)
            if not more:
                break
            data += more
    return data


def _maildir_arrival(name: str) -> datetime | None:
    stamp = name.split(".", 1)[0]
    if stamp.isdigit():
        try:
            return datetime.fromtimestamp(int(stamp), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def iter_maildir(path: Path, progress: Progress | None = None) -> Iterator[RawHeader]:
    """Yield header blocks of the messages in a Maildir's ``cur`` and ``new``."""
    count = 0
    for sub in ("cur", "new"):
        folder = path / sub
        if not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            yield RawHeader(
                _read_header_file(Path(entry.path)),
                entry.path,
                _maildir_arrival(entry.name),
            )
            count += 1
            if progress:
                progress(count)


def is_maildir(path: Path) -> bool:
    """A folder with ``cur`` or ``new`` subfolders."""
    return path.is_dir() and ((path / "cur").is_dir() or (path / "new").is_dir())


def is_mbox(path: Path) -> bool:
    """A file that starts with an mbox ``From_`` line."""
    try:
        with open(path, "rb") as fh:
            return fh.read(5) == b"From "
    except OSError:
        return False


def iter_source(path: Path, progress: Progress | None = None) -> Iterator[RawHeader]:
    """An mbox file or a Maildir, as used by ``followup replay``."""
    if is_maildir(path):
        return iter_maildir(path, progress)
    if path.is_file():
        return iter_mbox(path, progress)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    raise SourceError(f"{path}: neither an mbox file nor a Maildir (no cur/ or new/)")


def iter_paths(paths: Iterable[Path]) -> Iterator[RawHeader]:
    """Files (``.eml`` or mbox) and folders of them (recursively, Maildirs too), for inspect."""
    for path in paths:
        if not path.exists():
            raise SourceError(f"{path}: no such file or folder")
        if is_maildir(path):
            yield from iter_maildir(path)
        elif path.is_dir():
            children = sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
            for child in children:
                yield from _one_file(child)
        else:
            yield from _one_file(path)


def _one_file(path: Path) -> Iterator[RawHeader]:
    if not is_mbox(path):
        yield RawHeader(_read_header_file(path), str(path))
        return
    # One message after an mbox "From " line is a message file like any other: reported by
    # its path as given, not as "path#0". Reading one ahead keeps big mboxes streamed.
    messages = iter_mbox(path)
    first = next(messages, None)
    second = next(messages, None)
    if first is not None and second is None:
        yield dataclasses.replace(first, source=str(path))
        return
    yield from (m for m in (first, second) if m is not None)
    yield from messages
