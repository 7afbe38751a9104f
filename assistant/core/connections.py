"""How many IMAP connections a mailbox may hold, and what each one does.

Providers cap simultaneous connections per account (Gmail about 15, Exchange Online 16) and a
shared mailbox is also open in the team's own mail clients, so Followup keeps few: one sync
connection for every watched folder (INBOX kept selected, the others checked by STATUS), one
short-lived connection at a time for a delivery pass or a reply command, and the rest of the
budget for IDLE. One IDLE connection watches INBOX and, where the server offers NOTIFY
(RFC 5465), every other watched folder as well; without NOTIFY, further IDLE connections go
to Sent and Archive only while the budget lasts, and what is not idled on is found by the
periodic check. Pure: the watcher asks, the numbers answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The default budget per mailbox: sync, one transient (delivery or command), one IDLE, spare.
DEFAULT_BUDGET = 4
#: Connections that are not IDLE: the sync connection and one transient.
RESERVED = 2


@dataclass(frozen=True, slots=True)
class IdlePlan:
    """Which folders get an IDLE connection, and which the IDLE on INBOX covers by NOTIFY."""

    idle: tuple[str, ...]
    notify: tuple[str, ...] = ()

    @property
    def connections(self) -> int:
        """IDLE connections this plan opens."""
        return len(self.idle)


def plan_idle(folders: Sequence[str], budget: int, *, has_idle: bool, has_notify: bool) -> IdlePlan:
    """IDLE for ``folders`` (INBOX first) within ``budget`` connections per mailbox."""
    room = max(0, budget - RESERVED)
    if not has_idle or room == 0 or not folders:
        return IdlePlan(idle=())
    if has_notify:
        return IdlePlan(idle=(folders[0],), notify=tuple(folders[1:]))
    return IdlePlan(idle=tuple(folders[:room]))


def most_connections(plan: IdlePlan) -> int:
    """The most connections the mailbox holds at once under ``plan``."""
    return RESERVED + plan.connections
