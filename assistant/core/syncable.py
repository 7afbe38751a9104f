"""Can Followup sync this server? Decided from what two separate sessions saw of INBOX.

A sync is incremental only if a message keeps its UID across sessions (RFC 3501: while
UIDVALIDITY stays). A server that renumbers (GNU Mailutils' imap4d does, for unseen mail)
would look new at every check: nothing would ever be stored. The connection test therefore
opens INBOX twice and compares; mail arriving in between is fine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboxView:
    """What one session saw of INBOX."""

    uidvalidity: int | None
    uidnext: int | None
    uids: tuple[int, ...]
    #: The newest message's header could be fetched (None: the folder was empty).
    fetched: bool | None = None


def sync_problems(first: InboxView, second: InboxView) -> list[str]:
    """Why a sync cannot work on this server (empty: it can)."""
    problems = []
    if first.uidvalidity is None or first.uidnext is None:
        problems.append("the server does not report UIDVALIDITY and UIDNEXT for INBOX")
    elif first.uidvalidity != second.uidvalidity:
        problems.append(
            "INBOX's UIDVALIDITY changed between two sessions: every sync would start over"
        )
    elif not set(first.uids) <= set(second.uids):
        problems.append(
            "INBOX's messages changed UIDs between two sessions: the server cannot be synced"
        )
    if first.uids and max(first.uids) >= (first.uidnext or 0):
        problems.append("INBOX has UIDs at or above its UIDNEXT: the server's UIDs are unreliable")
    if first.fetched is False:
        problems.append("the header of INBOX's newest message could not be fetched")
    return problems
