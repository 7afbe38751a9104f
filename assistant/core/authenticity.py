"""Who really sent a message, and where an automatic answer may go.

Every header is written by the sender except those the mailbox's own receiving server adds on
top. Two of those decide here:

- ``Authentication-Results`` (RFC 8601): only the topmost one, and only when its authserv-id
  is one the admin named as the mailbox's own server (``[authentication] servers``): any
  lower one, or one naming another server, may be the sender's own invention.
- ``Return-Path``: the envelope sender the receiving server saw. RFC 3834 §4 sends automatic
  answers there; this module does when its domain is not aligned with the From's (a stranger
  naming a third party in From then gets the answer himself, and the third party nothing).
  When both name the same domain the person in From is answered, because an aligned envelope
  is often a bounce-handling address (``bounces+123@client.example``) nobody reads.

Alignment is relaxed DMARC alignment approximated without the public suffix list: the two
domains are equal, or one is a subdomain of the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import authres

from .addresses import parse_addresses
from .model import Address, Message
from .team import Team

HEADER = "authentication-results"
#: The rule that sets aside mail claiming a team From the trusted server did not confirm.
UNVERIFIED_TEAM_SENDER = "unverified-team-sender"


@dataclass(frozen=True, slots=True)
class Trust:
    """The mailbox's own receiving servers, by authserv-id; empty when none is configured
    (then nothing is checked: every From is taken as written, as before)."""

    servers: frozenset[str] = frozenset()

    @property
    def configured(self) -> bool:
        """Whether a server's verdicts are to be read at all."""
        return bool(self.servers)


@dataclass(frozen=True, slots=True)
class Checked:
    """What the trusted server said about one message."""

    #: The topmost Authentication-Results header came from a trusted server.
    found: bool = False
    #: Its DMARC result (``pass``, ``fail``, ``none`` ...), when it gave one.
    dmarc: str | None = None
    #: SPF or DKIM passed for a domain aligned with the From domain.
    aligned_pass: bool = False


def aligned(one: str, other: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other."""
    a, b = one.lower().strip("."), other.lower().strip(".")
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def checked(msg: Message, trust: Trust) -> Checked:
    """Read the topmost Authentication-Results header, if a trusted server wrote it."""
    value = msg.headers.get(HEADER, "")
    if not trust.configured or not value:
        return Checked()
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except Exception:  # a sender-made header may be any text: unreadable means unchecked
        return Checked()
    if str(header.authserv_id).lower() not in trust.servers:
        return Checked()
    return _read(header.results, msg.sender.domain if msg.sender else "")


def _read(results: list[object], from_domain: str) -> Checked:
    """DMARC's result, and whether SPF or DKIM passed for a domain aligned with From."""
    dmarc, passed = None, False
    for result in results:
        method = str(getattr(result, "method", "")).lower()
        outcome = str(getattr(result, "result", "")).lower()
        if method == "dmarc":
            dmarc = outcome
        elif outcome == "pass" and method in ("spf", "dkim"):
            passed = passed or any(aligned(d, from_domain) for d in _domains(result))
    return Checked(True, dmarc, passed)


def _domains(result: object) -> list[str]:
    """The identity domains an SPF or DKIM result names (``smtp.mailfrom``, ``header.d``...)."""
    found = []
    for prop in getattr(result, "properties", ()):
        value = str(getattr(prop, "value", "") or "")
        if f"{prop.type}.{prop.name}".lower() in ("smtp.mailfrom", "header.d", "header.i"):
            found.append(value.rpartition("@")[2])
    return found


@dataclass(frozen=True, slots=True)
class Screen:
    """What to check of mail that arrived over SMTP (not what the team filed in Sent)."""

    team: Team
    trust: Trust

    def rule(self, msg: Message) -> str | None:
        """:data:`UNVERIFIED_TEAM_SENDER` for a team From the server did not confirm."""
        return (
            UNVERIFIED_TEAM_SENDER if unverified_team_sender(msg, self.team, self.trust) else None
        )


def screen_for(role: str, team: Team, trust: Trust) -> Screen | None:
    """The sender checks for a folder of ``role``: none for Sent (the team's own filing),
    nor without a trusted server."""
    if role == "sent" or not trust.configured:
        return None
    return Screen(team, trust)


def dmarc_failed(msg: Message, trust: Trust) -> bool:
    """The mailbox's own server says the From domain's owner disowns this message."""
    return checked(msg, trust).dmarc == "fail"


def unverified_team_sender(msg: Message, team: Team, trust: Trust) -> bool:
    """A message that arrived by mail claiming a team From that the trusted server could not
    confirm (no aligned SPF or DKIM pass). Only meaningful for mail that came in over SMTP:
    what the team files in Sent never passed a server and is not asked."""
    if not trust.configured or msg.sender is None or msg.sender.email not in team:
        return False
    return not checked(msg, trust).aligned_pass


def return_path(msg: Message) -> Address | None:
    """The envelope sender the receiving server recorded, when it is a usable address."""
    value = msg.headers.get("return-path", "")
    if not value or "<>" in value.replace(" ", ""):
        return None
    found, _errors = parse_addresses([value])
    first = found[0] if found else None
    return first if first is not None and first.domain and "." in first.domain else None


def reply_address(msg: Message) -> Address | None:
    """Where an automatic answer to ``msg`` goes: its Return-Path when that names another
    domain than the From (RFC 3834 §4), else the From."""
    envelope = return_path(msg)
    sender = msg.sender
    if envelope is not None and (sender is None or not aligned(envelope.domain, sender.domain)):
        return envelope
    return sender
