"""Sans-I/O sync planning: from a folder's stored cursor and the server's STATUS, what to do.

Invariants the plan keeps:

- a cursor only moves forward after the records it covers are committed (the caller's job,
  the plan tells it which UIDs to fetch, oldest first, in batches);
- a UIDVALIDITY change discards the folder's records before anything else (UIDs of the old
  validity mean nothing now), then the folder is synced as new; Message-IDs dedupe the copies;
- an unchanged folder (same UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and message count) costs one
  STATUS and nothing else;
- flag changes come from CONDSTORE (``UID SEARCH MODSEQ``) when offered; expunges are noticed
  by the message count and found by comparing UID sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    """One thing the sync engine must do for a folder."""

    RESET = "reset"
    FETCH_NEW = "fetch_new"
    FETCH_FLAGS = "fetch_flags"
    RECONCILE = "reconcile"


@dataclass(frozen=True, slots=True)
class Cursor:
    """What the store knows about a folder."""

    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    last_uid: int = 0
    message_count: int = 0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What STATUS (or SELECT) says now."""

    uidvalidity: int
    uidnext: int
    messages: int
    highestmodseq: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Steps in order, with the UID to fetch from and the modseq to ask changes since."""

    steps: tuple[Step, ...]
    fetch_from_uid: int = 1
    changed_since: int | None = None
    reason: str = ""

    @property
    def idle(self) -> bool:
        """Nothing to do."""
        return not self.steps


def plan_sync(cursor: Cursor, status: ServerStatus, condstore: bool) -> Plan:
    """Decide the steps for one folder."""
    if cursor.uidvalidity is None:
        return Plan((Step.FETCH_NEW,), 1, None, "first sync")
    if cursor.uidvalidity != status.uidvalidity:
        return Plan(
            (Step.RESET, Step.FETCH_NEW),
            1,
            None,
            f"UIDVALIDITY changed {cursor.uidvalidity} -> {status.uidvalidity}",
        )
    return _incremental(cursor, status, condstore)


def _modseq_moved(cursor: Cursor, status: ServerStatus) -> bool:
    """Flags changed since the last sync (both sides know a HIGHESTMODSEQ, and it moved)."""
    return (
        status.highestmodseq is not None
        and cursor.highestmodseq is not None
        and status.highestmodseq != cursor.highestmodseq
    )


def _incremental(cursor: Cursor, status: ServerStatus, condstore: bool) -> Plan:
    """Steps for a folder already synced under the same UIDVALIDITY."""
    steps: list[Step] = []
    reasons: list[str] = []
    if status.uidnext > cursor.last_uid + 1 and status.uidnext != cursor.uidnext:
        steps.append(Step.FETCH_NEW)
        reasons.append(f"UIDNEXT {cursor.uidnext} -> {status.uidnext}")
    changed_since = None
    if condstore and _modseq_moved(cursor, status):
        steps.append(Step.FETCH_FLAGS)
        changed_since = cursor.highestmodseq
        reasons.append(f"HIGHESTMODSEQ {cursor.highestmodseq} -> {status.highestmodseq}")
    # With new mail, expunges show only after the fetch: the engine asks needs_reconcile then.
    if status.messages != cursor.message_count and Step.FETCH_NEW not in steps:
        steps.append(Step.RECONCILE)
        reasons.append(f"message count {cursor.message_count} -> {status.messages}")
    return Plan(tuple(steps), cursor.last_uid + 1, changed_since, "; ".join(reasons))


def needs_reconcile(stored_after_fetch: int, status: ServerStatus) -> bool:
    """After fetching new mail, a count still different from the server's means expunges."""
    return stored_after_fetch != status.messages


def batches(uids: list[int], size: int) -> list[list[int]]:
    """Split ascending UIDs into lists of at most ``size`` (Dovecot's 64 KB line limit)."""
    return [uids[i : i + size] for i in range(0, len(uids), size)]
