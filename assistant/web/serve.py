"""Running the web app inside an asyncio program (``followup run``, ``followup web``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Sequence

import uvicorn
from starlette.applications import Starlette


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the host program stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host in ("localhost", "::1") or host.startswith("127.")


class WebServer:
    """The app on ``host:port`` (0: a free port, see :attr:`port` once started)."""

    def __init__(
        self, app: Starlette, host: str, port: int, trusted_proxies: Sequence[str] = ()
    ) -> None:
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a client could then
        # name any address and escape the login limit. Only configured proxies are believed.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies) or None,
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None
        self.port = port

    async def start(self) -> None:
        """Start serving; return once the socket is bound."""
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # bind failed: raise it here
            await asyncio.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving (open connections are closed)."""
        self.server.should_exit = True
        if self.task is not None:
            await self.task
