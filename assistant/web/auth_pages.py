"""Getting in and out: the first run's admin, logging in (and back to the page asked for),
logging out, and changing one's own password. The decisions are :mod:`.accounts`'."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .accounts import AccountError, any_account, redirect
from .pages import Web


class AuthPages:
    """``/setup``, ``/login``, ``/logout`` and ``/account``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def setup(self, request: Request) -> Response:
        """The first admin (once; then this page sends to the login)."""
        if await any_account():
            return redirect("/login")
        error = None
        if request.method == "POST":
            user, error = await self.web.accounts.create_first_admin(await self.web.form(request))
            if user is not None:
                await self.web.accounts.open(request, user)
                return redirect("/mailboxes")
        token = self.web.accounts.setup_token is not None
        return self.web.page(request, "setup.html", error=error, needs_token=token)

    async def login(self, request: Request) -> Response:
        if not await any_account():
            return redirect("/setup")
        error, status = None, 200
        target = _local(request.query_params.get("next", ""))
        if request.method == "POST":
            values = await self.web.form(request)
            target = _local(values.get("next", ""))
            where = request.client.host if request.client else "?"
            error = await self.web.accounts.log_in(request, values, where)
            if error is None:
                return redirect(target)
            status = 429 if error.startswith("Too many") else 401
        return self.web.page(request, "login.html", status=status, error=error, next=target)

    async def logout(self, request: Request) -> Response:
        await self.web.form(request)
        await self.web.accounts.close(request)
        return redirect("/login")

    async def account(self, request: Request) -> Response:
        """Change one's own password."""
        user = await self.web.user(request)
        message = error = None
        if request.method == "POST":
            values = await self.web.form(request)
            try:
                message = await self.web.accounts.change_password(request, user, values)
            except AccountError as exc:
                error = str(exc)
        return self.web.page(request, "account.html", message=message, error=error)


def _local(target: str) -> str:
    """A path on this site to go to after login (never another site: no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
