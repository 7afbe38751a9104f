"""Robots: notification systems, no-reply and robot senders, and Followup's own mail."""

from __future__ import annotations

import re
from functools import lru_cache

from ..model import Address, Message
from ..signals import NOTIFIER_HEADERS, NOTIFIER_PREFIXES, OWN_PREFIX
from .base import OWN, ROBOT, Rule, local_part

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
            return f"{name}: {msg.headers.get(name, '')[:40]}"
    return None


@lru_cache(maxsize=16384)
def is_robot_address(email: str) -> bool:
    """True for a no-reply or robot local part (noreply, notifications, tip-bot2, root...)."""
    local = local_part(email)
    if _NO_REPLY_JOINED.match(local):
        return True
    tokens = [t for t in _TOKEN_SPLIT.split(local) if t]
    return any(_is_robot_token(t) for t in tokens) or _is_robot_token(local.split("+", 1)[0])


def _robot_address(msg: Message) -> str | None:
    sender = msg.sender
    return f"From {sender.email}" if sender is not None and is_robot_address(sender.email) else None


@lru_cache(maxsize=16384)
def _robot_display_name(name: str) -> bool:
    return bool(_ROBOT_NAME_RE.search(name))


def _robot_name(msg: Message) -> str | None:
    sender = msg.sender
    if sender is not None and sender.name and _robot_display_name(sender.name):
        return f"From name {sender.name!r}"
    mailer = msg.headers.get("x-mailer", "")
    if marks_mailer(mailer):
        return f"X-Mailer: {mailer[:40]}"
    return None


def _own_mail(msg: Message) -> str | None:
    if any(name.startswith(OWN_PREFIX) for name in msg.headers):
        return "X-Followup marker"
    return None


def marks_sender(sender: Address) -> bool:
    """True when a rule of this module may fire on a message from ``sender``."""
    return is_robot_address(sender.email) or (
        bool(sender.name) and _robot_display_name(sender.name)
    )


@lru_cache(maxsize=4096)
def marks_mailer(mailer: str) -> bool:
    """True when a rule of this module may fire on a message whose X-Mailer is ``mailer``."""
    return bool(mailer) and _ROBOT_MAILER_RE.search(mailer) is not None


FOLLOWUP_OWN = Rule("followup-own", OWN, "mail Followup itself sent (marker header)", _own_mail)
NOTIFIER_HEADER = Rule(
    "notifier-header",
    ROBOT,
    "header of a notification system (GitHub, Bugzilla, cron...)",
    _notifier_header,
)
NOREPLY_SENDER = Rule("noreply-sender", ROBOT, "no-reply or robot sender address", _robot_address)
ROBOT_NAME = Rule("robot-name", ROBOT, "robot sender name or mailer", _robot_name)
