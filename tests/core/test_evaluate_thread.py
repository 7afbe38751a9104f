"""One thread's evaluation, the same for a replay and the service: state, owner, timeline
lines, first response; and the archive rule."""

from __future__ import annotations

from datetime import timedelta

from assistant.core.clock import BusinessCalendar
from assistant.core.evaluate import (
    Event,
    MailboxPolicy,
    Prior,
    ThreadEvaluation,
    evaluate_thread,
)
from assistant.core.machine import classify
from assistant.core.model import Message, Thread
from assistant.core.ownership import OwnershipRules
from assistant.core.state import History, is_archived
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import T0, msg

H = timedelta(hours=1)
TEAM = Team.from_patterns(["@example.com"], "support@example.com")
POLICY = MailboxPolicy(
    name="support",
    address="support@example.com",
    team=TEAM,
    calendar=BusinessCalendar.build("UTC", "Mon-Fri 09:00-17:00"),
    ownership=OwnershipRules(rotation=("ann@example.com", "bob@example.com")),
)
ASKED = msg("a@c")
ANSWERED = msg("b@e", sender="ann@example.com", to="client@client.test", at=H, parents=("a@c",))


def thread(*messages: Message) -> Thread:
    (only,) = thread_messages(list(messages), shared=TEAM.__contains__)
    return only


def run(
    t: Thread, history: History | None = None, prior: Prior | None = None, rotation: int = 0
) -> ThreadEvaluation:
    return evaluate_thread(t, POLICY, classify, history or History(), rotation, prior)


def test_a_new_wait_gets_the_next_owner_and_says_so() -> None:
    t = thread(ASKED)
    got = run(t, rotation=1)
    assert (got.owner, got.owner_rule, got.rotation_next) == ("bob@example.com", "round-robin", 0)
    assert got.events(t) == (
        Event(T0, "owner", "round-robin", "bob@example.com"),
        Event(T0, "state", "awaiting_team", "the client spoke last"),
    )


def test_the_same_wait_keeps_its_owner_and_the_rotation_stays() -> None:
    prior = Prior("awaiting_team", T0, "zoe@example.com", "sender-domain")
    t = thread(ASKED)
    got = run(t, prior=prior, rotation=1)
    assert (got.owner, got.owner_rule, got.rotation_next, got.events(t)) == (
        "zoe@example.com",
        "sender-domain",
        1,
        (),
    )


def test_a_new_wait_chooses_again_and_an_assignment_wins() -> None:
    prior = Prior("awaiting_team", T0 - H, "zoe@example.com", "sender-domain")
    got = run(thread(ASKED), History(assigned_to="sam@example.com"), prior)
    assert (got.owner, got.owner_rule, got.rotation_next) == ("sam@example.com", "assigned", 0)


def test_a_handled_thread_has_no_owner_and_leaves_the_rotation_alone() -> None:
    got = run(thread(ASKED), History(archived=True), rotation=1)
    assert got.state.reason == "archived"
    assert (got.owner, got.owner_rule, got.rotation_next) == (None, None, 1)
    done = run(thread(ASKED), History(done_at=T0 + H), rotation=1)
    assert (done.state.reason, done.owner, done.rotation_next) == ("marked done", None, 1)


def test_the_reply_that_ends_a_wait_is_its_first_response_in_business_time() -> None:
    t = thread(ASKED, ANSWERED)
    got = run(t, prior=Prior("awaiting_team", T0, "ann@example.com"))
    assert got.first_response == (T0 + H, 3600)
    assert got.events(t) == (Event(T0 + H, "state", "awaiting_client", "the team spoke last"),)
    assert run(thread(ASKED, ANSWERED)).first_response is None  # no wait known before


def test_the_archive_rule_looks_at_the_clients_messages_only() -> None:
    t = thread(ASKED, ANSWERED)
    places = {"a@c": ["archive"], "b@e": ["inbox"]}
    assert is_archived(t, TEAM, lambda mid: places.get(mid, []))
    places["a@c"] = ["archive", "inbox"]  # a copy still in INBOX: not filed
    assert not is_archived(t, TEAM, lambda mid: places.get(mid, []))
    assert not is_archived(t, TEAM, lambda mid: [])
