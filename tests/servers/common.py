"""Process plumbing shared by the server helpers: ports, binaries, waiting, permissions."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
KEEP_DIRS_ENV = "FOLLOWUP_KEEP_SERVER_DIRS"


class MissingBinary(RuntimeError):
    """A server program is not installed; the message says which package provides it."""


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(name: str, package: str, extra_dirs: Iterable[str] = SBIN_DIRS) -> str:
    """Absolute path of program ``name`` (PATH, then ``extra_dirs``); :class:`MissingBinary`
    when it is not installed."""
    found = shutil.which(name)
    if found is None:
        for directory in extra_dirs:
            candidate = Path(directory, name)
            if os.access(candidate, os.X_OK):
                return str(candidate)
        raise MissingBinary(
            f"'{name}' not found: install the Debian package {package} "
            "(scripts/test.sh installs it when run as root)"
        )
    return found


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.02,
) -> bool:
    """Poll ``ready`` until it holds (True), ``alive`` turns false or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if not alive():
            return ready()
        time.sleep(interval)
    return ready()


def descendants(pid: int) -> list[int]:
    """Pids of ``pid`` and all its descendants (empty when it is already gone)."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(child.pid for child in proc.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs; a zombie waiting for its parent's reap counts as gone."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_pids_gone(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """Wait for every pid to exit; kill the stragglers after ``timeout`` and return them."""
    pending = list(pids)
    wait_until(lambda: all(pid_gone(pid) for pid in pending), timeout)
    stragglers = [pid for pid in pending if not pid_gone(pid)]
    for pid in stragglers:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    wait_until(lambda: all(pid_gone(pid) for pid in stragglers), 5.0)
    return stragglers


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run(
    args: list[str],
    timeout: float = 60.0,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command to completion and return its stdout; fail loudly with its output."""
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


@contextlib.contextmanager
def server_dir(name: str) -> Iterator[Path]:
    """A fresh mode-755 directory ``/tmp/followup-NAME-*`` for a server, removed afterwards
    (kept when ``$FOLLOWUP_KEEP_SERVER_DIRS=1``, to read logs).

    Not under pytest's basetemp: each pytest session that starts chmods /tmp/pytest-of-USER
    back to 0700, locking the unprivileged processes (dovecot, nobody, postgres) of servers
    that another, still running session put there out of their own files.
    """
    path = Path(tempfile.mkdtemp(prefix=f"followup-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        if os.environ.get(KEEP_DIRS_ENV) != "1":
            shutil.rmtree(path, ignore_errors=True)


def make_traversable(path: Path) -> None:
    """Let other users (a server's unprivileged uid) reach ``path``: o+x on it and its parents."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


class ManagedServer:
    """``with Server(...) as server:`` starts it and always stops it."""

    def start(self) -> Self:  # pragma: no cover - every server defines its own
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - every server defines its own
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def append_uid(
    imap: Any,
    folder: str,
    raw: bytes,
    flags: tuple[str | bytes, ...] = (),
    msg_time: datetime | None = None,
) -> int | None:
    """APPEND one message over a logged-in imapclient connection; its UID (APPENDUID)."""
    response = imap.append(folder, raw, flags=flags, msg_time=msg_time)
    match = re.search(rb"APPENDUID \d+ (\d+)", response)
    return int(match.group(1)) if match else None


class ImapHost(ManagedServer):
    """What the tests do over IMAP on any server of the matrix, through ``client(user)``."""

    def client(self, user: str, password: str | None = None, tls: bool = False) -> Any:
        raise NotImplementedError  # pragma: no cover - every server defines its own

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: tuple[str | bytes, ...] = (),
        msg_time: datetime | None = None,
    ) -> int | None:
        """APPEND one message over IMAP; its UID (APPENDUID)."""
        with self.client(user) as imap:
            return append_uid(imap, folder, raw, flags, msg_time)

    def create_folder(self, user: str, name: str, subscribe: bool = True) -> None:
        """Create a folder over IMAP (any Unicode name: imapclient encodes modified UTF-7)."""
        with self.client(user) as imap:
            imap.create_folder(name)
            if subscribe:
                imap.subscribe_folder(name)
