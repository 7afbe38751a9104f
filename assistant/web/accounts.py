"""Accounts of the web page: the first admin, logging in and out, sessions, managing accounts.

- **Sessions live in the store** (:class:`~assistant.store.models.WebSession`); the signed
  cookie carries only a random token. A session ends at logout, when its account is disabled,
  demoted or deleted, when its password changes, and :data:`SESSION_LIFETIME` after login
  whatever happens (use never extends it).
- **Logging in costs the same** for a known address, an unknown one and a disabled account
  (an argon2 check against a stand-in hash), off the event loop; attempts are counted per
  client address and per account *before* the check, so parallel guesses are refused too.
- **The first admin** is created once: setup is serialised, and when the page is reachable
  from other machines it also asks for a one-time token printed in the service's log.
- **Admins** add, disable, enable, promote, demote and delete accounts, never the last active
  admin; everyone changes their own password.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import UsageError
from ..runtime import Runtime
from ..store.models import User, WebSession
from .security import LoginLimiter, check_password, hash_password, password_problem

log = logging.getLogger("followup.web")

SESSION_LIFETIME = timedelta(hours=8)
ROLES = ("admin", "member")


@functools.lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    """An argon2 hash of a random password: checked when the account does not exist, so an
    unknown address costs what a known one does."""
    return hash_password(secrets.token_urlsafe(24))


async def verify(user: User | None, password: str) -> bool:
    """Check ``password`` for ``user`` with the same work whoever asks (off the loop)."""
    stored = user.password_hash if user is not None else _stand_in_hash()
    good = await asyncio.to_thread(check_password, stored, password)
    return good and user is not None and not user.disabled


class Accounts:
    """Sessions and the account pages' decisions; the pages' handlers call these."""

    def __init__(self, runtime: Runtime, limiter: LoginLimiter, exposed: bool) -> None:
        self.runtime, self.limiter = runtime, limiter
        self._setup = asyncio.Lock()
        #: Asked for at first run when the page is reachable from other machines.
        self.setup_token = secrets.token_urlsafe(16) if exposed else None
        if self.setup_token:
            log.warning(
                "first run: the setup page asks for this token", extra={"token": self.setup_token}
            )

    # --- sessions ---

    async def open(self, request: Request, user: User) -> None:
        """Start a session for ``user`` (a fresh token: no fixation)."""
        now = self.runtime.clock.now()
        await self.close(request)
        token = secrets.token_urlsafe(32)
        await WebSession.create(
            token=token, user=user, created_at=now, expires_at=now + SESSION_LIFETIME
        )
        request.session["sid"] = token

    async def user_of(self, request: Request) -> User | None:
        """The session's user: None when there is no session, it ended, or expired."""
        token = request.session.get("sid")
        if not isinstance(token, str):
            return None
        row = await WebSession.get_or_none(token=token).prefetch_related("user")
        if row is None or row.expires_at <= self.runtime.clock.now() or row.user.disabled:
            return None
        return row.user

    async def close(self, request: Request) -> None:
        """End this browser's session (the row goes: the cookie is worth nothing after)."""
        token = request.session.get("sid")
        if isinstance(token, str):
            await WebSession.filter(token=token).delete()
        request.session.clear()

    # --- first run and login ---

    async def create_first_admin(self, values: dict[str, str]) -> tuple[User | None, str | None]:
        """The first admin, exactly once; ``(None, why)`` when refused."""
        email = values.get("email", "").strip().lower()
        error = password_problem(values.get("password", ""), values.get("confirm", ""))
        if "@" not in email:
            error = "Enter your email address."
        if self.setup_token and not hmac.compare_digest(
            values.get("token", "").strip().encode(), self.setup_token.encode()
        ):
            error = "Enter the setup token printed in the service's log."
        if error is not None:
            return None, error
        async with self._setup:  # parallel first runs: one admin, the others are told
            if await User.exists():
                return None, "An admin exists already: log in."
            user = await User.create(
                email=email,
                password_hash=await asyncio.to_thread(hash_password, values["password"]),
                role="admin",
                created_at=self.runtime.clock.now(),
            )
        return user, None

    async def log_in(self, request: Request, values: dict[str, str], where: str) -> str | None:
        """Check a login; None when it succeeded (a session is open), else the message."""
        email = values.get("email", "").strip().lower()[:320]
        keys = [f"address:{where}", f"account:{email}"]
        if not self.limiter.reserve(keys):
            return "Too many failed logins: wait a few minutes."
        user = await User.get_or_none(email=email)
        if not await verify(user, values.get("password", "")):
            return "Wrong email or password."
        assert user is not None
        self.limiter.succeeded(keys)
        await self.open(request, user)
        return None

    # --- managing accounts ---

    async def change_password(self, request: Request, user: User, values: dict[str, str]) -> str:
        """Change ``user``'s own password; every other session of theirs ends."""
        if not await verify(user, values.get("current", "")):
            raise AccountError("The current password is wrong.")
        problem = password_problem(values.get("password", ""), values.get("confirm", ""))
        if problem:
            raise AccountError(problem)
        user.password_hash = await asyncio.to_thread(hash_password, values["password"])
        await user.save(update_fields=["password_hash"])
        await WebSession.filter(user_id=user.id).delete()
        await self.open(request, user)
        return "Password changed; your other sessions have ended."

    async def add(self, values: dict[str, str]) -> str:
        """An admin adds an account."""
        email = values.get("email", "").strip().lower()
        role = values.get("role", "member")
        problem = password_problem(values.get("password", ""), values.get("password", ""))
        if "@" not in email or role not in ROLES:
            raise AccountError("Enter an email address and a role.")
        if problem:
            raise AccountError(problem)
        if await User.exists(email=email):
            raise AccountError(f"{email} already has an account.")
        await User.create(
            email=email,
            password_hash=await asyncio.to_thread(hash_password, values["password"]),
            role=role,
            created_at=self.runtime.clock.now(),
        )
        return f"{email} can log in now ({role}); give them the password in person."

    async def change(self, actor: User, values: dict[str, str]) -> str:
        """An admin disables, enables, promotes, demotes or deletes an account."""
        action = values.get("action", "")
        target = await User.get_or_none(id=_int(values.get("user_id")))
        if target is None or action not in CHANGES:
            raise AccountError("No such account or action.")
        field, value = CHANGES[action]
        takes_admin = action in ("disable", "demote", "delete") and target.role == "admin"
        if takes_admin and await _active_admins(except_id=target.id) == 0:
            raise AccountError("That would leave no active admin.")
        if action == "delete":
            await target.delete()
            return f"{target.email} is deleted."
        setattr(target, field, value)
        await target.save(update_fields=[field])
        if action in ("disable", "demote"):
            await WebSession.filter(user_id=target.id).delete()  # their sessions end now
        log.info(
            "account changed", extra={"by": actor.email, "account": target.email, "action": action}
        )
        return f"{target.email}: {action} done."


class AccountError(UsageError, ValueError):
    """An account change that is refused; the text is for the page."""


#: Action → (field, new value); ``delete`` removes the row.
CHANGES: dict[str, tuple[str, object]] = {
    "disable": ("disabled", True),
    "enable": ("disabled", False),
    "promote": ("role", "admin"),
    "demote": ("role", "member"),
    "delete": ("", None),
}


async def any_account() -> bool:
    """Whether anyone has an account yet (before the first, only setup is open)."""
    return await User.exists()


async def every_account() -> list[User]:
    """Every account, by address."""
    return await User.all().order_by("email")


async def _active_admins(except_id: int) -> int:
    return await User.filter(role="admin", disabled=False).exclude(id=except_id).count()


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1


def redirect(to: str) -> Response:
    """A 303 to ``to``."""
    return RedirectResponse(to, status_code=303)
