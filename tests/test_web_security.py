"""Passwords, the login rate limit and template checks behind the web page."""

from __future__ import annotations

from datetime import UTC, datetime

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
    from assistant.web.app import _local

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
