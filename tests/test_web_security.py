"""Passwords, the login rate limit and template checks behind the web page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.clock import FixedClock
from assistant.service.templates import SAMPLE, check
from assistant.web.security import LoginLimiter, check_password, hash_password, password_problem


def test_passwords_are_argon2_and_checked() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert check_password(stored, "correct horse battery")
    assert not check_password(stored, "wrong")
    assert not check_password("not a hash", "anything")
    assert password_problem("short", "short") == "Use at least 10 characters."
    assert password_problem("long enough 1", "long enough 2") == "The two passwords differ."
    assert password_problem("long enough 1", "long enough 1") is None


def test_failed_logins_are_limited_per_address_and_forgotten_on_success() -> None:
    limiter = LoginLimiter(FixedClock(datetime(2026, 11, 16, tzinfo=UTC)), attempts=3, window=60)
    for t in range(3):
        assert not limiter.blocked("10.0.0.1", now=t)
        limiter.failed("10.0.0.1", now=t)
    assert limiter.blocked("10.0.0.1", now=10)
    assert not limiter.blocked("10.0.0.2", now=10)  # another address is not punished
    assert not limiter.blocked("10.0.0.1", now=100)  # the window passed
    limiter.failed("10.0.0.2", now=0)
    limiter.succeeded("10.0.0.2")
    assert not limiter.blocked("10.0.0.2", now=1)


def test_template_check_names_the_part_and_the_problem() -> None:
    assert (
        check(("Re: {{ thread_subject }}", "Hi {{ client_name }}", "<p>{{ signature }}</p>")) == []
    )
    problems = check(("{{ thread_subject", "{{ nope }}", "{{ ''.__class__.__mro__ }}"))
    assert problems[0].startswith("subject: line 1:")
    assert problems[1] == "text: UndefinedError: 'nope' is undefined"
    assert problems[2].startswith("html: SecurityError")  # the sandbox refuses
    assert check(("{{ '' }}", "x", "x")) == ["subject: renders empty"]
    assert set(SAMPLE) >= {"client_name", "promised_by", "lines", "answer"}


def test_after_login_only_paths_on_this_site() -> None:
    from assistant.web.auth_pages import _local

    assert _local("/threads/support/a1%40c.test") == "/threads/support/a1%40c.test"
    for bad in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "", "javascript:alert(1)"):
        assert _local(bad) == "/"


def test_signatures_refuse_any_input_without_raising(secret_key: str) -> None:
    from assistant.signing import (
        command_address,
        command_signature_ok,
        read_unsubscribe_token,
        unsubscribe_token,
    )

    assert read_unsubscribe_token("eA.é") is None and read_unsubscribe_token("%%%") is None
    assert read_unsubscribe_token(unsubscribe_token("Ann@Example.com")) == "ann@example.com"
    assert not command_signature_ok(7, "ann@example.com", "é" * 16)
    tag = command_address("support@example.com", 7, "ann@example.com").split(".")[2][:16]
    assert command_signature_ok(7, "ANN@example.com", tag)
    assert not command_signature_ok(8, "ann@example.com", tag)


async def test_an_unknown_address_costs_an_argon2_check_like_a_known_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assistant.web import accounts

    checked: list[str] = []

    def spy(stored: str, password: str) -> bool:
        checked.append(stored)
        return check_password(stored, password)

    monkeypatch.setattr(accounts, "check_password", spy)
    assert await accounts.verify(None, "anything at all") is False
    assert checked and checked[0].startswith("$argon2id$")  # the stand-in hash, really checked


def test_limits_count_an_attempt_before_the_check() -> None:
    clock = FixedClock(datetime(2026, 12, 1, tzinfo=UTC))
    limiter = LoginLimiter(clock, attempts=5)
    keys = ["address:10.0.0.1", "account:a@example.com"]
    assert [limiter.reserve(keys) for _ in range(7)] == [True] * 5 + [False] * 2
    assert not limiter.reserve(["address:10.0.0.9", "account:a@example.com"])  # per account
    limiter.succeeded(keys)
    assert limiter.reserve(keys)


async def test_a_session_has_an_absolute_lifetime(tmp_path: Path, secret_key: str) -> None:
    from starlette.requests import Request

    from assistant.runtime import Runtime
    from assistant.settings import FollowupConfig
    from assistant.store.db import store
    from assistant.store.models import User
    from assistant.web.accounts import SESSION_LIFETIME, Accounts

    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    runtime = Runtime("", tmp_path, FollowupConfig(), clock=clock)
    accounts = Accounts(runtime, LoginLimiter(clock), exposed=False)
    async with store(f"sqlite://{tmp_path / 'w.sqlite3'}"):
        user = await User.create(
            email="a@example.com", password_hash=hash_password("x" * 12), created_at=clock.now()
        )
        request = Request({"type": "http", "session": {}})
        await accounts.open(request, user)
        clock.advance(SESSION_LIFETIME - timedelta(minutes=1))
        assert (await accounts.user_of(request)) is not None  # used all day long...
        clock.advance(timedelta(minutes=2))
        assert await accounts.user_of(request) is None  # ...still ends 8 h after login
