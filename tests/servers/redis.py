"""A private redis-server for tests, or an external one named by ``FOLLOWUP_TEST_REDIS_URL``."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.servers.common import (
    ManagedServer,
    ServerStartError,
    find_binary,
    free_port,
    log_tail,
    wait_pids_gone,
    wait_until,
)

ENV_URL = "FOLLOWUP_TEST_REDIS_URL"
# In the foreground (a child we can wait for), no persistence.
SERVER_ARGS = ("--save", "", "--appendonly", "no", "--daemonize", "no")


def redis_ping(host: str, port: int) -> bool:
    """True when the server on ``host:port`` answers PING with +PONG (not LOADING or an error)."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis(ManagedServer):
    """A private ``redis-server`` (no persistence) under ``base_dir``; ``url`` is
    ``redis://127.0.0.1:PORT/0``. With ``$FOLLOWUP_TEST_REDIS_URL`` set, nothing is started."""

    host = "127.0.0.1"

    def __init__(
        self, base_dir: Path, external_url: str | None = None, start_timeout: float = 10.0
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.log_path = self.base_dir / "redis.log"
        self.external_url = external_url if external_url is not None else os.environ.get(ENV_URL)
        self.start_timeout = start_timeout
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, port: int | None = None) -> Redis:
        """Start redis-server on ``port`` (default: a free one) and wait until it answers PING."""
        if self.external_url:
            self.url = self.external_url
            return self
        binary = find_binary("redis-server", "redis-server")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        args = [binary, "--port", str(self.port), "--bind", self.host, *SERVER_ARGS]
        args += ["--dir", str(self.base_dir), "--logfile", str(self.log_path)]
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = f"redis://{self.host}:{self.port}/0"
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Terminate the private server and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        wait_pids_gone([process.pid])

    def restart(self) -> None:
        """Stop and start again on the same port, empty (no persistence): what a crashed
        Redis without AOF looks like to its clients."""
        port = self.port
        self.stop()
        self.start(port)

    def _wait_ready(self) -> None:
        assert self._process is not None
        process = self._process
        if not wait_until(
            lambda: redis_ping(self.host, self.port),
            self.start_timeout,
            alive=lambda: process.poll() is None,
        ):
            self.stop()
            raise ServerStartError(
                f"redis-server did not start on {self.host}:{self.port}.\n"
                f"--- {self.log_path}:\n{log_tail(self.log_path)}"
            )
