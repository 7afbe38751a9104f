"""The Sent-copy decision table: which providers file their own copy, and what we do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assistant.core.sentcopy import (
    GRACE,
    CopyDecision,
    CopyMode,
    Step,
    copy_decision,
    copy_mode,
    files_sent_itself,
)

SENT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ALMOST = GRACE - timedelta(seconds=1)


@pytest.mark.parametrize(
    "host",
    [
        "smtp.gmail.com",
        "smtp.googlemail.com",
        "SMTP.Gmail.COM.",  # DNS is case-blind; a trailing dot is the same name
        "smtp.office365.com",
        "smtp-mail.outlook.com",
        "smtp.mail.me.com",
        "smtp.zoho.com",
        "smtp.zoho.eu",
        "smtp.zoho.com.au",
        "smtppro.zoho.in",
    ],
)
def test_providers_that_file_their_own_copy(host: str) -> None:
    assert files_sent_itself(host)


@pytest.mark.parametrize(
    "host",
    [
        "smtp-relay.gmail.com",  # Google's Workspace relay files nothing
        "smtp.fastmail.com",
        "mail.example.com",
        "127.0.0.1",
        "smtp.zoho.com.evil.test",
        "smtp.zoho.",
        "gmail.com",
        "",
    ],
)
def test_other_hosts_do_not(host: str) -> None:
    assert not files_sent_itself(host)


def test_the_administrator_can_name_more_hosts() -> None:
    assert files_sent_itself("Mail.Example.COM", extra=["mail.example.com"])
    assert not files_sent_itself("smtp.example.com", extra=["mail.example.com"])


@pytest.mark.parametrize(
    ("setting", "host", "mode"),
    [
        ("never", "smtp.gmail.com", CopyMode.NONE),
        ("never", "mail.example.com", CopyMode.NONE),
        ("always", "smtp.gmail.com", CopyMode.NOW),
        ("always", "mail.example.com", CopyMode.NOW),
        ("auto", "smtp.gmail.com", CopyMode.LATER),
        ("auto", "mail.example.com", CopyMode.NOW),
        ("auto", None, CopyMode.NOW),  # no SMTP URL known: look, then file ours
        ("bogus", "smtp.gmail.com", CopyMode.LATER),  # unknown values read as the default
    ],
)
def test_mode_from_setting_and_host(setting: str, host: str | None, mode: CopyMode) -> None:
    assert copy_mode(setting, host) is mode


def test_extra_hosts_reach_the_mode() -> None:
    assert copy_mode("auto", "127.0.0.1", extra=["127.0.0.1"]) is CopyMode.LATER
    assert copy_mode("always", "127.0.0.1", extra=["127.0.0.1"]) is CopyMode.NOW


@pytest.mark.parametrize(
    ("mode", "found", "after", "step", "rule"),
    [
        (CopyMode.NONE, False, timedelta(0), Step.DONE, "sent-copy-never"),
        (CopyMode.NONE, False, timedelta(days=1), Step.DONE, "sent-copy-never"),
        (CopyMode.NOW, True, timedelta(0), Step.DONE, "sent-copy-found"),
        (CopyMode.NOW, False, timedelta(0), Step.APPEND, "sent-copy-append"),
        (CopyMode.LATER, True, timedelta(0), Step.DONE, "sent-copy-found"),
        (CopyMode.LATER, False, timedelta(0), Step.WAIT, "sent-copy-provider-grace"),
        (
            CopyMode.LATER,
            False,
            GRACE - timedelta(seconds=1),
            Step.WAIT,
            "sent-copy-provider-grace",
        ),
        (CopyMode.LATER, True, GRACE, Step.DONE, "sent-copy-found"),
        (CopyMode.LATER, False, GRACE, Step.APPEND, "sent-copy-provider-missed"),
        (CopyMode.LATER, False, timedelta(days=3), Step.APPEND, "sent-copy-provider-missed"),
    ],
)
def test_decision_table(
    mode: CopyMode, found: bool, after: timedelta, step: Step, rule: str
) -> None:
    decision = copy_decision(mode, found, SENT, SENT + after)
    assert (decision.step, decision.rule) == (step, rule)
    assert decision.until == (SENT + GRACE if step is Step.WAIT else None)


def test_the_grace_is_counted_from_the_send_not_from_the_look() -> None:
    late_look = SENT + timedelta(seconds=90)
    assert copy_decision(CopyMode.LATER, False, SENT, late_look) == CopyDecision(
        Step.WAIT, "sent-copy-provider-grace", SENT + GRACE
    )
    shorter = copy_decision(CopyMode.LATER, False, SENT, late_look, grace=timedelta(minutes=1))
    assert shorter.step is Step.APPEND
