"""The accounts of the web page (admins only): add one, disable, enable, promote, demote or
delete one; the decisions, and the last admin's protection, are :mod:`.accounts`'."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .accounts import AccountError, every_account
from .pages import Web


class PeoplePages:
    """``/people``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def people(self, request: Request) -> Response:
        actor = await self.web.user(request, "admin")
        message = error = None
        if request.method == "POST":
            values = await self.web.form(request)
            try:
                if values.get("action", "add") == "add":
                    message = await self.web.accounts.add(values)
                else:
                    message = await self.web.accounts.change(actor, values)
            except AccountError as exc:
                error = str(exc)
        users = await every_account()
        return self.web.page(request, "people.html", users=users, message=message, error=error)
