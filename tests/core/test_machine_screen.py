"""The fast human screen (``machine.plainly_human``) never changes a verdict.

``classify`` asks a message without signal headers one memoised question per sender and per
subject instead of running the nine ungated rules. The reference asks every rule in order, as
the table says: every message here must get the same verdict, rule name and detail both ways.
The messages mix plain mail with the senders, names, subjects, mailers and envelopes each
ungated rule fires on.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core import machine
from assistant.core.headers import parse_message
from assistant.core.machine import RULES, classify
from assistant.core.machine_rules.autoreply_subjects import MARKERS, TAIL_MARKERS
from assistant.core.machine_rules.failure_subjects import MTA_SUBJECT_STARTS, NOTICE_MARKERS
from assistant.core.model import HUMAN as HUMAN_VERDICT
from assistant.core.model import Message, Verdict
from tests.mail import raw


def every_rule_in_order(msg: Message) -> Verdict:
    """The reference: each rule asked in turn, no gate, no screen (``tuple(RULES)`` would be
    RULES itself, and classify would take its shortcuts)."""
    for rule in RULES:
        detail = rule.check(msg)
        if detail is not None:
            return Verdict(machine=True, rule=rule.name, category=rule.category, detail=detail)
    return HUMAN_VERDICT


#: What the screen answers for (update plainly_human when an ungated rule is added).
SCREENED = {
    "mailer-daemon",
    "bounce-subject",
    "list-server-notice",
    "feedback-report",
    "dmarc-report",
    "null-sender",
    "autoreply-subject",
    "noreply-sender",
    "robot-name",
}

locals_ = st.sampled_from(
    [
        "jane",
        "j.smith",
        "support",
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no_reply",
        "tip-bot2",
        "talbot",
        "mailman",
        "users-request",
        "owner-users",
        "users-admin",
        "dmarc-reports",
        "dmarcreport",
        "alerts",
        "staff",
        "complaints",
    ]
)
domains = st.sampled_from(["client.test", "hotmail.com", "email-abuse.amazonses.com"])
names = st.sampled_from(
    ["", "Jane Doe", "Mail Delivery System", "GitHub Bot", "Microsoft Outlook", "Talbot Smith"]
)
subjects = st.one_of(
    st.sampled_from(
        [
            "Order 1234 arrived damaged",
            "Re: Order 1234",
            "Report domain: client.test Submitter: google.com Report-ID: 1",
            "DMARC Failure Report for client.test",
            "Complaint about message from 192.0.2.1",
            "Ticket 5 (Automatic Response)",
            "Out of Office",
            "[bounce] x",
            "Warning: message 1abc delayed 24 hours",
        ]
    ),
    st.sampled_from(sorted(MARKERS | TAIL_MARKERS | NOTICE_MARKERS)).map(str.title),
    st.sampled_from(MTA_SUBJECT_STARTS).map(lambda s: s + " x"),
    st.text(max_size=30),
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "return_path": st.sampled_from(["<>", "< >", "<bounce@client.test>"]),
        "x_mailer": st.sampled_from(["Outlook 16.0", "cron daemon", "mybot 1.0", "Bot"]),
        "content_type": st.sampled_from(
            ["text/plain", "multipart/report; report-type=feedback-report; boundary=b"]
        ),
        "message_id": st.sampled_from(["<1.FML123.x@client.test>", "<plain@client.test>"]),
    },
)


def _both_ways(msg: Message) -> None:
    assert classify(msg) == every_rule_in_order(msg), (msg.sender, msg.subject, msg.headers)


def test_the_screen_answers_for_every_ungated_rule() -> None:
    assert {rule.name for rule in machine._UNGATED_RULES} == SCREENED


@settings(max_examples=600, deadline=None)
@given(local=locals_, domain=domains, name=names, subject=subjects, extra=envelopes)
def test_screened_and_full_verdicts_agree(
    local: str, domain: str, name: str, subject: str, extra: dict[str, str]
) -> None:
    sender = f"{name} <{local}@{domain}>" if name else f"{local}@{domain}"
    headers = {"from": sender, "to": "support@example.com", "subject": subject, **extra}
    headers.setdefault("message_id", "<m@client.test>")
    _both_ways(parse_message(raw(**headers)))


def test_without_a_sender_the_rules_decide() -> None:
    for value in ("", "<>", "Mail Delivery System <>", "undisclosed"):
        _both_ways(parse_message(raw(**{"from": value, "subject": "x", "message_id": "<a@b>"})))


def test_screened_and_full_verdicts_agree_on_the_corpus() -> None:
    from tests.test_corpus import CORPUS

    files = sorted(CORPUS.rglob("*.eml"))
    if not files:
        pytest.skip(f"no corpus at {CORPUS}")
    for path in files:
        _both_ways(parse_message(path.read_bytes()))
