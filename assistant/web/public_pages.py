"""The pages open without an account: ``/health`` for monitors, and a digest's one-click
unsubscribe (its signed link is the permission)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..service.digest import unsubscribe_page
from .pages import Web


class PublicPages:
    """``/health`` and ``/digest/unsubscribe``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def health(self, request: Request) -> Response:
        return JSONResponse(await self.web.health_of())

    async def unsubscribe(self, request: Request) -> Response:
        path = str(request.url.path) + "?" + request.url.query
        now = self.web.runtime.clock.now()
        status, body = await unsubscribe_page(request.method, path, now, self.web.runtime.config)
        return HTMLResponse(body, status_code=int(status.split()[0]))
