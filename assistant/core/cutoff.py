"""History or new mail: which client messages may be acknowledged at all.

Mail already in INBOX when the mailbox was connected is history: threaded and shown, never
acknowledged. Two facts from the server say when a message reached INBOX, and neither is
the forgeable Date header:

- its **UID**, assigned by the server in arrival order: at or above the INBOX's UIDNEXT
  recorded when the mailbox was connected (the connection test reads it) means it arrived
  after. A UID cannot be forged by a sender.
- its **INTERNALDATE**: the time the server filed it. A message copied or moved into INBOX
  later (a teammate dragging an old conversation back, an import) gets a new UID but keeps
  its old INTERNALDATE.

When they disagree, the one that says *history* wins (a missed acknowledgement costs less
than acknowledging old mail): a new UID with an INTERNALDATE from before the connection
(less :data:`SKEW`, the servers' and our clocks differ a little) is history, and a UID
below the cut-off is history whatever its INTERNALDATE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: How far the IMAP server's clock may lag ours without a new message counting as history.
SKEW = timedelta(minutes=5)


def history_cutoff(
    recorded_uidnext: int | None,
    recorded_uidvalidity: int | None,
    uidvalidity: int,
    uidnext: int,
) -> int:
    """The first UID of new mail for a folder now at ``uidvalidity``/``uidnext``.

    The UIDNEXT recorded at connect time counts while the UIDVALIDITY is the same; without
    one (a mailbox stored without a connection test), or after the server renumbered the
    folder, everything there now is history."""
    if recorded_uidnext is not None and recorded_uidvalidity == uidvalidity:
        return recorded_uidnext
    return uidnext


def is_new_mail(
    uid: int, internaldate: datetime | None, cutoff_uid: int | None, connected_at: datetime
) -> bool:
    """Whether a message reached INBOX after the mailbox was connected (see module doc)."""
    if cutoff_uid is None or internaldate is None or uid < cutoff_uid:
        return False
    # INTERNALDATE has whole seconds: compare at that resolution.
    return internaldate >= connected_at.replace(microsecond=0) - SKEW
