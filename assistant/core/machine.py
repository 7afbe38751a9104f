"""Recognise machine-written mail: bounces, auto-replies, reports, lists and bulk, robots.

Each rule is a small named predicate over the header record, in the spirit of Mailman's rules:
the first rule that fires names the verdict, so logs, ``followup inspect`` and the web page can
say *why* a message was treated as machine mail. Rules read header fields only, never the raw
text (a DKIM ``h=`` list naming List-Id is not a list header). The rules live in
:mod:`assistant.core.machine_rules`, one module per kind of mail; this module orders them and
is the entry point, :func:`classify`.

Recall on machine mail matters most: a robot answering a robot is the worst failure. Each rule
is still chosen so that a person writing to a shared inbox does not trip it: the ones that
judge words (subjects, sender names) compare anchored pieces (a subject's start, a leading tag,
the whole subject), never a word found anywhere, and the ones that read vendor headers count
only headers the sending side adds.
"""

from __future__ import annotations

from functools import lru_cache

from .authenticity import Screen
from .command_rules import command_rule
from .machine_rules import autoreplies, bounces, reports, robots
from .machine_rules.autoreplies import (
    AUTO_SUBMITTED,
    AUTOREPLY_HEADER,
    AUTOREPLY_SUBJECT,
    MS_AUTO_RESPONSE_SUPPRESS,
    MS_EXCHANGE_AUTO,
)
from .machine_rules.base import AUTO_REPLY, BOUNCE, BULK, LIST, OWN, ROBOT, Rule
from .machine_rules.bounces import (
    BOUNCE_SUBJECT,
    DSN_REPORT,
    FAILED_RECIPIENTS,
    LIST_SERVER_NOTICE,
    MAILER_DAEMON,
    NULL_SENDER,
)
from .machine_rules.bulk import (
    ESP_FEEDBACK_ID,
    ESP_MARKER,
    LIST_HEADER,
    LIST_UNSUBSCRIBE,
    PRECEDENCE,
)
from .machine_rules.reports import DMARC_REPORT, FEEDBACK_REPORT, MDN_REPORT
from .machine_rules.robots import FOLLOWUP_OWN, NOREPLY_SENDER, NOTIFIER_HEADER, ROBOT_NAME
from .model import HUMAN, Address, Message, Verdict
from .signals import SIGNAL_HEADERS, SIGNAL_PREFIXES

__all__ = [
    "AUTO_REPLY",
    "BOUNCE",
    "BULK",
    "LIST",
    "OWN",
    "ROBOT",
    "RULES",
    "RULES_BY_NAME",
    "Rule",
    "classify",
]

#: The rules, in the order they are asked. The first that fires names the verdict.
RULES: tuple[Rule, ...] = (
    FOLLOWUP_OWN,
    DSN_REPORT,
    FAILED_RECIPIENTS,
    MAILER_DAEMON,
    BOUNCE_SUBJECT,
    LIST_SERVER_NOTICE,
    MDN_REPORT,
    FEEDBACK_REPORT,
    DMARC_REPORT,
    AUTO_SUBMITTED,
    AUTOREPLY_HEADER,
    MS_AUTO_RESPONSE_SUPPRESS,
    MS_EXCHANGE_AUTO,
    NULL_SENDER,
    LIST_HEADER,
    LIST_UNSUBSCRIBE,
    PRECEDENCE,
    ESP_FEEDBACK_ID,
    ESP_MARKER,
    AUTOREPLY_SUBJECT,
    NOTIFIER_HEADER,
    NOREPLY_SENDER,
    ROBOT_NAME,
)

RULES_BY_NAME = {rule.name: rule for rule in RULES}

# Rules that read the sender, the subject, the Message-ID or the mailer; every other rule needs
# a signal header to fire, and most human mail carries none: for it only these run.
_UNGATED = frozenset(
    {
        MAILER_DAEMON.name,
        BOUNCE_SUBJECT.name,
        LIST_SERVER_NOTICE.name,
        FEEDBACK_REPORT.name,
        DMARC_REPORT.name,
        NULL_SENDER.name,
        AUTOREPLY_SUBJECT.name,
        NOREPLY_SENDER.name,
        ROBOT_NAME.name,
    }
)
_UNGATED_RULES = tuple(rule for rule in RULES if rule.name in _UNGATED)
_GATE = SIGNAL_HEADERS - {
    "from",
    "sender",
    "x-mailer",
    "thread-index",
    "thread-topic",
    "x-gm-thrid",
    # On nearly every message, and read only by an ungated rule (NULL_SENDER) or by none here.
    "return-path",
    "authentication-results",
}


# By the kept header names in order: a mailbox's mail comes in a few hundred such shapes.
@lru_cache(maxsize=4096)
def _gated(shape: tuple[str, ...]) -> bool:
    return any(name in _GATE or name.startswith(SIGNAL_PREFIXES) for name in shape)


def _has_signal(msg: Message) -> bool:
    return _gated(tuple(msg.headers))


@lru_cache(maxsize=16384)
def _plain_sender(sender: Address) -> bool:
    return not (
        bounces.marks_sender(sender) or reports.marks_sender(sender) or robots.marks_sender(sender)
    )


@lru_cache(maxsize=16384)
def _plain_subject(subject: str) -> bool:
    return not (
        bounces.marks_subject(subject)
        or reports.marks_subject(subject)
        or autoreplies.marks_subject(subject)
    )


def plainly_human(msg: Message) -> bool:
    """For a message without a signal header: True when no ungated rule can fire.

    Asking the nine rules in turn costs most of a classification; this decides the common case
    once per sender and once per subject (memoised) instead. The ungated rules read the sender
    and the subject (each rule module's ``marks_sender``/``marks_subject`` answer for those,
    a list server's ``-admin`` sender included, whose rule also reads the Message-ID),
    X-Mailer (``robots.marks_mailer``), the Return-Path (asked of the rule itself) and a kept
    Content-Type (which sends the message through the rules).
    tests/core/test_machine_screen.py holds both paths equal."""
    sender, headers = msg.sender, msg.headers
    return (
        sender is not None
        and "content-type" not in headers
        and not robots.marks_mailer(headers.get("x-mailer", ""))
        and _plain_sender(sender)
        and _plain_subject(msg.subject)
        and NULL_SENDER.check(msg) is None
    )


def storing_verdict(msg: Message, screen: Screen | None = None) -> Verdict:
    """What a message is taken for, once, when it is stored (a replay asks the same): a
    machine rule's verdict, else the sender screen's (a forged team From), else the command
    rule's (mail to a command address); :data:`HUMAN` for a person's conversation."""
    verdict = classify(msg)
    if verdict.machine:
        return verdict
    rule = (screen and screen.rule(msg)) or command_rule(msg)
    return Verdict(machine=True, rule=rule) if rule else verdict


def stored_rule(msg: Message, screen: Screen | None = None) -> str | None:
    """The rule a message's row carries: :func:`storing_verdict`'s (None for a person)."""
    return storing_verdict(msg, screen).rule


def classify(msg: Message, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Return the verdict of the first rule that fires, or :data:`HUMAN`."""
    if rules is RULES and not _has_signal(msg):
        if plainly_human(msg):
            return HUMAN
        rules = _UNGATED_RULES
    for rule in rules:
        detail = rule.check(msg)
        if detail is not None:
            return Verdict(machine=True, rule=rule.name, category=rule.category, detail=detail)
    return HUMAN
