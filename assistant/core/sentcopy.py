"""Exactly one copy of each sent mail in the Sent folder: ours, or the provider's.

Gmail, Microsoft 365, Outlook.com, iCloud and Zoho file every mail sent through their SMTP in
Sent themselves; a copy APPENDed by us would show twice. Per mailbox, ``sent_copy`` says
what happens once the SMTP server has accepted a mail:

==========  ==============================================================================
``never``   no copy from us, ever: the provider files it. The row is sent at once.
``always``  our copy now, unless one is there already (a retry's, a provider's): look, then
            APPEND if absent.
``auto``    a provider that files itself (known by its SMTP host: :func:`files_sent_itself`):
            look now; while absent, look again once :data:`GRACE` after the send, and
            APPEND ours only if it is still absent then. Any other host: as ``always``.
==========  ==============================================================================

"Look" means: by Message-ID, else by the ``X-Followup-Key`` header every automatic mail
carries (Outlook.com rewrites the Message-ID on submission). Pure: the caller looks, appends,
and hands in ``now``; every decision carries the name of the rule that made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

#: The values of ``Mailbox.sent_copy``; anything else is read as ``auto`` (the default).
SETTINGS = ("auto", "always", "never")
#: How long a provider that files its own copy has to do so before ours is APPENDed.
GRACE = timedelta(minutes=2)
#: SMTP hosts whose provider files every mail they accept in the sender's Sent folder.
#: (``smtp-relay.gmail.com``, Google's relay for Workspace, does not: it is not listed.)
SELF_FILING_HOSTS = frozenset(
    {
        "smtp.gmail.com",
        "smtp.googlemail.com",
        "smtp.office365.com",
        "smtp-mail.outlook.com",
        "smtp.mail.me.com",
    }
)
#: Zoho's data centres: smtp.zoho.com, .eu, .in, .com.au, .jp, .com.cn, .sa ... (and smtppro).
SELF_FILING_PATTERN = re.compile(r"(smtp|smtppro)\.zoho\.[a-z]{2,}(\.[a-z]{2,})?")


class CopyMode(StrEnum):
    """What a mailbox's setting and SMTP host make of the Sent copy."""

    NONE = "none"  # the provider files it: never ours
    NOW = "now"  # look, then APPEND ours if absent
    LATER = "later"  # look; APPEND ours only if still absent after the grace delay


class Step(StrEnum):
    """What to do with an ``accepted`` row's Sent copy now."""

    DONE = "done"  # the copy is there (or never ours): the row is sent
    APPEND = "append"  # APPEND our copy, then the row is sent
    WAIT = "wait"  # look again at ``until``: the row stays accepted


@dataclass(frozen=True, slots=True)
class CopyDecision:
    """One decision about a Sent copy, with the rule that made it."""

    step: Step
    rule: str
    until: datetime | None = None


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def files_sent_itself(smtp_host: str, extra: Iterable[str] = ()) -> bool:
    """Whether the provider behind ``smtp_host`` files every mail it sends in Sent itself
    (``extra``: more such hosts, from the administrator)."""
    host = _host(smtp_host)
    if host in SELF_FILING_HOSTS or host in {_host(h) for h in extra}:
        return True
    return SELF_FILING_PATTERN.fullmatch(host) is not None


def copy_mode(setting: str, smtp_host: str | None, extra: Iterable[str] = ()) -> CopyMode:
    """The mode for a mailbox's ``sent_copy`` setting and SMTP host (None: unknown)."""
    if setting == "never":
        return CopyMode.NONE
    if setting != "always" and smtp_host and files_sent_itself(smtp_host, extra):
        return CopyMode.LATER
    return CopyMode.NOW


def copy_decision(
    mode: CopyMode, found: bool, sent_at: datetime, now: datetime, grace: timedelta = GRACE
) -> CopyDecision:
    """What to do with the Sent copy of a mail the server accepted at ``sent_at``, now that
    the Sent folder was searched (``found``)."""
    if mode is CopyMode.NONE:
        return CopyDecision(Step.DONE, "sent-copy-never")
    if found:
        return CopyDecision(Step.DONE, "sent-copy-found")
    if mode is CopyMode.NOW:
        return CopyDecision(Step.APPEND, "sent-copy-append")
    due = sent_at + grace
    if now < due:
        return CopyDecision(Step.WAIT, "sent-copy-provider-grace", due)
    return CopyDecision(Step.APPEND, "sent-copy-provider-missed")
