"""What every logged-in person may read: the numbers (first response per week, automatic
mail sent) and the audit log of what Followup sent or decided not to send."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..service.numbers import audit_log, numbers
from .pages import Web


class NumberPages:
    """``/numbers`` and ``/audit``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def numbers(self, request: Request) -> Response:
        await self.web.user(request)
        shown = await numbers(self.web.runtime.clock.now())
        return self.web.page(
            request, "numbers.html", table=shown.table, top=shown.top, sent=shown.sent
        )

    async def audit(self, request: Request) -> Response:
        await self.web.user(request)
        return self.web.page(request, "audit.html", rows=await audit_log())
