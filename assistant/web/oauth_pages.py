""" "Connect with Google / Microsoft" on the web page: the authorization code grant with PKCE,
back to ``/oauth/callback``, the tokens stored with a new mailbox or a reconnected one.

The state and the PKCE verifier wait in the store (:class:`OAuthPending`, single use, ten
minutes), so the callback works whichever web process receives it; the callback is only
accepted from the admin who started the sign-in.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.durations import parse_duration
from ..core.team import PatternError, Team
from ..mail.urls import URLError
from ..secrets import decrypt, encrypt
from ..service.mailboxes import MailboxError, add_mailbox, get_mailbox
from ..service.oauth_connect import (
    Client,
    app_token,
    authorization_url,
    exchange_code,
    mail_urls,
    resolve,
    save_grant,
    tested_token,
)
from ..store.models import Mailbox, OAuthGrant, OAuthPending

if TYPE_CHECKING:
    from .app import Web

log = logging.getLogger("followup.web")
PENDING_FOR = timedelta(minutes=10)


class OAuthPages:
    """The sign-in routes; ``web`` gives the session, forms and pages."""

    def __init__(self, web: Web) -> None:
        self.web = web

    @property
    def redirect_uri(self) -> str:
        """Followup's callback, as registered with the provider."""
        return self.web.runtime.config.web.base_url.rstrip("/") + "/oauth/callback"

    async def start(self, request: Request) -> Response:
        """POST: begin a sign-in for a new mailbox (or ``reconnect`` = a mailbox's name)."""
        user = await self.web.user(request, "admin")
        values = await self.web.form(request)
        provider = values.get("provider", "")
        try:
            if values.get("reconnect"):
                box = await get_mailbox(values["reconnect"])
                grant = await OAuthGrant.get_or_none(mailbox_id=box.id)
                provider = grant.provider if grant else provider
                if grant is not None and grant.flow == "app":
                    return _back(result=await self._reconnect_app(box, provider))
                intent: dict[str, Any] = {"reconnect": box.id}
            else:
                intent = _new_mailbox(values)
                if await Mailbox.exists(name=intent["name"]):
                    raise MailboxError(f"a mailbox named {intent['name']!r} exists already")
            client = await resolve(provider, self.web.runtime.config)
            url, state, verifier = authorization_url(client, self.redirect_uri)
        except (MailboxError, URLError, ValueError, PatternError) as exc:
            return _back(error=str(exc))
        now = self.web.runtime.clock.now()
        await OAuthPending.filter(expires_at__lte=now).delete()
        await OAuthPending.create(
            state=state,
            verifier=encrypt(verifier),
            provider=provider,
            intent=intent,
            user_id=user.id,
            created_at=now,
            expires_at=now + PENDING_FOR,
        )
        # A page that moves on by itself, not a 303: the CSP's form-action 'self' would stop
        # a form's redirect to the provider in the browser.
        return self.web.page(request, "oauth_redirect.html", url=url, provider=provider)

    async def callback(self, request: Request) -> Response:
        """GET: the provider's redirect back with a code (or an error)."""
        user = await self.web.user(request, "admin")
        query = request.query_params
        pending = await OAuthPending.get_or_none(state=query.get("state", ""))
        if pending is None or pending.user_id != user.id:
            return _back(error="This sign-in was not started here (or was already used).")
        await pending.delete()  # single use, whatever happens next
        if pending.expires_at <= self.web.runtime.clock.now():
            return _back(error="The sign-in took too long; start it again.")
        if query.get("error"):
            return _back(error=f"The provider refused the sign-in: {query['error']}")
        try:
            client = await resolve(pending.provider, self.web.runtime.config)
            token = await exchange_code(
                client, self.redirect_uri, query.get("code", ""), decrypt(pending.verifier)
            )
            done = await self._finish(client, pending.intent, token)
        except (MailboxError, URLError, ValueError, PatternError) as exc:
            return _back(error=str(exc))
        return _back(result=done)

    async def _reconnect_app(self, box: Mailbox, provider: str) -> str:
        """App-only access needs no person: new client-credentials token, tested, stored."""
        client = await resolve(provider, self.web.runtime.config)
        token = await app_token(client)
        smtp = decrypt(box.smtp_secret) if box.smtp_secret else None
        await tested_token(client, decrypt(box.imap_secret), smtp, token, {})
        await save_grant(box, client, "app", token, self.web.runtime.clock)
        return f"Reconnected {box.name} (app-only access): syncing and sending resume."

    async def _finish(self, client: Client, intent: dict[str, Any], token: dict[str, Any]) -> str:
        clock = self.web.runtime.clock
        if "reconnect" in intent:
            box = await Mailbox.get_or_none(id=int(intent["reconnect"]))
            if box is None:
                raise MailboxError("The mailbox to reconnect was removed meanwhile.")
            smtp_url = decrypt(box.smtp_secret) if box.smtp_secret else None
            # The same check as a new mailbox: signed in as another account, the mail
            # servers refuse the token; the refused grant stays as it was.
            await tested_token(client, decrypt(box.imap_secret), smtp_url, token, {})
            await save_grant(box, client, "user", token, clock)
            return f"Reconnected {box.name}: syncing and sending resume."
        imap, smtp = mail_urls(client, intent["address"])
        check = await tested_token(client, imap, smtp, token, {})
        now = clock.now()
        box = await add_mailbox(
            intent["name"],
            intent["address"],
            imap,
            smtp,
            list(intent["team"]),
            None,
            int(intent["grace"]),
            now,
            None,
            inbox=check.inbox,
        )
        await save_grant(box, client, "user", token, clock)
        return f"Connected {box.name} with {client.name.capitalize()}. It is watched from now on."


def _new_mailbox(values: dict[str, str]) -> dict[str, Any]:
    """What the form asked for, checked before the person is sent to the provider."""
    name, address = values.get("name", "").strip(), values.get("address", "").strip()
    team = [t.strip() for t in values.get("team", "").replace(",", " ").split() if t.strip()]
    if not name or "@" not in address or not team:
        raise MailboxError("Name, shared address and team are needed to connect a mailbox.")
    Team.from_patterns(team, address)  # PatternError: said now, not after the sign-in
    grace = parse_duration(values.get("grace", "").strip() or "2m").real()
    return {"name": name, "address": address, "team": team, "grace": grace.total_seconds()}


def _back(result: str | None = None, error: str | None = None) -> Response:
    """To the mailboxes page, saying how it went."""
    key, text = ("result", result) if result else ("error", error or "")
    return RedirectResponse(f"/mailboxes?{key}={quote(text[:300])}", status_code=303)
