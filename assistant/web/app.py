"""The web app (Starlette, server-rendered Jinja pages, no JavaScript needed).

Who may do what: an **admin** connects mailboxes and edits templates; a **member** sees the
waiting threads and acts (done, snooze, take) on threads they own; both see the numbers and
the audit log. Sessions are signed cookies (a key derived from ``FOLLOWUP_SECRET_KEY``), every
form carries a CSRF token, passwords are argon2 hashes, failed logins are rate-limited per
client address, and credentials are never rendered back (mailbox URLs are shown redacted).
Bad input gets its message in the form; nothing shows a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import statistics
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..core.commands import Command, CommandError, parse_command
from ..core.compose import Notice, compose_notice
from ..core.digest import business_hours
from ..core.durations import parse_duration
from ..core.ladder import promised_reply
from ..core.model import Address
from ..core.state import State, ThreadState
from ..core.team import PatternError
from ..mail.imap import ConnectError
from ..mail.smtp import SendError
from ..mail.urls import URLError, redact
from ..render import renderer_for
from ..runtime import Runtime
from ..secrets import decrypt, signing_key
from ..service import credentials
from ..service.actions import apply_action
from ..service.digest import unsubscribe_page
from ..service.http import store_health
from ..service.mailboxes import (
    MailboxError,
    add_mailbox,
    check_connection,
    failing_text,
    parse_urls,
)
from ..service.oauth_tokens import needing_reauth
from ..service.people import everyone
from ..service.templates import (
    KINDS,
    SAMPLE,
    TemplateCheckError,
    current_sources,
    diff,
    rollback,
    save,
)
from ..service.timeline import TimelineError, timeline
from ..store.models import (
    Mailbox,
    OutboxItem,
    Quarantine,
    TemplateVersion,
    ThreadRecord,
    User,
)
from .accounts import SESSION_LIFETIME, AccountError, Accounts, redirect
from .find_servers import found_servers, with_passwords
from .headers import SecurityHeaders
from .oauth_pages import OAuthPages
from .security import LoginLimiter, csrf_ok, csrf_token

PAGES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Health = Callable[[], Awaitable[dict[str, Any]]]

log = logging.getLogger("followup.web")


class Denied(Exception):
    """The request may not do this (status and message for the page)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(runtime: Runtime, health: Health | None = None, exposed: bool = False) -> Starlette:
    """The app; ``health`` answers ``GET /health`` (default: what the store says);
    ``exposed``: reachable from other machines (the first run then asks for a token)."""
    limiter = LoginLimiter(runtime.clock)
    web = Web(runtime, Accounts(runtime, limiter, exposed), health or store_health)
    oauth_pages = OAuthPages(web)
    routes = [
        Route("/health", web.health),
        Route("/digest/unsubscribe", web.unsubscribe, methods=["GET", "POST"]),
        Route("/setup", web.setup, methods=["GET", "POST"]),
        Route("/login", web.login, methods=["GET", "POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/", web.threads),
        Route("/threads/{mailbox}/{thread_id:path}", web.thread, methods=["GET", "POST"]),
        Route("/templates", web.templates),
        Route("/templates/{kind}", web.template_edit, methods=["GET", "POST"]),
        Route("/templates/{kind}/preview", web.template_preview, methods=["POST"]),
        Route("/mailboxes", web.mailboxes, methods=["GET", "POST"]),
        Route("/mailboxes/oauth", oauth_pages.start, methods=["POST"]),
        Route("/oauth/callback", oauth_pages.callback),
        Route("/people", web.people, methods=["GET", "POST"]),
        Route("/account", web.account, methods=["GET", "POST"]),
        Route("/numbers", web.numbers),
        Route("/audit", web.audit),
    ]
    secret = signing_key("web-session").hex()
    https = runtime.config.web.base_url.lower().startswith("https://")
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            same_site="lax",
            max_age=int(SESSION_LIFETIME.total_seconds()),
            https_only=https,  # the cookie's Secure flag
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={Denied: web.denied})


class Web:
    """The request handlers."""

    def __init__(self, runtime: Runtime, accounts: Accounts, health_of: Health) -> None:
        self.runtime, self.accounts, self.health_of = runtime, accounts, health_of

    # --- plumbing ---

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        user = request.scope.get("followup_user")
        nonce = request.scope.get("csp_nonce", "")
        return PAGES.TemplateResponse(
            request,
            name,
            {"user": user, "csrf": csrf_token(request), "nonce": nonce, **context},
            status_code=status,
        )

    async def denied(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Denied)
        if exc.status == 401 and request.method == "GET":
            # e.g. a digest's link opened while logged out: log in, then land there.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return self.page(request, "error.html", status=exc.status, message=str(exc))

    async def user(self, request: Request, role: str | None = None) -> User:
        """The logged-in user (``role`` required when given); else a redirect or 403."""
        user = await self.accounts.user_of(request)
        if user is None:
            if not await User.exists():
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

    # --- public ---

    async def health(self, request: Request) -> Response:
        return JSONResponse(await self.health_of())

    async def unsubscribe(self, request: Request) -> Response:
        path = str(request.url.path) + "?" + request.url.query
        status, body = await unsubscribe_page(
            request.method, path, self.runtime.clock.now(), self.runtime.config
        )
        return HTMLResponse(body, status_code=int(status.split()[0]))

    async def setup(self, request: Request) -> Response:
        if await User.exists():
            return redirect("/login")
        error = None
        if request.method == "POST":
            user, error = await self.accounts.create_first_admin(await self.form(request))
            if user is not None:
                await self.accounts.open(request, user)
                return redirect("/mailboxes")
        token = self.accounts.setup_token is not None
        return self.page(request, "setup.html", error=error, needs_token=token)

    async def login(self, request: Request) -> Response:
        if not await User.exists():
            return redirect("/setup")
        error, status = None, 200
        target = _local(request.query_params.get("next", ""))
        if request.method == "POST":
            values = await self.form(request)
            target = _local(values.get("next", ""))
            where = request.client.host if request.client else "?"
            error = await self.accounts.log_in(request, values, where)
            if error is None:
                return redirect(target)
            status = 429 if error.startswith("Too many") else 401
        return self.page(request, "login.html", status=status, error=error, next=target)

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        await self.accounts.close(request)
        return redirect("/login")

    async def account(self, request: Request) -> Response:
        """Change one's own password."""
        user = await self.user(request)
        message = error = None
        if request.method == "POST":
            try:
                message = await self.accounts.change_password(
                    request, user, await self.form(request)
                )
            except AccountError as exc:
                error = str(exc)
        return self.page(request, "account.html", message=message, error=error)

    # --- threads ---

    async def threads(self, request: Request) -> Response:
        if not await User.exists():
            return RedirectResponse("/setup", status_code=303)
        try:
            await self.user(request)
        except Denied as exc:
            if exc.status == 401:
                return RedirectResponse("/login", status_code=303)
            raise
        wanted_box = request.query_params.get("mailbox") or None
        wanted_owner = request.query_params.get("owner") or None
        now = self.runtime.clock.now()
        people = await everyone(self.runtime.config)
        rows: list[dict[str, Any]] = []
        boxes = await Mailbox.all().order_by("name")
        for box in boxes:
            if wanted_box and box.name != wanted_box:
                continue
            policy = self.runtime.policy(box, people)
            query = ThreadRecord.filter(mailbox=box, state=str(State.AWAITING_TEAM))
            if wanted_owner:
                query = query.filter(owner=wanted_owner)
            for record in await query.order_by("waiting_since"):
                if record.waiting_since is None:
                    continue
                deadline = promised_reply(
                    ThreadState(State.AWAITING_TEAM, waiting_since=record.waiting_since),
                    policy.ladder,
                    policy.calendar,
                )
                step = (
                    await OutboxItem.filter(
                        mailbox=box, thread_id=record.thread_id, status="pending"
                    )
                    .order_by("due_at")
                    .first()
                )
                rows.append(
                    {
                        "mailbox": box.name,
                        "record": record,
                        "waiting": business_hours(
                            policy.calendar.elapsed(record.waiting_since, now)
                        ),
                        "deadline": deadline,
                        "overdue": deadline is not None and deadline < now,
                        "step": step.rule if step else "",
                        "owner": people[record.owner].label
                        if record.owner in people
                        else record.owner,
                    }
                )
        owners = sorted({str(r["record"].owner) for r in rows if r["record"].owner})
        return self.page(
            request,
            "threads.html",
            rows=rows,
            boxes=boxes,
            owners=owners,
            mailbox=wanted_box,
            owner=wanted_owner,
        )

    async def thread(self, request: Request) -> Response:
        user = await self.user(request)
        name, thread_id = request.path_params["mailbox"], request.path_params["thread_id"]
        message, error = None, None
        if request.method == "POST":
            values = await self.form(request)
            message, error = await self._act(user, name, thread_id, values)
        try:
            story = await timeline(thread_id, name)
        except TimelineError as exc:
            raise Denied(404, str(exc)) from None
        people = await everyone(self.runtime.config)
        return self.page(
            request,
            "thread.html",
            story=story,
            people=sorted(people),
            message=message,
            error=error,
            may_act=user.role == "admin" or story.record.owner == user.email,
        )

    async def _act(
        self, user: User, name: str, thread_id: str, values: dict[str, str]
    ) -> tuple[str | None, str | None]:
        box = await Mailbox.get_or_none(name=name)
        record = await ThreadRecord.get_or_none(mailbox=box, thread_id=thread_id) if box else None
        if box is None or record is None:
            raise Denied(404, "No such thread.")
        if user.role != "admin" and record.owner != user.email and values.get("action") != "take":
            raise Denied(403, "Members act on their own threads (or take one).")
        line = {"done": "done", "take": "take"}.get(values.get("action", ""))
        if values.get("action") == "snooze":
            line = f"snooze {values.get('value', '').strip()}"
        elif values.get("action") == "assign":
            line = f"assign {values.get('value', '').strip()}"
        try:
            command: Command = parse_command(line or "")
            people = await everyone(self.runtime.config)
            answer = await apply_action(
                self.runtime,
                box,
                record,
                command,
                user.email,
                self.runtime.clock.now(),
                people,
                "web",
            )
        except CommandError as exc:
            return None, str(exc).split(" Reply with one of these")[0]
        return answer, None

    # --- templates ---

    async def templates(self, request: Request) -> Response:
        await self.user(request, "admin")
        versions = {k: await TemplateVersion.filter(kind=k, mailbox=None).count() for k in KINDS}
        return self.page(request, "templates.html", kinds=KINDS, versions=versions)

    async def _scope(self, request: Request) -> Mailbox | None:
        """The mailbox whose own templates are edited (``?mailbox=NAME``), else None: all."""
        name = request.query_params.get("mailbox")
        if not name:
            return None
        box = await Mailbox.get_or_none(name=name)
        if box is None:
            raise Denied(404, f"No mailbox named {name!r}.")
        return box

    async def template_edit(self, request: Request) -> Response:
        user = await self.user(request, "admin")
        kind = request.path_params["kind"]
        if kind not in KINDS:
            raise Denied(404, f"No template kind {kind!r}.")
        scope = await self._scope(request)
        problems: list[str] = []
        message = None
        sources = await current_sources(kind, scope)
        if request.method == "POST":
            values = await self.form(request)
            if values.get("rollback"):
                version = await rollback(
                    values["rollback"], user.email, kind, scope, self.runtime.clock.now()
                )
                if version is None:
                    problems = ["That version does not exist for this template."]
                else:
                    message = f"Rolled back: version {version.id} is now in use."
                    sources = (version.subject, version.text, version.html)
            elif values.get("test"):
                context = await self._preview_context(request.query_params.get("thread"), scope)
                message = await self._send_test(kind, sources, context, user.email)
            else:
                edited = (values.get("subject", ""), values.get("text", ""), values.get("html", ""))
                try:
                    version = await save(
                        kind,
                        edited,
                        user.email,
                        self.runtime.clock.now(),
                        scope,
                        contexts=await self._real_contexts(scope),
                    )
                    where = f" in {scope.name}" if scope else ""
                    message = f"Saved as version {version.id}: the next {kind} mail{where} uses it."
                    sources = edited
                except TemplateCheckError as exc:
                    problems, sources = exc.problems, edited
        context = await self._preview_context(request.query_params.get("thread"), scope)
        preview = None
        if not problems:  # bounded, and off the event loop: other requests go on meanwhile
            preview = await asyncio.to_thread(renderer_for(None).render, kind, context, sources)
        history = await TemplateVersion.filter(kind=kind, mailbox=scope).order_by("-id").limit(20)
        diffs = []
        for newer, older in zip(history, [*history[1:], None], strict=False):
            before = (older.subject, older.text, older.html) if older else ("", "", "")
            diffs.append((newer, diff(before, (newer.subject, newer.text, newer.html))))
        waiting = ThreadRecord.filter(state=str(State.AWAITING_TEAM))
        if scope is not None:
            waiting = waiting.filter(mailbox=scope)
        return self.page(
            request,
            "template_edit.html",
            kind=kind,
            sources=sources,
            problems=problems,
            message=message,
            preview=preview,
            diffs=diffs,
            threads=await waiting.order_by("-id").limit(20),
            scope=scope,
            boxes=await Mailbox.all().order_by("name"),
            query=("?mailbox=" + quote(scope.name, safe="")) if scope else "",
        )

    async def template_preview(self, request: Request) -> Response:
        """The preview fragment for what is in the editor now (the page's live preview)."""
        await self.user(request, "admin")
        kind = request.path_params["kind"]
        if kind not in KINDS:
            raise Denied(404, f"No template kind {kind!r}.")
        values = await self.form(request)
        sources = (values.get("subject", ""), values.get("text", ""), values.get("html", ""))
        renderer = renderer_for(None)
        context = await self._preview_context(values.get("thread"), await self._scope(request))
        problems = await asyncio.to_thread(renderer.check, sources, context)
        preview = None
        if not problems:
            preview = await asyncio.to_thread(renderer.render, kind, context, sources)
        return PAGES.TemplateResponse(
            request, "preview.html", {"preview": preview, "problems": problems}
        )

    async def _send_test(
        self, kind: str, sources: tuple[str, str, str], context: dict[str, Any], to: str
    ) -> str:
        """Send the template in use, rendered for the preview thread, to ``to``."""
        box = await Mailbox.filter(smtp_secret__not_isnull=True).order_by("id").first()
        if box is None or box.smtp_secret is None:
            return "No mailbox with an SMTP URL to send the test from: connect one first."
        rendered = renderer_for(None).render(kind, context, sources)
        note = Notice(
            sender=Address(
                box.address, f"{self.runtime.config.messages.team_name} (Followup test)"
            ),
            recipient=Address(to),
            reply_to=box.address,
            message_id=f"followup.test.{secrets.token_hex(8)}@{box.address.rpartition('@')[2]}",
            key=f"test:{kind}",
            kind=f"test_{kind}",
            date=self.runtime.clock.now(),
        )
        msg = compose_notice(note, f"[test] {rendered.subject}", rendered.text, rendered.html)
        try:
            sender = await credentials.smtp_sender(box, self.runtime.clock)
        except (SendError, ConnectError) as exc:
            return f"The test could not be sent: {exc}"
        try:
            await sender.send(msg, box.address, [to])
        except SendError as exc:
            return f"The test could not be sent: {exc}"
        finally:
            await sender.close()
        return f"Test sent to {to} from {box.name}."

    async def _real_contexts(self, scope: Mailbox | None, most: int = 3) -> list[dict[str, Any]]:
        """The preview contexts of the newest few waiting threads (what a save is checked
        against besides the sample and the edge values)."""
        query = ThreadRecord.filter(state=str(State.AWAITING_TEAM))
        if scope is not None:
            query = query.filter(mailbox=scope)
        ids = await query.order_by("-id").limit(most).values_list("thread_id", flat=True)
        return [await self._preview_context(str(t), scope) for t in ids]

    async def _preview_context(
        self, thread_key: str | None, scope: Mailbox | None = None
    ) -> dict[str, Any]:
        """SAMPLE with the values of a real waiting thread (the newest of the mailbox, or
        the chosen one)."""
        query = ThreadRecord.filter(state=str(State.AWAITING_TEAM))
        if scope is not None:
            query = query.filter(mailbox=scope)
        if thread_key:
            query = query.filter(thread_id=thread_key)
        record = await query.order_by("-id").prefetch_related("mailbox").first()
        context = dict(SAMPLE)
        if record is not None:
            people = await everyone(self.runtime.config)
            owner = people.get(record.owner or "")
            context.update(
                client_email=record.client or "",
                client_name="",
                thread_subject=record.subject,
                owner_name=owner.label if owner else (record.owner or ""),
                owner_email=record.owner or "",
                mailbox_address=record.mailbox.address,
            )
        return context

    # --- mailboxes ---

    async def mailboxes(self, request: Request) -> Response:
        await self.user(request, "admin")
        result, error, form = request.query_params.get("result"), None, {}
        error = request.query_params.get("error")
        reauth = await needing_reauth()
        found: dict[str, Any] | None = None
        if request.method == "POST":
            values = await self.form(request)
            secret = ("csrf", "imap", "smtp", "password")
            form = {k: v for k, v in values.items() if k not in secret}
            if values.get("action") == "find":  # connect by address: look the servers up
                found, error = await found_servers(values.get("address", ""), self.runtime)
            else:
                result, error = await self._connect(with_passwords(values))
        boxes = [
            {
                "name": m.name,
                "address": m.address,
                "imap": _safe_url(m.imap_secret),
                "paused": m.paused_reason,
                "failing": failing_text(m),
                "reauth": reauth.get(m.id),
                # Messages Followup could not handle, with why (the rest went on without them).
                "quarantined": await Quarantine.filter(mailbox=m).order_by("-id").limit(20),
            }
            for m in await Mailbox.all().order_by("name")
        ]
        return self.page(
            request,
            "mailboxes.html",
            boxes=boxes,
            result=result,
            error=error,
            form=form,
            found=found,
            providers=sorted(self.runtime.config.oauth),
        )

    async def _connect(self, values: dict[str, str]) -> tuple[str | None, str | None]:
        name = values.get("name", "").strip()
        team = [t.strip() for t in values.get("team", "").replace(",", " ").split() if t.strip()]
        try:
            imap, smtp = parse_urls(
                values.get("imap", "").strip(),
                values.get("smtp", "").strip() or None,
                from_web=True,
            )
            check = await check_connection(imap, smtp)
            if not check.ok:
                if check.imap_error:
                    return None, f"IMAP ({check.imap_error_kind}): {check.imap_error}"
                if check.smtp_error:
                    return None, f"SMTP: {check.smtp_error}"
                return None, "; ".join(check.problems)
            grace = parse_duration(values.get("grace", "").strip() or "2m").real()
            await add_mailbox(
                name,
                values.get("address", "").strip(),
                values["imap"].strip(),
                values.get("smtp", "").strip() or None,
                team,
                None,
                int(grace.total_seconds()),
                self.runtime.clock.now(),
                None,
            )
        except (URLError, MailboxError, ValueError, PatternError) as exc:
            return None, str(exc)
        except Exception as exc:  # anything else a test meets: a message, never a 500
            log.warning("connection test failed", extra={"error": repr(exc)})
            return None, "the connection test failed; see the service log"
        folders = ", ".join(f"{n} ({role})" for n, role in check.folders)
        return f"Connected {name}: folders {folders}. It is watched from now on.", None

    # --- people ---

    async def people(self, request: Request) -> Response:
        actor = await self.user(request, "admin")
        message = error = None
        if request.method == "POST":
            values = await self.form(request)
            try:
                if values.get("action", "add") == "add":
                    message = await self.accounts.add(values)
                else:
                    message = await self.accounts.change(actor, values)
            except AccountError as exc:
                error = str(exc)
        users = await User.all().order_by("email")
        return self.page(request, "people.html", users=users, message=message, error=error)

    # --- numbers and audit ---

    async def numbers(self, request: Request) -> Response:
        await self.user(request)
        since = self.runtime.clock.now() - timedelta(weeks=8)
        rows: dict[tuple[str, str, str], list[int]] = {}
        for record in await ThreadRecord.filter(
            answered_at__gte=since, first_response_s__not_isnull=True
        ).prefetch_related("mailbox"):
            assert record.answered_at is not None
            week = record.answered_at.strftime("%G-W%V")
            for key in (
                (week, "mailbox", record.mailbox.name),
                (week, "owner", record.owner or "(nobody)"),
            ):
                rows.setdefault(key, []).append(record.first_response_s or 0)
        table: list[dict[str, Any]] = []
        for (week, by, who), values in sorted(rows.items()):
            ordered = sorted(values)
            p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
            table.append(
                {
                    "week": week,
                    "by": by,
                    "who": who,
                    "count": len(values),
                    "median_h": statistics.median(values) / 3600,
                    "p90_h": p90 / 3600,
                }
            )
        top = max((float(r["p90_h"]) for r in table), default=1.0) or 1.0
        sent = {
            kind: await OutboxItem.filter(kind=kind, status="sent", sent_at__gte=since).count()
            for kind in KINDS
            if kind != "command_reply"
        }
        return self.page(request, "numbers.html", table=table, top=top, sent=sent)

    async def audit(self, request: Request) -> Response:
        await self.user(request)
        rows = (
            await OutboxItem.exclude(status="pending")
            .order_by("-id")
            .limit(200)
            .prefetch_related("mailbox")
        )
        return self.page(request, "audit.html", rows=rows)


def _local(target: str) -> str:
    """A path on this site to go to after login (never another site: no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _safe_url(secret: str) -> str:
    """A stored mailbox URL without its password, or a placeholder."""
    try:
        return redact(decrypt(secret))
    except Exception:
        return "(cannot be read with this key)"
