"""The loop rules: a burst is throttled, only robot-like answers pause an address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assistant.core.loops import (
    INSTANT_REPLY,
    MANY_SENDERS,
    OWN_MAIL_RETURNED,
    SAME_DOMAIN,
    SAME_RECIPIENT,
    Answer,
    LoopLimits,
    answer_signature,
    domain_of,
    domain_signature,
    mailbox_signature,
    recipient_signature,
    throttled,
)

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
LIMITS = LoopLimits()


def answer(delay: float, sender: str = "ann@c.test", category: str | None = None) -> Answer:
    sent = NOW - timedelta(minutes=5)
    return Answer(sender, sent + timedelta(seconds=delay), category, "ann@c.test", sent)


def test_an_instant_answer_from_the_recipient_pauses_it_a_slow_one_does_not() -> None:
    pause = answer_signature(answer(3), NOW, LIMITS)
    assert pause is not None and pause.rule == INSTANT_REPLY
    assert pause.address == "ann@c.test" and pause.until == NOW + LIMITS.pause
    assert answer_signature(answer(61), NOW, LIMITS) is None  # a person typing "thanks"
    assert answer_signature(answer(3, sender="bob@c.test"), NOW, LIMITS) is None


def test_a_bounce_or_auto_reply_to_our_mail_is_our_mail_coming_back() -> None:
    for category in ("bounce", "auto-reply"):
        pause = answer_signature(answer(600, "mailer-daemon@mx.test", category), NOW, LIMITS)
        assert pause is not None and pause.rule == OWN_MAIL_RETURNED
        assert pause.address == "ann@c.test"
    assert answer_signature(answer(1, category="own"), NOW, LIMITS) is None
    assert answer_signature(answer(1, category="list"), NOW, LIMITS) is None


def test_recipient_domain_and_mailbox_thresholds() -> None:
    assert recipient_signature("a@c.test", LIMITS.per_recipient - 1, NOW, LIMITS) is None
    found = recipient_signature("a@c.test", LIMITS.per_recipient, NOW, LIMITS)
    assert found is not None and found.rule == SAME_RECIPIENT
    assert domain_of("Ann@C.Test") == "@c.test"
    assert domain_signature("@c.test", LIMITS.per_domain - 1, NOW, LIMITS) is None
    wide = domain_signature("@c.test", LIMITS.per_domain, NOW, LIMITS)
    assert wide is not None and wide.rule == SAME_DOMAIN and wide.address == "@c.test"
    assert mailbox_signature(LIMITS.per_mailbox - 1, LIMITS) is None
    assert str(mailbox_signature(LIMITS.per_mailbox, LIMITS)).startswith(MANY_SENDERS)


def test_the_throttle_holds_at_the_limit_and_not_before() -> None:
    assert not throttled(LIMITS.max_per_minute - 1, LIMITS)
    assert throttled(LIMITS.max_per_minute, LIMITS)
