""" "Connect with Google / Microsoft" on the web page: the button that starts a sign-in (for a
new mailbox, or Reconnect for one whose sign-in was refused) and ``/oauth/callback``, where
the provider sends the person back. What happens is :mod:`assistant.service.oauth_signin`'s;
both end on the Mailboxes page saying how it went.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import UsageError
from ..service.mailbox_admin import team_patterns
from ..service.oauth_signin import SignInRequest, finish_sign_in, start_sign_in
from .pages import Web


class OAuthPages:
    """The sign-in routes; ``web`` gives the session, forms and pages."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def start(self, request: Request) -> Response:
        """POST: begin a sign-in for a new mailbox (or ``reconnect`` = a mailbox's name)."""
        user = await self.web.user(request, "admin")
        values = await self.web.form(request)
        try:
            started = await start_sign_in(self.web.runtime, user.id, _asked(values))
        except (UsageError, ValueError) as exc:  # ours; a provider's answer that does not parse
            return _back(error=str(exc))
        if started.url is None:
            return _back(result=started.done)
        # A page that moves on by itself, not a 303: the CSP's form-action 'self' would stop
        # a form's redirect to the provider in the browser.
        return self.web.page(
            request, "oauth_redirect.html", url=started.url, provider=started.provider
        )

    async def callback(self, request: Request) -> Response:
        """GET: the provider's redirect back with a code (or an error)."""
        user = await self.web.user(request, "admin")
        query = request.query_params
        state, code = query.get("state", ""), query.get("code", "")
        try:
            done = await finish_sign_in(self.web.runtime, user.id, state, code, query.get("error"))
        except (UsageError, ValueError) as exc:  # ours; a provider's answer that does not parse
            return _back(error=str(exc))
        return _back(result=done)


def _asked(values: dict[str, str]) -> SignInRequest:
    """The form's fields, trimmed."""
    return SignInRequest(
        provider=values.get("provider", ""),
        reconnect=values.get("reconnect", ""),
        name=values.get("name", "").strip(),
        address=values.get("address", "").strip(),
        team=tuple(team_patterns(values.get("team", ""))),
        grace=values.get("grace", "").strip(),
    )


def _back(result: str | None = None, error: str | None = None) -> Response:
    """To the mailboxes page, saying how it went."""
    key, text = ("result", result) if result else ("error", error or "")
    return RedirectResponse(f"/mailboxes?{key}={quote(text[:300])}", status_code=303)
