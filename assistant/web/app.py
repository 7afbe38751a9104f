"""The web app (Starlette, server-rendered Jinja pages, no JavaScript needed): the routes,
the middleware, and nothing else. Each area's pages are a module of their own
(:mod:`.auth_pages`, :mod:`.thread_pages`, :mod:`.template_pages`, :mod:`.mailbox_pages`,
:mod:`.oauth_pages`, :mod:`.people_pages`, :mod:`.number_pages`, :mod:`.public_pages`);
what they decide and read is in :mod:`assistant.service`.

Who may do what: an **admin** connects mailboxes and edits templates; a **member** sees the
waiting threads and acts (done, snooze, take) on threads they own; both see the numbers and
the audit log. Sessions are signed cookies (a key derived from ``FOLLOWUP_SECRET_KEY``), every
form carries a CSRF token, passwords are argon2 hashes, failed logins are rate-limited per
client address, and credentials are never rendered back (mailbox URLs are shown redacted).
Bad input gets its message in the form; nothing shows a traceback.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Route

from ..core.errors import UsageError
from ..runtime import Runtime
from ..secrets import signing_key
from ..service.http import store_health
from .accounts import SESSION_LIFETIME, Accounts
from .auth_pages import AuthPages
from .headers import SecurityHeaders
from .mailbox_pages import MailboxPages
from .number_pages import NumberPages
from .oauth_pages import OAuthPages
from .pages import Denied, Health, Web
from .people_pages import PeoplePages
from .public_pages import PublicPages
from .security import LoginLimiter
from .template_pages import TemplatePages
from .thread_pages import ThreadPages

BOTH = ["GET", "POST"]


def create_app(runtime: Runtime, health: Health | None = None, exposed: bool = False) -> Starlette:
    """The app; ``health`` answers ``GET /health`` (default: what the store says);
    ``exposed``: reachable from other machines (the first run then asks for a token)."""
    web = Web(
        runtime, Accounts(runtime, LoginLimiter(runtime.clock), exposed), health or store_health
    )
    handlers = {Denied: web.denied, UsageError: web.refused}
    return Starlette(
        routes=routes(web), middleware=middleware(runtime), exception_handlers=handlers
    )


def routes(web: Web) -> list[Route]:
    """Every page, and who answers it."""
    public, auth, threads = PublicPages(web), AuthPages(web), ThreadPages(web)
    templates, mailboxes, oauth = TemplatePages(web), MailboxPages(web), OAuthPages(web)
    people, numbers = PeoplePages(web), NumberPages(web)
    return [
        Route("/health", public.health),
        Route("/digest/unsubscribe", public.unsubscribe, methods=BOTH),
        Route("/setup", auth.setup, methods=BOTH),
        Route("/login", auth.login, methods=BOTH),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/account", auth.account, methods=BOTH),
        Route("/", threads.board),
        Route("/threads/{mailbox}/{thread_id:path}", threads.thread, methods=BOTH),
        Route("/templates", templates.kinds),
        Route("/templates/{kind}", templates.edit, methods=BOTH),
        Route("/templates/{kind}/preview", templates.preview, methods=["POST"]),
        Route("/mailboxes", mailboxes.mailboxes, methods=BOTH),
        Route("/mailboxes/oauth", oauth.start, methods=["POST"]),
        Route("/oauth/callback", oauth.callback),
        Route("/people", people.people, methods=BOTH),
        Route("/numbers", numbers.numbers),
        Route("/audit", numbers.audit),
    ]


def middleware(runtime: Runtime) -> list[Middleware]:
    """Security headers on every response; the session cookie (Secure behind https)."""
    https = runtime.config.web.base_url.lower().startswith("https://")
    return [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=signing_key("web-session").hex(),
            same_site="lax",
            max_age=int(SESSION_LIFETIME.total_seconds()),
            https_only=https,  # the cookie's Secure flag
        ),
    ]
