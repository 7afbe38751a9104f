"""Who may act by reply: the refusal tables, each rule firing and not firing, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from assistant.core.command_rules import (
    SILENT_RULES,
    TAG_LIFETIME,
    TAG_RULES,
    Reply,
    Tagged,
    TagUse,
)
from assistant.core.commands import tag_refusal
from assistant.core.rules import vet
from assistant.core.team import Team

TEAM = Team.from_patterns(["@example.com"])
PEOPLE = {"ann@partner.test"}
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
GOOD = Reply(True, True, "bob@example.com", PEOPLE, TEAM)
FRESH = TagUse(Tagged("ann@partner.test", NOW - timedelta(days=1)), "Ann@Partner.test", NOW)


def rule_of(found: object) -> str | None:
    return getattr(found, "rule", None)


def test_a_team_members_signed_reply_is_not_refused() -> None:
    assert vet(GOOD, SILENT_RULES) is None
    assert vet(replace(GOOD, sender="ann@partner.test"), SILENT_RULES) is None  # a person


@pytest.mark.parametrize(
    ("reply", "rule"),
    [
        (replace(GOOD, signed=False), "command-bad-signature"),
        (replace(GOOD, same_mailbox=False), "command-wrong-mailbox"),
        (replace(GOOD, sender="eve@evil.test"), "command-from-stranger"),
        # In order: a forged tag is named as such whoever sends it.
        (Reply(False, False, "eve@evil.test", PEOPLE, TEAM), "command-bad-signature"),
        (replace(GOOD, same_mailbox=False, sender="eve@evil.test"), "command-wrong-mailbox"),
    ],
)
def test_silent_refusals(reply: Reply, rule: str) -> None:
    assert rule_of(vet(reply, SILENT_RULES)) == rule


def test_a_tag_used_by_its_addressee_in_time_is_not_refused() -> None:
    assert vet(FRESH, TAG_RULES) is None
    edge = replace(FRESH, tagged=replace(FRESH.tagged, sent_at=NOW - TAG_LIFETIME))
    assert vet(edge, TAG_RULES) is None


@pytest.mark.parametrize(
    ("use", "rule"),
    [
        (replace(FRESH, sender="bob@example.com"), "command-not-yours"),
        (
            replace(FRESH, tagged=replace(FRESH.tagged, sent_at=NOW - TAG_LIFETIME * 2)),
            "command-expired",
        ),
        (replace(FRESH, tagged=replace(FRESH.tagged, sent_at=None)), "command-expired"),
        (replace(FRESH, tagged=replace(FRESH.tagged, stale=True)), "command-stale-episode"),
    ],
)
def test_answered_refusals(use: TagUse, rule: str) -> None:
    found = vet(use, TAG_RULES)
    assert rule_of(found) == rule
    # tag_refusal, the old way to ask, says the same.
    assert tag_refusal(use.tagged, use.sender, use.now) == (rule, getattr(found, "reason", ""))


def test_the_answer_says_who_may_act() -> None:
    found = vet(replace(FRESH, sender="bob@example.com"), TAG_RULES)
    assert found is not None and "ann@partner.test" in found.reason


TAGGED = "support+fu.42.abcdefghijklmnop@example.com"


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ({"to": TAGGED}, "followup-command"),
        ({"to": "support@example.com", "cc": TAGGED.upper()}, "followup-command"),
        # An out-of-office answering a reminder is an auto-reply, never a command.
        ({"to": TAGGED, "auto_submitted": "auto-replied"}, "auto-submitted"),
        ({"to": "support+fu.42.short@example.com"}, None),
        ({"to": "support@example.com"}, None),
    ],
)
def test_mail_to_a_command_address_is_stored_as_a_command(
    headers: dict[str, str], rule: str | None
) -> None:
    from assistant.core.headers import parse_message
    from assistant.core.machine import stored_rule
    from tests.mail import raw

    fields = {"from": "ann@example.com", "subject": "Re: reminder", "message_id": "<c@x>"}
    assert stored_rule(parse_message(raw(**fields, **headers))) == rule
