"""JWZ threading over Message-ID / In-Reply-To / References, iterative and cycle-safe.

Steps (https://www.jwz.org/doc/threading.html, RFC 5256 ``REFERENCES``):

1. One container per Message-ID, seen or only referenced ("ghosts"). A Message-ID used by
   two different messages is re-keyed for the second one; true duplicates (same id, sender,
   date and subject, e.g. the copy in INBOX and in Sent) collapse into one.
2. Each consecutive pair of a message's parent chain (References, then In-Reply-To) is linked
   parent -> child unless the child already has a parent or the link would make a loop; the
   message's own parent is its last reference, overriding a guess made earlier.
3. The roots of the resulting forest are the threads; a thread's id is its root's Message-ID.
4. Subject fallback, only for *orphans* (a thread whose root message has no In-Reply-To and
   no References), with the replies it got: join an earlier thread with the same non-generic
   normalised subject, within ``window`` after its last message, sharing a participant who is
   not one of the ``shared`` addresses (the team's). Two clients' "Question" threads never
   merge, and machine mail (``eligible``) is never joined by subject.

Synthetic ids (made up for messages that had none) never link anything. Nothing recurses, so
a 10,000-deep reply chain is fine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise

from .model import Message, Thread
from .subject import is_generic

SUBJECT_WINDOW = timedelta(days=14)


@dataclass(slots=True)
class _Container:
    id: str
    message: Message | None = None
    parent: _Container | None = None
    children: list[_Container] = field(default_factory=list)


def _is_ancestor(candidate: _Container, node: _Container) -> bool:
    """True when ``candidate`` is ``node`` or one of its ancestors."""
    cursor: _Container | None = node
    while cursor is not None:
        if cursor is candidate:
            return True
        cursor = cursor.parent
    return False


def _link(parent: _Container, child: _Container, *, force: bool) -> None:
    if child.parent is parent or _is_ancestor(child, parent):
        return
    if child.parent is not None:
        if not force:
            return
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def _same_message(a: Message, b: Message) -> bool:
    return (a.sender, a.date, a.subject) == (b.sender, b.date, b.subject)


class _Table:
    def __init__(self) -> None:
        self.by_id: dict[str, _Container] = {}
        self.duplicates = 0

    def container(self, mid: str) -> _Container:
        node = self.by_id.get(mid)
        if node is None:
            node = self.by_id[mid] = _Container(mid)
        return node

    def place(self, msg: Message) -> _Container | None:
        """Put ``msg`` in its container; return None for a true duplicate."""
        node = self.container(msg.message_id)
        if node.message is None:
            node.message = msg
            return node
        if _same_message(node.message, msg):
            self.duplicates += 1
            return None
        n = 2
        while f"{msg.message_id}#dup{n}" in self.by_id:
            n += 1
        node = self.container(f"{msg.message_id}#dup{n}")
        node.message = msg
        return node


def _walk(root: _Container) -> list[Message]:
    out: list[Message] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.message is not None:
            out.append(node.message)
        stack.extend(node.children)
    return out


def _participants(messages: Iterable[Message]) -> set[str]:
    found: set[str] = set()
    for msg in messages:
        if msg.sender is not None:
            found.add(msg.sender.email)
        found.update(a.email for a in msg.recipients)
    return found


@dataclass(slots=True)
class _Group:
    root: str
    messages: list[Message]
    reasons: dict[str, str]
    orphan: bool  # the root is a real message with no In-Reply-To and no References


def _subject_fallback(
    groups: list[_Group],
    shared: Callable[[str], bool],
    window: timedelta,
    eligible: Callable[[Message], bool],
) -> list[_Group]:
    """Fold header-less orphans (and the replies they got) into an earlier thread of the
    same conversation."""
    groups.sort(key=lambda g: g.messages[0].date)
    by_subject: dict[str, list[_Group]] = {}
    kept: list[_Group] = []
    for group in groups:
        first = group.messages[0]
        key = first.subject_key
        joinable = group.orphan and eligible(first) and not is_generic(key)
        target = (
            _earlier_same_subject(group, by_subject.get(key, []), shared, window)
            if joinable
            else None
        )
        if target is not None:
            target.messages.extend(group.messages)
            target.messages.sort(key=lambda m: m.date)
            target.reasons.update(group.reasons)
            target.reasons[first.message_id] = "subject"
            continue
        kept.append(group)
        if not is_generic(key):
            by_subject.setdefault(key, []).append(group)
    return kept


def _earlier_same_subject(
    group: _Group,
    candidates: list[_Group],
    shared: Callable[[str], bool],
    window: timedelta,
) -> _Group | None:
    """The latest earlier thread of the same subject, open within ``window``, that shares a
    participant (team addresses aside) with ``group``."""
    if not candidates:
        return None
    first = group.messages[0]
    mine = {p for p in _participants(group.messages) if not shared(p)}
    for candidate in reversed(candidates):
        last = candidate.messages[-1].date
        if not (candidate.messages[0].date <= first.date <= last + window):
            continue
        if mine & {p for p in _participants(candidate.messages) if not shared(p)}:
            return candidate
    return None


def _link_parents(table: _Table, node: _Container) -> None:
    """Link a placed message under its References chain (the chain's own order kept loose)."""
    placed_msg = node.message
    assert placed_msg is not None  # placed containers always hold their message
    chain = [table.container(mid) for mid in placed_msg.parent_ids]
    for parent, child in pairwise(chain):
        _link(parent, child, force=False)
    if chain:
        _link(chain[-1], node, force=True)


def _root_group(node: _Container) -> _Group | None:
    """The messages under a root container, oldest first; None for a non-root or an empty one."""
    if node.parent is not None:
        return None
    found = _walk(node)
    if not found:
        return None
    found.sort(key=lambda m: m.date)
    orphan = node.message is not None and not node.message.parent_ids
    return _Group(node.id, found, {m.message_id: "header" for m in found[1:]}, orphan)


def thread_messages(
    messages: Iterable[Message],
    shared: Callable[[str], bool] = lambda _addr: False,
    window: timedelta = SUBJECT_WINDOW,
    eligible: Callable[[Message], bool] = lambda _msg: True,
) -> list[Thread]:
    """Group messages into threads, oldest message first in each, threads by first date.

    ``shared`` tells team addresses (not evidence of one conversation); ``eligible`` says
    which orphans may be joined by subject (machine mail should not be).
    """
    table = _Table()
    placed = [node for node in map(table.place, messages) if node is not None]
    for node in placed:
        _link_parents(table, node)
    groups = [group for node in table.by_id.values() if (group := _root_group(node))]
    groups = _subject_fallback(groups, shared, window, eligible)
    threads = [Thread(g.root, tuple(g.messages), g.reasons) for g in groups]
    threads.sort(key=lambda t: (t.messages[0].date, t.id))
    return threads
