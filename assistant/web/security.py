"""Passwords (argon2), CSRF tokens, roles and the login rate limit of the web page."""

from __future__ import annotations

import hmac
import secrets
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

from ..clock import Clock

_hasher = PasswordHasher()
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    """An argon2id hash (salted, memory-hard)."""
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    """True when ``password`` matches the stored hash."""
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, confirm: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if password != confirm:
        return "The two passwords differ."
    return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use), put in every form."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    """True when a form carries this session's token."""
    token = request.session.get("csrf")
    return (
        isinstance(token, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(token.encode(), submitted.encode())  # bytes: any input
    )


class LoginLimiter:
    """At most ``attempts`` failed logins per client address in ``window`` seconds."""

    def __init__(self, clock: Clock, attempts: int = 5, window: float = 300.0) -> None:
        self.clock, self.attempts, self.window = clock, attempts, window
        self._failures: dict[str, deque[float]] = {}

    def _now(self, now: float | None) -> float:
        return self.clock.now().timestamp() if now is None else now

    def blocked(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` has used up its attempts (``now``: seconds, the clock's if None)."""
        now = self._now(now)
        failures = self._failures.get(key)
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return bool(failures) and len(failures) >= self.attempts  # type: ignore[arg-type]

    def reserve(self, keys: list[str], now: float | None = None) -> bool:
        """Count an attempt against every key *before* checking the password (the check
        takes a while: parallel guesses must not all pass the test first); False when any
        key has used up its attempts. :meth:`succeeded` forgets them again."""
        if any(self.blocked(key, now) for key in keys):
            return False
        for key in keys:
            self.failed(key, now)
        return True

    def failed(self, key: str, now: float | None = None) -> None:
        """Record a failed attempt."""
        self._failures.setdefault(key, deque()).append(self._now(now))

    def succeeded(self, key: str | list[str]) -> None:
        """Forget the failures of ``key`` (or of each of a list)."""
        for one in [key] if isinstance(key, str) else key:
            self._failures.pop(one, None)
