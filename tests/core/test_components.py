"""Link groups: threading each group alone gives exactly the threads of the whole mailbox."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.components import LinkGroups
from assistant.core.model import Message, Thread
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import msg

TEAM = Team.from_patterns(["@example.com"], "support@example.com")


def groups_of(messages: list[Message], size: int) -> list[list[Message]]:
    links = LinkGroups()
    for row, m in enumerate(messages):
        links.add(row, m.message_id, m.parent_ids, m.subject_key)
    return [[messages[row] for row in group] for group in links.groups(size)]


def shape(threads: list[Thread]) -> set[tuple[str, frozenset[int]]]:
    """Each thread's id and which messages (by identity) it holds."""
    return {(t.id, frozenset(id(m) for m in t.messages)) for t in threads}


def thread(messages: list[Message]) -> list[Thread]:
    return thread_messages(messages, shared=TEAM.__contains__)


def test_replies_and_shared_ghost_parents_link_unrelated_mail_does_not() -> None:
    a = msg("a@x", subject="Invoice 77 is wrong")
    b = msg("b@x", subject="Re: Invoice 77 is wrong", parents=("a@x",))
    c = msg("c@x", subject="Parcel lost", parents=("ghost@x",))
    d = msg("d@x", subject="Where is my parcel", parents=("ghost@x",))
    e = msg("e@x", subject="Hello")  # generic: links to nothing by subject
    f = msg("f@x", subject="Hello", sender="other@client.test")
    groups = groups_of([a, b, c, d, e, f], size=1)
    as_ids = sorted(sorted(m.message_id for m in g) for g in groups)
    assert as_ids == [["a@x", "b@x"], ["c@x", "d@x"], ["e@x"], ["f@x"]]


def test_a_headerless_orphan_shares_a_group_with_its_subject() -> None:
    first = msg("q@x", subject="Refund for order 991", at=timedelta(0))
    orphan = msg(
        "r@x", sender="ann@example.com", to="client@client.test", subject="Refund for order 991"
    )
    (group,) = groups_of([first, orphan], size=1)
    assert len(group) == 2
    assert len(thread([first, orphan])) == 1  # the threader does join them


def test_groups_are_packed_up_to_the_size_and_big_components_stay_whole() -> None:
    chain = [msg(f"c{i}@x", parents=tuple(f"c{j}@x" for j in range(i))) for i in range(5)]
    singles = [msg(f"s{i}@x", subject=f"Ticket {i} broken") for i in range(6)]
    groups = groups_of([*singles[:2], *chain, *singles[2:]], size=3)
    assert [len(g) for g in groups] == [2, 5, 3, 1]
    assert sorted(m.message_id for g in groups for m in g) == sorted(
        m.message_id for m in [*chain, *singles]
    )


@st.composite
def mailboxes(draw: st.DrawFn) -> list[Message]:
    """Replies with References, shared and missing parents, duplicate ids, subjects that
    repeat (some generic), headerless answers from the team, over a few weeks."""
    n = draw(st.integers(min_value=1, max_value=40))
    subjects = ["Invoice 12 wrong", "Parcel lost", "Hello", "Question", "Refund 7 pending"]
    senders = ["a@client.test", "b@client.test", "ann@example.com", "support@example.com"]
    out: list[Message] = []
    for i in range(n):
        parents = draw(st.lists(st.integers(0, n + 5), max_size=3))
        mid = f"m{draw(st.integers(0, n))}@x"  # ids may repeat: duplicates and re-keys
        out.append(
            msg(
                mid,
                sender=draw(st.sampled_from(senders)),
                to=draw(st.sampled_from(senders)),
                subject=draw(st.sampled_from(subjects)),
                at=timedelta(days=draw(st.integers(0, 40)), minutes=i),
                parents=tuple(f"m{p}@x" for p in parents),
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(mailboxes(), st.integers(min_value=1, max_value=12))
def test_threading_group_by_group_equals_threading_everything(
    messages: list[Message], size: int
) -> None:
    whole = thread(messages)
    by_group = [t for group in groups_of(messages, size) for t in thread(group)]
    assert shape(by_group) == shape(whole)
