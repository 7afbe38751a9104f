"""Recognise machine-written mail: bounces, auto-replies, lists and bulk, robots.

Each rule is a small named predicate over the header record, in the spirit of Mailman's rules:
the first rule that fires names the verdict, so logs, ``followup inspect`` and the web page can
say *why* a message was treated as machine mail. Rules read header fields only, never the raw
text (a DKIM ``h=`` list naming List-Id is not a list header).

Recall on machine mail matters most: a robot answering a robot is the worst failure. Each rule
is still chosen so that a person writing to a shared inbox does not trip it; the ones that
judge words (subjects, sender names) use anchored patterns, not substrings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .model import HUMAN, Message, Verdict
from .signals import (
    AUTOREPLY_HEADERS,
    ESP_HEADERS,
    ESP_PREFIXES,
    LIST_HEADERS,
    NOTIFIER_HEADERS,
    NOTIFIER_PREFIXES,
    OWN_PREFIX,
    SIGNAL_HEADERS,
    SIGNAL_PREFIXES,
)

BOUNCE = "bounce"
AUTO_REPLY = "auto-reply"
LIST = "list"
BULK = "bulk"
ROBOT = "robot"
OWN = "own"


@dataclass(frozen=True, slots=True)
class Rule:
    """A named test: ``check`` returns a short detail when the rule fires, else None."""

    name: str
    category: str
    description: str
    check: Callable[[Message], str | None]


def _h(msg: Message, name: str) -> str:
    return msg.headers.get(name, "")


# --- bounces and delivery reports -------------------------------------------------------

_REPORT_RE = re.compile(r"report-type\s*=\s*\"?([\w-]+)", re.IGNORECASE)
_DAEMON_LOCALS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster", "mail-daemon", "mdaemon"}
)
_DAEMON_NAME_RE = re.compile(
    r"^(?:mail delivery (?:system|subsystem|service)|mailer[- ]daemon|internet mail delivery|"
    r"postmaster|mail administrator|microsoft outlook)$",
    re.IGNORECASE,
)
# Only phrasings MTAs write: "Delivery failed: where is my parcel?" from a shop's client is human.
_BOUNCE_SUBJECT_RE = re.compile(
    r"^(?:(?:fw|fwd|re):\s*)?(?:"
    r"undeliverable\b|undelivered mail\b|"
    r"delivery status notification|delivery has failed|delivery failure: user|"
    r"mail delivery (?:failed|failure|subsystem|system)|"
    r"returned mail:|failure notice$|"
    r"non[- ]?delivery (?:report|notification)|"
    r"message not delivered|could not send message|"
    r"warning: message .* delayed|delayed mail \(still being retried\)|"
    r"\*\*message you sent blocked|"
    r"nicht zustellbar|unzustellbar|non recapitabile|non remis|onbestelbaar|olevererbart"
    r")",
    re.IGNORECASE,
)


def _report(msg: Message) -> str | None:
    ctype = _h(msg, "content-type").lower()
    if not ctype.startswith("multipart/report"):
        return None
    match = _REPORT_RE.search(ctype)
    kind = match.group(1).lower() if match else "unknown"
    return f"multipart/report; report-type={kind}"


def _dsn(msg: Message) -> str | None:
    detail = _report(msg)
    if detail and ("delivery-status" in detail or "unknown" in detail):
        return detail
    return None


def _mdn(msg: Message) -> str | None:
    detail = _report(msg)
    return detail if detail and "disposition-notification" in detail else None


def _feedback_report(msg: Message) -> str | None:
    detail = _report(msg)
    if detail and "feedback-report" in detail:
        return detail
    return (
        "X-Report-Type: feedback-report" if "feedback" in _h(msg, "x-report-type").lower() else None
    )


def _failed_recipients(msg: Message) -> str | None:
    value = _h(msg, "x-failed-recipients")
    return f"X-Failed-Recipients: {value[:60]}" if value else None


def _daemon_sender(msg: Message) -> str | None:
    sender = msg.sender
    raw_from = _h(msg, "from").lower()
    if sender is not None and sender.local in _DAEMON_LOCALS:
        return f"From {sender.email}"
    if sender is not None and _DAEMON_NAME_RE.match(sender.name):
        return f"From name {sender.name!r}"
    if any(raw_from.startswith(loc) for loc in _DAEMON_LOCALS):
        return f"From {raw_from[:60]}"
    return None


def _null_sender(msg: Message) -> str | None:
    # RFC 5321 null reverse-path: only bounces and other automatic mail travel with it.
    return_path = _h(msg, "return-path").replace(" ", "")
    if return_path in ("<>", "<<>>"):
        return "Return-Path: <>"
    raw_from = _h(msg, "from").strip()
    if msg.sender is None and (raw_from in ("", "<>") or raw_from.endswith("<>")):
        return f"From {raw_from or '(empty)'}"
    return None


def _bounce_subject(msg: Message) -> str | None:
    return f"Subject {msg.subject[:60]!r}" if _BOUNCE_SUBJECT_RE.match(msg.subject) else None


# --- auto-replies -----------------------------------------------------------------------

_SUPPRESS_VALUES = re.compile(r"\b(?:all|oof|autoreply|dr|ndr|rn|nrn)\b", re.IGNORECASE)
# Phrases only auto-responders write, anywhere in the subject ("[#123] AutoReply: ...",
# "Re: hello (Automatic Response)").
_AUTOREPLY_SUBJECT_RE = re.compile(
    r"(?:^|[\[\s:(])(?:"
    r"auto(?:matic|mated)?[- ]?(?:reply|response|answer|antwort)\b|"
    r"autoreply\b|autoresponse\b|auto:\s|"
    r"out of (?:the )?office|out-of-office|"
    r"abwesenheitsnotiz|automatische antwort|"
    r"réponse automatique|absence du bureau|message d'absence|"
    r"respuesta automática|fuera de la oficina|"
    r"risposta automatica|fuori ufficio|"
    r"resposta automática|ausente do escritório|"
    r"automatisch antwoord|autosvar|"
    r"automatyczna odpowied|odpowiedź automatyczna|"
    r"автоответ|автоматический ответ|"
    r"自动回复|自動回覆|自動返信"
    r")",
    re.IGNORECASE,
)
# Weaker phrases count only at the start, after list or ticket tags.
_AUTOREPLY_START_RE = re.compile(
    r"^(?:\s*\[[^\]]*\])*\s*(?:"
    r"ooo\b|on (?:vacation|holiday|leave)\b|away from (?:the office|my desk)|abwesend\b|"
    r"afwezig|fraværende|frånvaro|poissa|"
    r"(?:your )?(?:request|ticket|message|e-?mail) (?:has been )?received\b|"
    r"ticket (?:created|opened)\b|"
    r"thank you for (?:contacting|your (?:e-?mail|message|request|enquiry|inquiry))\b"
    r".*\b(?:received|ticket)|"
    r"we(?:'ve| have) received your (?:e-?mail|message|request)"
    r")",
    re.IGNORECASE,
)


def _auto_submitted(msg: Message) -> str | None:
    value = _h(msg, "auto-submitted").strip().lower()
    if value and not value.startswith("no"):
        return f"Auto-Submitted: {value[:40]}"
    return None


def _autoreply_header(msg: Message) -> str | None:
    for name in AUTOREPLY_HEADERS:
        value = _h(msg, name)
        if name in msg.headers and value.strip().lower() not in ("no", "false", "0"):
            return f"{name}: {value[:40]}"
    return None


def _response_suppress(msg: Message) -> str | None:
    value = _h(msg, "x-auto-response-suppress")
    return f"X-Auto-Response-Suppress: {value}" if _SUPPRESS_VALUES.search(value) else None


def _microsoft_auto(msg: Message) -> str | None:
    for name in ("x-ms-exchange-inbox-rules-loop", "x-ms-exchange-generated-message-source"):
        if name in msg.headers:
            return f"{name}: {_h(msg, name)[:40]}"
    return None


# Cheap substring screen before the regexes: most subjects contain none of these.
_AUTOREPLY_HINTS = (
    "auto",
    "office",
    "abwesen",
    "réponse",
    "respuesta",
    "risposta",
    "resposta",
    "absence",
    "autosvar",
    "odpowied",
    "автоо",
    "автомат",
    "自动",
    "自動",
    "ooo",
    "vacation",
    "holiday",
    "leave",
    "away",
    "afwezig",
    "fravær",
    "frånvaro",
    "poissa",
    "received",
    "ticket",
)


def _autoreply_subject(msg: Message) -> str | None:
    lowered = msg.subject.lower()
    if not any(hint in lowered for hint in _AUTOREPLY_HINTS):
        return None
    match = _AUTOREPLY_SUBJECT_RE.search(msg.subject) or _AUTOREPLY_START_RE.match(msg.subject)
    return f"Subject {msg.subject[:60]!r}" if match else None


# --- lists and bulk ---------------------------------------------------------------------

_ESP_FEEDBACK_RE = re.compile(
    r"amazonses|sendgrid|mailchimp|mandrill|mcsv|sparkpost|mailgun|postmark|hubspot|"
    r"sendinblue|brevo|klaviyo|braze|mailjet|constantcontact|exacttarget|salesforce|marketo|"
    r"campaign|newsletter|iterable|customer\.?io",
    re.IGNORECASE,
)


def _list_header(msg: Message) -> str | None:
    for name in LIST_HEADERS:
        if name in msg.headers:
            return f"{name}: {_h(msg, name)[:60]}"
    return None


def _list_unsubscribe(msg: Message) -> str | None:
    value = _h(msg, "list-unsubscribe")
    return f"List-Unsubscribe: {value[:60]}" if value else None


def _precedence(msg: Message) -> str | None:
    value = (_h(msg, "precedence") or _h(msg, "x-precedence")).strip().lower()
    if value in ("bulk", "list", "junk", "auto_reply", "auto-reply"):
        return f"Precedence: {value}"
    return None


def _esp_feedback_id(msg: Message) -> str | None:
    value = _h(msg, "feedback-id")
    return f"Feedback-ID: {value[:60]}" if value and _ESP_FEEDBACK_RE.search(value) else None


def _esp_marker(msg: Message) -> str | None:
    for name in msg.headers:
        if name in ESP_HEADERS or name.startswith(ESP_PREFIXES):
            return f"{name}: {_h(msg, name)[:40]}"
    return None


# --- robots: notification systems and no-reply senders ----------------------------------

_ROBOT_TOKENS = frozenset(
    {
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "dontreply",
        "nepasrepondre",
        "notreply",
        "mailer",
        "daemon",
        "robot",
        "bot",
        "bots",
        "notify",
        "notifier",
        "notification",
        "notifications",
        "alert",
        "alerts",
        "bounce",
        "bounces",
        "automated",
        "automailer",
        "autoreply",
        "autoresponder",
        "root",
        "cron",
        "anacron",
        "devnull",
    }
)
# Surnames that end in "bot": a person called Talbot is not a robot.
_BOT_NAMES = frozenset({"abbot", "talbot", "cabot", "tabot", "rabot"})
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
_NO_REPLY_JOINED = re.compile(r"^(?:no|do-?not|dont)[-_.]?reply")
_ROBOT_NAME_RE = re.compile(
    r"(?:^|[\s(\[\"'-])(?:bot|robot|daemon|cron daemon|anacron|noreply|no-reply|do not reply|"
    r"notifications?|automated system)(?:$|[\s)\]\"'-])|\((?:twitter|facebook|linkedin|"
    r"github|gitlab|jira|slack)\)",
    re.IGNORECASE,
)
_ROBOT_MAILER_RE = re.compile(r"daemon|cron|\bbot\b", re.IGNORECASE)


def _is_robot_token(token: str) -> bool:
    token = token.rstrip("0123456789")  # tip-bot2, bot1
    if token in _ROBOT_TOKENS:
        return True
    return len(token) > 3 and token.endswith("bot") and token not in _BOT_NAMES


def _notifier_header(msg: Message) -> str | None:
    for name in msg.headers:
        if name in NOTIFIER_HEADERS or name.startswith(NOTIFIER_PREFIXES):
            return f"{name}: {_h(msg, name)[:40]}"
    return None


def _robot_address(msg: Message) -> str | None:
    sender = msg.sender
    if sender is None:
        return None
    local = sender.local.casefold()
    if _NO_REPLY_JOINED.match(local):
        return f"From {sender.email}"
    tokens = [t for t in _TOKEN_SPLIT.split(local) if t]
    base = local.split("+", 1)[0]
    if any(_is_robot_token(t) for t in tokens) or _is_robot_token(base):
        return f"From {sender.email}"
    return None


@lru_cache(maxsize=16384)
def _robot_display_name(name: str) -> bool:
    return bool(_ROBOT_NAME_RE.search(name))


def _robot_name(msg: Message) -> str | None:
    sender = msg.sender
    if sender is not None and sender.name and _robot_display_name(sender.name):
        return f"From name {sender.name!r}"
    mailer = _h(msg, "x-mailer")
    if mailer and _ROBOT_MAILER_RE.search(mailer):
        return f"X-Mailer: {mailer[:40]}"
    return None


def _own_mail(msg: Message) -> str | None:
    if any(name.startswith(OWN_PREFIX) for name in msg.headers):
        return "X-Followup marker"
    return None


#: The rules, in the order they are asked. The first that fires names the verdict.
RULES: tuple[Rule, ...] = (
    Rule("followup-own", OWN, "mail Followup itself sent (marker header)", _own_mail),
    Rule("dsn-report", BOUNCE, "RFC 3464 delivery status notification", _dsn),
    Rule(
        "failed-recipients",
        BOUNCE,
        "X-Failed-Recipients header of an MTA bounce",
        _failed_recipients,
    ),
    Rule("mailer-daemon", BOUNCE, "sent by MAILER-DAEMON / postmaster", _daemon_sender),
    Rule("bounce-subject", BOUNCE, "a delivery-failure subject", _bounce_subject),
    Rule("mdn-report", AUTO_REPLY, "RFC 8098 read receipt / disposition notification", _mdn),
    Rule("feedback-report", ROBOT, "RFC 5965 abuse feedback report (ARF)", _feedback_report),
    Rule("auto-submitted", AUTO_REPLY, "RFC 3834 Auto-Submitted header", _auto_submitted),
    Rule("autoreply-header", AUTO_REPLY, "X-Autoreply / X-Autorespond family", _autoreply_header),
    Rule(
        "ms-auto-response-suppress",
        AUTO_REPLY,
        "Microsoft X-Auto-Response-Suppress",
        _response_suppress,
    ),
    Rule(
        "ms-exchange-auto", AUTO_REPLY, "Exchange inbox-rule or generated message", _microsoft_auto
    ),
    Rule("null-sender", BOUNCE, "empty Return-Path or From (RFC 5321 null sender)", _null_sender),
    Rule("list-header", LIST, "RFC 2369/2919 list header (List-Id, List-Post, ...)", _list_header),
    Rule("list-unsubscribe", BULK, "List-Unsubscribe: bulk or newsletter", _list_unsubscribe),
    Rule("precedence", BULK, "Precedence: bulk / list / junk", _precedence),
    Rule("esp-feedback-id", BULK, "Feedback-ID of a bulk email service", _esp_feedback_id),
    Rule("esp-marker", BULK, "header of a bulk email service", _esp_marker),
    Rule(
        "autoreply-subject", AUTO_REPLY, "auto-reply or out-of-office subject", _autoreply_subject
    ),
    Rule(
        "notifier-header",
        ROBOT,
        "header of a notification system (GitHub, Bugzilla, cron...)",
        _notifier_header,
    ),
    Rule("noreply-sender", ROBOT, "no-reply or robot sender address", _robot_address),
    Rule("robot-name", ROBOT, "robot sender name or mailer", _robot_name),
)

RULES_BY_NAME = {rule.name: rule for rule in RULES}

# Rules that read the sender, the subject or the mailer; every other rule needs a signal
# header to fire, and most human mail carries none: for it only these run.
_UNGATED = frozenset(
    {
        "mailer-daemon",
        "bounce-subject",
        "null-sender",
        "autoreply-subject",
        "noreply-sender",
        "robot-name",
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
}


def _has_signal(msg: Message) -> bool:
    return any(name in _GATE or name.startswith(SIGNAL_PREFIXES) for name in msg.headers)


def classify(msg: Message, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Return the verdict of the first rule that fires, or :data:`HUMAN`."""
    if rules is RULES and not _has_signal(msg):
        rules = _UNGATED_RULES
    for rule in rules:
        detail = rule.check(msg)
        if detail is not None:
            return Verdict(machine=True, rule=rule.name, category=rule.category, detail=detail)
    return HUMAN
