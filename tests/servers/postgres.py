"""A private PostgreSQL cluster for tests, or an external server named by an env var.

When ``FOLLOWUP_TEST_POSTGRES_URL`` is set nothing is started: :attr:`Postgres.dsn` is that URL
and :meth:`Postgres.new_database` creates databases on that server (dropped again on stop).
Otherwise ``initdb`` + ``pg_ctl`` build a throw-away cluster (trust auth, ``fsync=off``) in the
given directory, listening on a free port of 127.0.0.1 with its unix socket in the same
directory; as root every server command runs as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.servers.common import (
    ManagedServer,
    MissingBinary,
    ServerStartError,
    find_binary,
    free_port,
    log_tail,
    make_traversable,
    run,
    wait_pids_gone,
)

ENV_URL = "FOLLOWUP_TEST_POSTGRES_URL"
DEFAULT_DATABASE = "followup"
INITDB_ARGS = ("-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
# Throw-away cluster: durability off.
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
DB_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_bin_dir() -> Path:
    """The ``bin`` directory of the highest /usr/lib/postgresql/<version>, else of PATH's pg_ctl."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if candidates:
        best = max(candidates, key=lambda p: _version_key(Path(p).parent.parent.name))
        return Path(best).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise MissingBinary(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or pg_ctl on PATH): "
            "install the Debian package postgresql (scripts/test.sh installs it when run as root)"
        )
    return Path(pg_ctl).parent


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def with_database(dsn: str, name: str) -> str:
    """``dsn`` with its database (URL path) replaced by ``name``."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(admin_dsn: str, name: str, drop: bool = False) -> None:
    import asyncpg  # imported lazily: only tests that use PostgreSQL need it

    conn = await asyncpg.connect(admin_dsn)
    try:
        if drop:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _run_async(admin_dsn: str, name: str, drop: bool = False) -> None:
    """Run the asyncpg statement in its own thread and loop (callers may be inside a loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _create_database(admin_dsn, name, drop)).result()


class Postgres(ManagedServer):
    """A private PostgreSQL cluster under ``base_dir``, or the server of
    ``$FOLLOWUP_TEST_POSTGRES_URL`` (or ``external_url``) when set.

    ``dsn`` is ``postgres://postgres@127.0.0.1:PORT/followup`` once started. As root,
    ``base_dir`` must stay reachable by the ``postgres`` user: use
    :func:`tests.servers.server_dir`, not pytest's ``tmp_path``.
    """

    host = "127.0.0.1"

    def __init__(self, base_dir: Path, external_url: str | None = None) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.external_url = external_url if external_url is not None else os.environ.get(ENV_URL)
        self.port = 0
        self.dsn = ""
        self._bin = Path()
        self._running = False
        self._created: list[str] = []

    def start(self) -> Postgres:
        """Create and start the cluster and its ``followup`` database (or adopt the URL)."""
        if self.external_url:
            self.dsn = self.external_url
            self.port = urlsplit(self.dsn).port or 5432
            return self
        self._bin = postgres_bin_dir()
        self.port = free_port()
        self._initdb()
        self._pg_ctl_start()
        self.dsn = f"postgres://postgres@{self.host}:{self.port}/{DEFAULT_DATABASE}"
        self.new_database(DEFAULT_DATABASE)
        return self

    def stop(self) -> None:
        """Stop the private cluster (``pg_ctl stop -m fast -w``), or drop the databases this
        object created on the external server."""
        if self.external_url:
            for name in self._created:
                _run_async(self._admin_dsn(), name, drop=True)
            self._created.clear()
            return
        if self._running:
            self._running = False
            self._pg_ctl_stop("fast")

    def _pg_ctl_stop(self, mode: str) -> None:
        """``pg_ctl stop`` (which waits for postmaster.pid to go), then wait for the pid."""
        pid_file = self.data_dir / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        self._pg_ctl("-m", mode, "-w", "stop")
        if pid is not None:
            wait_pids_gone([pid])

    def new_database(self, name: str) -> str:
        """Create database ``name`` (lowercase identifier) and return its DSN."""
        if not DB_NAME_RE.match(name):
            raise ValueError(f"unsupported database name {name!r}")
        _run_async(self._admin_dsn(), name)
        if self.external_url:
            self._created.append(name)
        return with_database(self.dsn, name)

    def _admin_dsn(self) -> str:
        """Where CREATE/DROP DATABASE run: the external URL as given, else the ``postgres`` db."""
        return self.dsn if self.external_url else with_database(self.dsn, "postgres")

    def _pg_ctl(self, *args: str) -> None:
        self._as_owner([str(self._bin / "pg_ctl"), "-D", str(self.data_dir), *args])

    def _as_owner(self, args: list[str]) -> str:
        """Run a server command as ``postgres`` when root (initdb/postgres refuse root)."""
        if os.geteuid() == 0:
            args = [find_binary("runuser", "util-linux"), "-u", "postgres", "--", *args]
        # PostgreSQL keeps the real time under CI's year-ahead pass (every time Followup
        # stores comes from its own clock): libfaketime's semaphores are root's, and a
        # postgres process meeting one under its pid would fail to start.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and "FAKE" not in k}
        return run(args, cwd="/", env=env)

    def _initdb(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        make_traversable(self.base_dir)
        if os.geteuid() == 0:
            shutil.chown(self.base_dir, "postgres", "postgres")
        initdb = str(self._bin / "initdb")
        self._as_owner([initdb, "-D", str(self.data_dir), *INITDB_ARGS])

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={self.host} "
            f"-c unix_socket_directories={self.base_dir} {SERVER_OPTIONS}"
        )
        try:
            self._pg_ctl("-l", str(self.log_path), "-w", "-t", "30", "-o", options, "start")
        except RuntimeError as error:
            with contextlib.suppress(RuntimeError, OSError):
                self._pg_ctl_stop("immediate")
            raise ServerStartError(
                f"PostgreSQL did not start on port {self.port}: {error}\n"
                f"--- {self.log_path}:\n{log_tail(self.log_path)}"
            ) from error
        self._running = True
