"""Loop protection: tell a burst of real clients from a robot answering our mail.

A burst (after an outage, a newsletter) is **throttled**: at most ``max_per_minute``
automatic mails to clients leave a mailbox per minute, the rest wait in the outbox, oldest
first, and go out as the minute moves on, with no human action (``throttle-per-minute``).

Only a **loop signature** stops mail, and only to the address it concerns, each a named rule:

- ``loop-own-mail-returned``: a bounce or other machine mail that answers one of our
  automatic mails (names its Message-ID): our mail came back. The recipient is paused.
- ``loop-instant-reply``: the recipient of one of our automatic mails answered it within
  ``instant_reply`` (robots answer in seconds, people rarely within a minute). Paused.
- ``loop-same-recipient``: ``per_recipient`` automatic mails to one address within
  ``window`` (our per-sender window already allows one acknowledgement a day; more means
  something answers every mail). Paused.
- ``loop-same-domain``: ``per_domain`` addresses of one domain paused within ``window``:
  a domain-wide responder. The whole domain is paused.
- ``loop-many-senders``: ``per_mailbox`` addresses paused within ``window``: something is
  wrong with the mailbox itself; it pauses until an admin resumes it.

A paused address gets no automatic mail until the pause ends (``pause``, default a day),
is shown in ``followup mailbox list`` and logged once; everyone else is served as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

THROTTLE = "throttle-per-minute"
OWN_MAIL_RETURNED = "loop-own-mail-returned"
INSTANT_REPLY = "loop-instant-reply"
SAME_RECIPIENT = "loop-same-recipient"
SAME_DOMAIN = "loop-same-domain"
MANY_SENDERS = "loop-many-senders"


@dataclass(frozen=True, slots=True)
class LoopLimits:
    """The thresholds of the rules above (``[guards]`` in the settings file)."""

    max_per_minute: int = 30
    instant_reply: timedelta = timedelta(seconds=60)
    per_recipient: int = 4
    per_domain: int = 3
    per_mailbox: int = 10
    window: timedelta = timedelta(hours=1)
    pause: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Answer:
    """A stored message that names one of our automatic mails (In-Reply-To, References)."""

    sender: str | None
    arrived: datetime | None  # INTERNALDATE
    machine_category: str | None
    our_recipient: str
    our_sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop automatic mail to ``address`` (or ``@domain``) until ``until``, by ``rule``."""

    address: str
    rule: str
    reason: str
    until: datetime


def answer_signature(answer: Answer, now: datetime, limits: LoopLimits) -> Pause | None:
    """The loop rule an answer to our mail matches, if any."""
    until = now + limits.pause
    if answer.machine_category == "own":
        return None  # our own copy (a Sent copy filed in INBOX, a CC to ourselves)
    if answer.machine_category is not None:
        if answer.machine_category in ("bounce", "auto-reply"):
            return Pause(
                answer.our_recipient,
                OWN_MAIL_RETURNED,
                f"our mail to {answer.our_recipient} came back ({answer.machine_category})",
                until,
            )
        return None
    if answer.sender != answer.our_recipient or answer.arrived is None:
        return None
    if answer.our_sent_at is None:
        return None
    # INTERNALDATE has whole seconds; a reply filed before our send's commit is instant too.
    delay = answer.arrived - answer.our_sent_at.replace(microsecond=0)
    if delay <= limits.instant_reply:
        seconds = max(0, int(delay.total_seconds()))
        reason = f"{answer.our_recipient} answered our mail within {seconds} s"
        return Pause(answer.our_recipient, INSTANT_REPLY, reason, until)
    return None


def recipient_signature(
    recipient: str, recent: int, now: datetime, limits: LoopLimits
) -> Pause | None:
    """``recent`` automatic mails went to ``recipient`` within the window: a loop?"""
    if recent < limits.per_recipient:
        return None
    return Pause(
        recipient,
        SAME_RECIPIENT,
        f"{recent} automatic mails to {recipient} within {_span(limits.window)}",
        now + limits.pause,
    )


def domain_of(address: str) -> str:
    """``@domain`` of an address (the key a domain-wide pause is stored under)."""
    return "@" + address.rpartition("@")[2].lower()


def domain_signature(
    domain: str, paused_addresses: int, now: datetime, limits: LoopLimits
) -> Pause | None:
    """``paused_addresses`` of ``domain`` were paused within the window: pause the domain."""
    if paused_addresses < limits.per_domain:
        return None
    return Pause(
        domain,
        SAME_DOMAIN,
        f"{paused_addresses} addresses of {domain[1:]} answered like robots",
        now + limits.pause,
    )


def mailbox_signature(paused_addresses: int, limits: LoopLimits) -> str | None:
    """Why the whole mailbox must pause (an admin resumes it), if it must."""
    if paused_addresses < limits.per_mailbox:
        return None
    return (
        f"{MANY_SENDERS}: {paused_addresses} addresses paused by loop rules within "
        f"{_span(limits.window)}"
    )


def throttled(sent_last_minute: int, limits: LoopLimits) -> bool:
    """Whether mail to clients must wait for the minute to move on."""
    return sent_last_minute >= limits.max_per_minute


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
