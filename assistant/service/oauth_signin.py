"""Connect with Google / Microsoft from the web page: the authorization code grant with PKCE,
back to ``/oauth/callback``, the tokens stored with a new mailbox or a reconnected one.

The state and the PKCE verifier wait in the store (:class:`OAuthPending`, single use, ten
minutes), so the callback works whichever web process receives it; the callback is only
accepted from the admin who started the sign-in. A mailbox with app-only access is
reconnected at once (no person signs in). The steps with the provider are
:mod:`.oauth_connect`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..core.durations import parse_duration
from ..core.team import Team
from ..runtime import Runtime
from ..secrets import decrypt, encrypt
from ..store.models import Mailbox, OAuthGrant, OAuthPending
from .mailboxes import MailboxError, add_mailbox, get_mailbox
from .oauth_connect import (
    Client,
    app_token,
    authorization_url,
    exchange_code,
    mail_urls,
    resolve,
    save_grant,
    tested_token,
)

PENDING_FOR = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SignInRequest:
    """What a Connect button asked for: a new mailbox, or ``reconnect`` (a mailbox's name)."""

    provider: str
    reconnect: str = ""
    name: str = ""
    address: str = ""
    team: tuple[str, ...] = ()
    #: How long to wait for a human reply before acknowledging, e.g. ``2m``.
    grace: str = ""


@dataclass(frozen=True, slots=True)
class Started:
    """The provider's sign-in page to send the person to; or, for app-only access, what was
    done without one (``url`` None)."""

    url: str | None
    provider: str
    done: str = ""


def callback_url(runtime: Runtime) -> str:
    """Followup's callback, as registered with the provider."""
    return runtime.config.web.base_url.rstrip("/") + "/oauth/callback"


async def start_sign_in(runtime: Runtime, user_id: int, asked: SignInRequest) -> Started:
    """Begin a sign-in for ``user_id`` (the state waits in the store); raise a
    :class:`~assistant.core.errors.UsageError` saying what is missing or wrong."""
    provider = asked.provider
    if asked.reconnect:
        box = await get_mailbox(asked.reconnect)
        grant = await OAuthGrant.get_or_none(mailbox_id=box.id)
        provider = grant.provider if grant else provider
        if grant is not None and grant.flow == "app":
            return Started(None, provider, await _reconnect_app(runtime, box, provider))
        intent: dict[str, Any] = {"reconnect": box.id}
    else:
        intent = await _new_mailbox(asked)
    client = await resolve(provider, runtime.config)
    url, state, verifier = authorization_url(client, callback_url(runtime))
    now = runtime.clock.now()
    await OAuthPending.filter(expires_at__lte=now).delete()
    await OAuthPending.create(
        state=state,
        verifier=encrypt(verifier),
        provider=provider,
        intent=intent,
        user_id=user_id,
        created_at=now,
        expires_at=now + PENDING_FOR,
    )
    return Started(url, provider)


async def finish_sign_in(
    runtime: Runtime, user_id: int, state: str, code: str, refused: str | None
) -> str:
    """The provider's redirect back (its ``state``, and a ``code`` or why it ``refused``):
    the tokens exchanged, tested and stored; what was done. Raises
    :class:`~assistant.core.errors.UsageError` (or ``ValueError``) saying why not."""
    pending = await OAuthPending.get_or_none(state=state)
    if pending is None or pending.user_id != user_id:
        raise MailboxError("This sign-in was not started here (or was already used).")
    await pending.delete()  # single use, whatever happens next
    if pending.expires_at <= runtime.clock.now():
        raise MailboxError("The sign-in took too long; start it again.")
    if refused:
        raise MailboxError(f"The provider refused the sign-in: {refused}")
    client = await resolve(pending.provider, runtime.config)
    verifier = decrypt(pending.verifier)
    token = await exchange_code(client, callback_url(runtime), code, verifier)
    if "reconnect" in pending.intent:
        return await _reconnect(runtime, client, int(pending.intent["reconnect"]), token)
    return await _connect(runtime, client, pending.intent, token)


async def _new_mailbox(asked: SignInRequest) -> dict[str, Any]:
    """What the form asked for, checked before the person is sent to the provider."""
    if not asked.name or "@" not in asked.address or not asked.team:
        raise MailboxError("Name, shared address and team are needed to connect a mailbox.")
    Team.from_patterns(list(asked.team), asked.address)  # PatternError: said now, not later
    grace = parse_duration(asked.grace or "2m").real()
    if await Mailbox.exists(name=asked.name):
        raise MailboxError(f"a mailbox named {asked.name!r} exists already")
    return {
        "name": asked.name,
        "address": asked.address,
        "team": list(asked.team),
        "grace": grace.total_seconds(),
    }


async def _reconnect_app(runtime: Runtime, box: Mailbox, provider: str) -> str:
    """App-only access needs no person: new client-credentials token, tested, stored."""
    client = await resolve(provider, runtime.config)
    token = await app_token(client)
    smtp = decrypt(box.smtp_secret) if box.smtp_secret else None
    await tested_token(client, decrypt(box.imap_secret), smtp, token, {})
    await save_grant(box, client, "app", token, runtime.clock)
    return f"Reconnected {box.name} (app-only access): syncing and sending resume."


async def _reconnect(runtime: Runtime, client: Client, box_id: int, token: dict[str, Any]) -> str:
    box = await Mailbox.get_or_none(id=box_id)
    if box is None:
        raise MailboxError("The mailbox to reconnect was removed meanwhile.")
    smtp_url = decrypt(box.smtp_secret) if box.smtp_secret else None
    # The same check as a new mailbox: signed in as another account, the mail servers
    # refuse the token; the refused grant stays as it was.
    await tested_token(client, decrypt(box.imap_secret), smtp_url, token, {})
    await save_grant(box, client, "user", token, runtime.clock)
    return f"Reconnected {box.name}: syncing and sending resume."


async def _connect(
    runtime: Runtime, client: Client, intent: dict[str, Any], token: dict[str, Any]
) -> str:
    imap, smtp = mail_urls(client, intent["address"])
    check = await tested_token(client, imap, smtp, token, {})
    box = await add_mailbox(
        intent["name"],
        intent["address"],
        imap,
        smtp,
        list(intent["team"]),
        None,
        int(intent["grace"]),
        runtime.clock.now(),
        None,
        inbox=check.inbox,
    )
    await save_grant(box, client, "user", token, runtime.clock)
    return f"Connected {box.name} with {client.name.capitalize()}. It is watched from now on."
