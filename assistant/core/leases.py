"""Spreading mailboxes over watcher processes: which leases to take and which to give back.

Each live watcher aims at its fair share, ``ceil(mailboxes / watchers)``: one with fewer takes
free mailboxes, one with more gives the surplus back (its highest ids) so a newcomer gets
some. Pure; the Redis leases themselves are in :mod:`assistant.runners.fleet`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeasePlan:
    """Mailbox ids to try to acquire, and to release."""

    acquire: tuple[int, ...] = ()
    release: tuple[int, ...] = ()


def fair_share(mailboxes: int, watchers: int) -> int:
    """How many mailboxes one watcher should hold."""
    return -(-mailboxes // max(1, watchers))


def plan_leases(
    mine: Collection[int], free: Collection[int], mailboxes: int, watchers: int
) -> LeasePlan:
    """What one watcher holding ``mine`` should do, with ``free`` mailboxes unheld."""
    target = fair_share(mailboxes, watchers)
    held = sorted(mine)
    if len(held) > target:
        return LeasePlan(release=tuple(held[target:]))
    wanted = target - len(held)
    return LeasePlan(acquire=tuple(sorted(set(free) - set(held))[:wanted]))
