"""JWZ threading: header links, ghosts, duplicates, cycles, and the careful subject fallback."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.model import Message
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import msg

TEAM = Team.from_patterns(["@example.com"], "support@example.com")
H = timedelta(hours=1)


def ids(threads: list) -> list[list[str]]:  # type: ignore[type-arg]
    return [[m.message_id for m in t.messages] for t in threads]


def test_reply_chain_is_one_thread_ordered_by_date() -> None:
    a = msg("a@x", at=0 * H)
    b = msg("b@x", sender="alice@example.com", at=1 * H, parents=("a@x",))
    c = msg("c@x", at=2 * H, parents=("a@x", "b@x"))
    threads = thread_messages([c, a, b])
    assert ids(threads) == [["a@x", "b@x", "c@x"]]
    assert threads[0].id == "a@x"
    assert threads[0].link_reasons == {"b@x": "header", "c@x": "header"}


def test_missing_parent_becomes_a_ghost_root() -> None:
    b = msg("b@x", at=1 * H, parents=("ghost@x",))
    c = msg("c@x", at=2 * H, parents=("ghost@x", "b@x"))
    threads = thread_messages([b, c])
    assert ids(threads) == [["b@x", "c@x"]] and threads[0].id == "ghost@x"


def test_siblings_sharing_only_a_ghost_join() -> None:
    b = msg("b@x", at=1 * H, parents=("root@x",))
    c = msg("c@x", at=2 * H, parents=("root@x",))
    assert len(thread_messages([b, c])) == 1


def test_late_parent_bridges_two_partial_threads() -> None:
    child = msg("c@x", at=2 * H, parents=("b@x",))
    root = msg("a@x", at=0 * H)
    middle = msg("b@x", at=1 * H, parents=("a@x",))
    assert ids(thread_messages([child, root, middle])) == [["a@x", "b@x", "c@x"]]


def test_reference_cycle_does_not_loop_or_lose_messages() -> None:
    a = msg("a@x", at=0 * H, parents=("b@x",))
    b = msg("b@x", at=1 * H, parents=("a@x",))
    threads = thread_messages([a, b])
    assert sorted(m.message_id for t in threads for m in t.messages) == ["a@x", "b@x"]


def test_self_reference_is_ignored() -> None:
    a = msg("a@x", references="<a@x>", in_reply_to="<a@x>")
    assert ids(thread_messages([a])) == [["a@x"]]


def test_true_duplicate_collapses_and_reused_id_is_kept_apart() -> None:
    a = msg("a@x")
    copy = msg("a@x")
    other = msg("a@x", sender="someone@else.test", subject="Different", at=H)
    threads = thread_messages([a, copy, other])
    everything = [m for t in threads for m in t.messages]
    assert len(everything) == 2
    assert {t.id for t in threads} == {"a@x", "a@x#dup2"}


def test_messages_without_message_id_never_link() -> None:
    a = msg(None, subject="Invoice 77 is wrong")
    b = msg(None, sender="other@client2.test", subject="Invoice 77 is wrong", at=H)
    assert a.synthetic_id and b.synthetic_id
    assert len(thread_messages([a, b], shared=TEAM.__contains__)) == 2


def test_very_deep_chain_does_not_recurse() -> None:
    chain = [msg("m0@x")]
    for i in range(1, 3000):
        chain.append(msg(f"m{i}@x", at=i * timedelta(seconds=1), in_reply_to=f"<m{i - 1}@x>"))
    assert len(thread_messages(chain)[0].messages) == 3000


def test_subject_fallback_joins_a_headerless_team_reply() -> None:
    q = msg("q@client.test", subject="Invoice 2026-118 wrong VAT")
    r = msg(
        "r@example.com",
        sender="alice@example.com",
        to="client@client.test",
        subject="Re: Invoice 2026-118 wrong VAT",
        at=3 * H,
    )
    threads = thread_messages([q, r], shared=TEAM.__contains__)
    assert ids(threads) == [["q@client.test", "r@example.com"]]
    assert threads[0].link_reasons["r@example.com"] == "subject"


def test_two_clients_question_threads_never_merge() -> None:
    a = msg("a@c1.test", sender="carla@c1.test", subject="Question")
    b = msg("b@c2.test", sender="dev@c2.test", subject="Question", at=H)
    c = msg("c@c2.test", sender="dev@c2.test", subject="Re: Question", at=2 * H)
    assert len(thread_messages([a, b, c], shared=TEAM.__contains__)) == 3


def test_two_clients_same_specific_subject_do_not_merge_through_the_team() -> None:
    a = msg("a@c1.test", sender="carla@c1.test", subject="Export to CSV fails")
    reply = msg(
        "r@example.com",
        sender="support@example.com",
        to="carla@c1.test",
        subject="Re: Export to CSV fails",
        at=H,
        parents=("a@c1.test",),
    )
    b = msg("b@c2.test", sender="dev@c2.test", subject="Export to CSV fails", at=2 * H)
    threads = thread_messages([a, reply, b], shared=TEAM.__contains__)
    assert ids(threads) == [["a@c1.test", "r@example.com"], ["b@c2.test"]]


def test_subject_fallback_respects_the_time_window() -> None:
    q = msg("q@client.test", subject="Invoice 2026-118 wrong VAT")
    late = msg(
        "r@example.com",
        sender="alice@example.com",
        to="client@client.test",
        subject="Re: Invoice 2026-118 wrong VAT",
        at=timedelta(days=30),
    )
    assert len(thread_messages([q, late], shared=TEAM.__contains__)) == 2


def test_header_threads_with_same_subject_are_not_merged() -> None:
    a = msg("a@x", subject="Invoice 2026-118 wrong VAT")
    b = msg("b@x", subject="Invoice 2026-118 wrong VAT", at=H, parents=("zzz@x",))
    assert len(thread_messages([a, b], shared=TEAM.__contains__)) == 2


@st.composite
def forests(draw: st.DrawFn) -> list[Message]:
    """Random reply trees with consistent References, some parents never seen."""
    n = draw(st.integers(min_value=1, max_value=40))
    parents: list[int | None] = []
    for i in range(n):
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None)
    hidden = draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    out = []
    for i in range(n):
        chain: list[str] = []
        p = parents[i]
        while p is not None:
            chain.insert(0, f"m{p}@x")
            p = parents[p]
        if i not in hidden:
            out.append(
                msg(f"m{i}@x", subject=f"topic {i}", at=timedelta(minutes=i), parents=tuple(chain))
            )
    return out


@settings(max_examples=150, deadline=None)
@given(forests(), st.randoms(use_true_random=False))
def test_every_message_once_and_order_does_not_matter(
    messages: list[Message], rnd: random.Random
) -> None:
    first = thread_messages(messages)
    placed = [m.message_id for t in first for m in t.messages]
    assert sorted(placed) == sorted(m.message_id for m in messages)
    shuffled = list(messages)
    rnd.shuffle(shuffled)
    second = thread_messages(shuffled)
    as_sets = lambda ts: {frozenset(m.message_id for m in t.messages) for t in ts}  # noqa: E731
    assert as_sets(first) == as_sets(second)
    for t in first:
        dates = [m.date for m in t.messages]
        assert dates == sorted(dates)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), st.lists(st.integers(0, 8), max_size=4)),
        min_size=1,
        max_size=9,
        unique_by=lambda t: t[0],
    )
)
def test_arbitrary_references_including_cycles_terminate(spec: list[tuple[int, list[int]]]) -> None:
    messages = [
        msg(f"m{i}@x", at=timedelta(minutes=i), references=" ".join(f"<m{r}@x>" for r in refs))
        if refs
        else msg(f"m{i}@x", at=timedelta(minutes=i))
        for i, refs in spec
    ]
    threads = thread_messages(messages)
    assert sorted(m.message_id for t in threads for m in t.messages) == sorted(
        m.message_id for m in messages
    )


def test_headerless_reply_that_got_replies_is_folded_with_them() -> None:
    q = msg("q@client.test", subject="Invoice 2026-118 wrong VAT")
    nudge = msg("n@client.test", subject="Re: Invoice 2026-118 wrong VAT", at=2 * H)
    answer = msg(
        "a@example.com",
        sender="alice@example.com",
        to="client@client.test",
        subject="Re: Invoice 2026-118 wrong VAT",
        at=3 * H,
        parents=("n@client.test",),
    )
    threads = thread_messages([q, nudge, answer], shared=TEAM.__contains__)
    assert ids(threads) == [["q@client.test", "n@client.test", "a@example.com"]]


def test_machine_mail_is_never_joined_by_subject() -> None:
    a = msg("b1@mx", sender="mailer-daemon@mx.test", subject="Undelivered Mail Returned to Sender")
    b = msg(
        "b2@mx", sender="mailer-daemon@mx.test", subject="Undelivered Mail Returned to Sender", at=H
    )
    human = lambda m: not m.sender or "daemon" not in m.sender.email  # noqa: E731
    assert len(thread_messages([a, b], shared=TEAM.__contains__, eligible=human)) == 2
    assert len(thread_messages([a, b], shared=TEAM.__contains__)) == 1


#: Thread-Index as Outlook writes it: 22 bytes for the first message of a conversation
#: (a FILETIME prefix and a GUID), 5 more for each reply, base64-encoded.
OUTLOOK_FIRST = "AdOefxorAAECAwQFBgcICQoLDA0ODw=="
OUTLOOK_REPLY = "AdOefxorAAECAwQFBgcICQoLDA0ODwAAobLD"


def test_an_outlook_reply_with_only_thread_index_joins_its_conversation() -> None:
    from assistant.core.machine import classify
    from assistant.core.state import thread_state
    from assistant.core.team import Team

    question = msg(
        "q@client.test", subject="Question", thread_index=OUTLOOK_FIRST, thread_topic="Question"
    )
    # A teammate answers from Outlook in another mailbox: no In-Reply-To, no References,
    # a generic subject that the subject fallback would never trust.
    answer = msg(
        "a@example.com",
        sender="alice@example.com",
        to="client@client.test",
        subject="RE: Question",
        at=timedelta(hours=1),
        thread_index=OUTLOOK_REPLY,
        thread_topic="Question",
    )
    other = msg("o@else.test", sender="zed@else.test", subject="Question", at=timedelta(minutes=5))
    threads = thread_messages([question, answer, other])
    assert sorted(len(t.messages) for t in threads) == [1, 2]
    (joined,) = [t for t in threads if len(t.messages) == 2]
    team = Team.from_patterns(["@example.com"], "support@example.com")
    assert thread_state(joined, team, classify).state.value == "awaiting_client"


def test_thread_index_that_is_not_outlooks_links_nothing() -> None:
    from assistant.core.headers import outlook_conversation

    assert outlook_conversation(OUTLOOK_FIRST) == outlook_conversation(OUTLOOK_REPLY)
    assert outlook_conversation(OUTLOOK_FIRST)[0].endswith("@thread-index.invalid")
    for bad in ("", "not base64!", "AAAA", OUTLOOK_FIRST + "AA", None):
        assert outlook_conversation(bad) == ()
    # A real parent wins: Thread-Index is only a fallback for mail with no threading headers.
    reply = msg("r@c", parents=("q@client.test",), thread_index=OUTLOOK_REPLY)
    assert reply.references == ("q@client.test",)
