"""Split a mailbox into groups of messages that thread independently of each other.

Threading (:mod:`assistant.core.threading`) links messages only through a shared
Message-ID (their own, or one in References / In-Reply-To) and, for orphans, through the
same non-generic subject key. Messages that share none of these, directly or through
others, can never end up in one thread, so a large mailbox can be threaded one connected
component at a time with the same result, and memory then follows the largest group
instead of the mailbox.

Keys are Python hashes of the ids and subjects, not the strings: a collision can only merge
two components (still correct, a little more work), and a 100,000-message mailbox costs a
few megabytes of integers instead of every Message-ID string.
"""

from __future__ import annotations

from collections.abc import Iterable

from .subject import is_generic


class LinkGroups:
    """Union-find over the links of the rows added; :meth:`groups` packs the components."""

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._rows: list[tuple[int, int]] = []

    def _find(self, key: int) -> int:
        parent = self._parent
        while True:
            up = parent.get(key)
            if up is None or up == key:
                return key
            top = parent.get(up)
            if top is None or top == up:
                return up
            parent[key] = top  # path halving: later finds take half the steps
            key = top

    def add(self, row: int, message_id: str, parents: Iterable[str], subject_key: str) -> None:
        """One stored message: its row id, Message-ID, referenced ids and subject key."""
        key = hash(message_id)
        root = self._find(key)
        links = [hash(parent) for parent in parents]
        if subject_key and not is_generic(subject_key):
            links.append(hash(("subject", subject_key)))
        for link in links:
            other = self._find(link)
            if other != root:
                self._parent[other] = root
        self._rows.append((row, key))

    def groups(self, size: int) -> list[list[int]]:
        """Row ids by component, components packed in order of their first row into groups
        of at most ``size`` rows (a larger component is a group of its own)."""
        components: dict[int, list[int]] = {}
        for row, key in self._rows:
            components.setdefault(self._find(key), []).append(row)
        out: list[list[int]] = []
        current: list[int] = []
        for rows in components.values():  # insertion order: by first row added
            if current and len(current) + len(rows) > size:
                out.append(current)
                current = []
            current += rows
        if current:
            out.append(current)
        return out
