"""Bounces and other failure notices: delivery reports, daemon senders, MTA and list subjects.

Many MTAs send no RFC 3464 delivery-status part (qmail, Exim without DSN, Domino, IMail,
Apache James, mobile carriers' gateways, list servers). What they all keep is a daemon-like
sender (MAILER-DAEMON, postmaster, "Mail Delivery System"), an empty envelope sender, or a
subject of their own, listed in :mod:`.failure_subjects`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..model import Address, Message
from .base import BOUNCE, Rule, local_part, subject_detail
from .failure_subjects import (
    MTA_SUBJECT_PATTERNS,
    MTA_SUBJECT_STARTS,
    NOTICE_MARKERS,
    NOTICE_TAGS,
)
from .subjects import match_table, subject_parts

_REPORT_RE = re.compile(r"report-type\s*=\s*\"?([\w-]+)", re.IGNORECASE)
#: Local parts of MTA senders (sisimai: Verizon and Apache James write "post_master").
DAEMON_LOCALS = frozenset(
    {
        "mailer-daemon",
        "mailer_daemon",
        "mailerdaemon",
        "mail-daemon",
        "maildaemon",
        "mdaemon",
        "postmaster",
        "post_master",
        "post-master",
    }
)
_DAEMON_PREFIXES = tuple(DAEMON_LOCALS)
_DAEMON_NAME_RE = re.compile(
    r"^(?:mail delivery (?:system|subsystem|service|agent)|mailer[- ]daemon|"
    r"internet mail delivery|postmaster|mail administrator|microsoft outlook|"
    r"microsoft exchange|mail delivery|e-?mail delivery system|mail router)$",
    re.IGNORECASE,
)
_MTA_START_RE = re.compile(
    "^(?:"
    + "|".join([*(re.escape(s) for s in MTA_SUBJECT_STARTS), *MTA_SUBJECT_PATTERNS])
    + r")(?:\b|(?<=\W)|$)"
)
#: List servers' own robot addresses (Mailman, Majordomo, LISTSERV, Sympa, ecartis, ezmlm).
LIST_SERVER_LOCALS = frozenset(
    {"mailman", "majordomo", "listserv", "listproc", "sympa", "ecartis", "ezmlm", "lyris"}
)
_LIST_ROBOT_RE = re.compile(r"^(?:owner-.+|.+-(?:request|owner|admin-?request))$")
#: fml writes "<list>-admin@" and a Message-ID with "FML" in it (sisimai lhost/via-fml.go).
_FML_ID_RE = re.compile(r"\.FML[A-Z]*\d*\.", re.IGNORECASE)


def report_kind(msg: Message) -> str | None:
    """The ``report-type`` of a ``multipart/report`` message, ``unknown`` without one."""
    ctype = msg.headers.get("content-type")
    if not ctype or ctype[:16].lower() != "multipart/report":
        return None
    match = _REPORT_RE.search(ctype)
    return match.group(1).lower() if match else "unknown"


def _dsn(msg: Message) -> str | None:
    kind = report_kind(msg)
    if kind in ("delivery-status", "unknown"):
        return f"multipart/report; report-type={kind}"
    return None


def _failed_recipients(msg: Message) -> str | None:
    value = msg.headers.get("x-failed-recipients", "")
    return f"X-Failed-Recipients: {value[:60]}" if value else None


@lru_cache(maxsize=16384)
def is_daemon_address(email: str) -> bool:
    """True for MAILER-DAEMON, postmaster and their spellings (any domain)."""
    return local_part(email) in DAEMON_LOCALS


@lru_cache(maxsize=16384)
def _is_daemon_name(name: str) -> bool:
    return bool(name) and _DAEMON_NAME_RE.match(name.strip(" \"'")) is not None


def _daemon_sender(msg: Message) -> str | None:
    sender = msg.sender
    if sender is not None:
        if is_daemon_address(sender.email):
            return f"From {sender.email}"
        return f"From name {sender.name!r}" if _is_daemon_name(sender.name) else None
    raw_from = msg.headers.get("from", "").lower()
    return f"From {raw_from[:60]}" if raw_from.startswith(_DAEMON_PREFIXES) else None


def _null_sender(msg: Message) -> str | None:
    # RFC 5321 null reverse-path: only bounces and other automatic mail travel with it.
    return_path = msg.headers.get("return-path", "").replace(" ", "")
    if return_path in ("<>", "<<>>"):
        return "Return-Path: <>"
    raw_from = msg.headers.get("from", "").strip()
    if msg.sender is None and (raw_from in ("", "<>") or raw_from.endswith("<>")):
        return f"From {raw_from or '(empty)'}"
    return None


def _failure_subject(subject: str) -> bool:
    """True when ``subject`` starts like an MTA's or list server's failure notice."""
    parts = subject_parts(subject)
    return bool(
        _MTA_START_RE.match(parts.whole)
        or match_table(subject, NOTICE_MARKERS)
        or any(tag in NOTICE_TAGS for tag in parts.tags)
    )


# Memoised for the rules; the screen's own memo (machine.plainly_human) calls _failure_subject.
is_failure_subject = lru_cache(maxsize=16384)(_failure_subject)


def _bounce_subject(msg: Message) -> str | None:
    return subject_detail(msg) if is_failure_subject(msg.subject) else None


@lru_cache(maxsize=16384)
def _list_robot_local(email: str) -> str:
    """``robot`` for a list server's robot address, ``admin`` for an -admin one, else empty."""
    local = local_part(email)
    if local in LIST_SERVER_LOCALS or _LIST_ROBOT_RE.match(local):
        return "robot"
    return "admin" if local.endswith("-admin") else ""


def _list_server_notice(msg: Message) -> str | None:
    sender = msg.sender
    if sender is None:
        return None
    kind = _list_robot_local(sender.email)
    if kind == "robot" or (kind == "admin" and _FML_ID_RE.search(msg.message_id)):
        return f"From {sender.email}"
    return None


def marks_sender(sender: Address) -> bool:
    """True when a rule of this module may fire on a message from ``sender`` (the fast human
    screen in :mod:`assistant.core.machine` asks this once per address)."""
    return (
        is_daemon_address(sender.email)
        or _is_daemon_name(sender.name)
        or _list_robot_local(sender.email) != ""
    )


def marks_subject(subject: str) -> bool:
    """True when a rule of this module may fire on a message with ``subject``."""
    return _failure_subject(subject)


DSN_REPORT = Rule("dsn-report", BOUNCE, "RFC 3464 delivery status notification", _dsn)
FAILED_RECIPIENTS = Rule(
    "failed-recipients", BOUNCE, "X-Failed-Recipients header of an MTA bounce", _failed_recipients
)
MAILER_DAEMON = Rule("mailer-daemon", BOUNCE, "sent by MAILER-DAEMON / postmaster", _daemon_sender)
BOUNCE_SUBJECT = Rule(
    "bounce-subject",
    BOUNCE,
    "a failure-notice subject an MTA writes (any language), anchored",
    _bounce_subject,
)
NULL_SENDER = Rule(
    "null-sender", BOUNCE, "empty Return-Path or From (RFC 5321 null sender)", _null_sender
)
LIST_SERVER_NOTICE = Rule(
    "list-server-notice",
    BOUNCE,
    "a list server's robot (Mailman, Majordomo, LISTSERV, Sympa, fml -request/-owner)",
    _list_server_notice,
)
