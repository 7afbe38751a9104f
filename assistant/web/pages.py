"""What every page of the web app shares: rendering with the session's CSRF token and the
CSP nonce, the logged-in user and their role, the checked form, and refusals as pages.

A route refuses by raising :class:`Denied`, or lets a service's
:class:`~assistant.core.errors.UsageError` through: one about something that does not exist
(a ``LookupError`` too) is a 404, one about something not theirs to do (a
``PermissionError``) a 403, any other a 400; each shows its message, never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..core.errors import UsageError
from ..runtime import Runtime
from .accounts import Accounts, any_account
from .security import csrf_ok, csrf_token

if TYPE_CHECKING:  # the ORM only as a type: entry points call service functions
    from ..store.models import User

PAGES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Health = Callable[[], Awaitable[dict[str, Any]]]


class Denied(Exception):
    """The request may not do this (status and message for the page)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Web:
    """The runtime, the accounts, and the plumbing the pages' handlers share."""

    def __init__(self, runtime: Runtime, accounts: Accounts, health_of: Health) -> None:
        self.runtime, self.accounts, self.health_of = runtime, accounts, health_of

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        """The template ``name`` with the user, the CSRF token and the CSP nonce."""
        user = request.scope.get("followup_user")
        nonce = request.scope.get("csp_nonce", "")
        return PAGES.TemplateResponse(
            request,
            name,
            {"user": user, "csrf": csrf_token(request), "nonce": nonce, **context},
            status_code=status,
        )

    async def denied(self, request: Request, exc: Exception) -> Response:
        """A :class:`Denied` as a page (a login first, for a GET while logged out)."""
        assert isinstance(exc, Denied)
        if exc.status == 401 and request.method == "GET":
            # e.g. a digest's link opened while logged out: log in, then land there.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return self.page(request, "error.html", status=exc.status, message=str(exc))

    async def refused(self, request: Request, exc: Exception) -> Response:
        """A :class:`UsageError` a route let through, as a page with its message."""
        assert isinstance(exc, UsageError)
        status = 404 if isinstance(exc, LookupError) else 400
        status = 403 if isinstance(exc, PermissionError) else status
        return self.page(request, "error.html", status=status, message=str(exc))

    async def user(self, request: Request, role: str | None = None) -> User:
        """The logged-in user (``role`` required when given); else a redirect or 403."""
        user = await self.accounts.user_of(request)
        if user is None:
            if not await any_account():
                raise Denied(403, "No account yet: open /setup to create the first admin.")
            raise Denied(401, "Please log in.")
        if role is not None and user.role != role:
            raise Denied(403, f"Only an {role} may do this.")
        request.scope["followup_user"] = user
        return user

    async def form(self, request: Request) -> dict[str, str]:
        """The posted form, refused when its CSRF token is not this session's."""
        data = await request.form()
        values = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        if not csrf_ok(request, values.get("csrf")):
            raise Denied(403, "This form was not sent from this page (CSRF check failed): refused.")
        return values
