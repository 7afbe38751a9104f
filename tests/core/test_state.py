"""Thread state: who spoke last among humans, and since when the client has waited."""

from __future__ import annotations

from datetime import timedelta

from assistant.core.machine import classify
from assistant.core.model import Message
from assistant.core.state import History, State, ThreadState, thread_state
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import T0, msg

TEAM = Team.from_patterns(["@example.com", "sam@freelance.test"], "support@example.com")
H = timedelta(hours=1)


def state_of(*messages: Message, history: History | None = None) -> ThreadState:
    threads = thread_messages(list(messages), shared=TEAM.__contains__)
    assert len(threads) == 1
    return thread_state(threads[0], TEAM, classify, history)


def test_client_wrote_last_awaits_team_from_first_message() -> None:
    s = state_of(msg("a@c"))
    assert s.state is State.AWAITING_TEAM
    assert s.waiting_since == T0
    assert s.client is not None and s.client.email == "client@client.test"


def test_nudge_does_not_reset_the_clock() -> None:
    s = state_of(msg("a@c"), msg("b@c", at=5 * H, parents=("a@c",)))
    assert s.state is State.AWAITING_TEAM and s.waiting_since == T0


def test_team_reply_means_awaiting_client() -> None:
    s = state_of(
        msg("a@c"),
        msg("b@e", sender="alice@example.com", to="client@client.test", at=H, parents=("a@c",)),
    )
    assert s.state is State.AWAITING_CLIENT and s.waiting_since is None
    assert s.last_team_reply == T0 + H


def test_team_by_exact_address_outside_the_domain() -> None:
    s = state_of(
        msg("a@c"),
        msg("b@e", sender="sam@freelance.test", to="client@client.test", at=H, parents=("a@c",)),
    )
    assert s.state is State.AWAITING_CLIENT


def test_client_after_team_reply_starts_a_new_wait() -> None:
    s = state_of(
        msg("a@c"),
        msg("b@e", sender="alice@example.com", to="client@client.test", at=H, parents=("a@c",)),
        msg("c@c", at=3 * H, parents=("a@c", "b@e")),
        msg("d@c", at=4 * H, parents=("a@c", "b@e", "c@c")),
    )
    assert s.state is State.AWAITING_TEAM
    assert s.waiting_since == T0 + 3 * H
    assert s.episode_start is not None and s.episode_start.message_id == "c@c"


def test_internal_forward_is_not_an_answer() -> None:
    s = state_of(
        msg("a@c"),
        msg(
            "f@e",
            sender="alice@example.com",
            to="sam@example.com",
            subject="Fwd: x",
            at=H,
            parents=("a@c",),
        ),
    )
    assert s.state is State.AWAITING_TEAM and s.waiting_since == T0


def test_machine_mail_never_starts_or_stops_a_clock() -> None:
    ooo = msg("o@c", at=H, parents=("a@e",), auto_submitted="auto-replied")
    team = msg("a@e", sender="alice@example.com", to="client@client.test")
    s = state_of(team, ooo)
    assert s.state is State.AWAITING_CLIENT
    assert s.machine_rules == ("auto-submitted",)


def test_only_machine_mail_is_ignored() -> None:
    s = state_of(msg("n@v", sender="news@vendor.test", list_id="<news.vendor.test>"))
    assert s.state is State.IGNORED and "list-header" in s.reason


def test_done_mark_after_last_client_message_is_handled() -> None:
    s = state_of(msg("a@c"), history=History(done_at=T0 + H))
    assert s.state is State.HANDLED


def test_client_writing_after_done_reopens() -> None:
    s = state_of(
        msg("a@c"), msg("b@c", at=2 * H, parents=("a@c",)), history=History(done_at=T0 + H)
    )
    assert s.state is State.AWAITING_TEAM


def test_mailbox_address_itself_is_team() -> None:
    s = state_of(
        msg("a@c"),
        msg("b@e", sender="support@example.com", to="client@client.test", at=H, parents=("a@c",)),
    )
    assert s.state is State.AWAITING_CLIENT
