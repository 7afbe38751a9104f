"""The ladder: what is due when, to whom, once, and the promise it makes."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from assistant.core.clock import BusinessCalendar
from assistant.core.ladder import Case, Decision, Kind, Ladder, decide, promised_reply
from assistant.core.machine import classify
from assistant.core.model import Message
from assistant.core.outbox import b32_120, idempotency_key, is_own_message_id, message_id_for
from assistant.core.ownership import Person
from assistant.core.state import History, ThreadState, thread_state
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import T0, msg

TEAM = Team.from_patterns(["@example.com"], "support@example.com")
CAL = BusinessCalendar.build("UTC", "Mon-Fri 09:00-17:00")  # 8h days
PEOPLE = {
    "alice@example.com": Person("alice@example.com", "Alice", backup="sam@example.com"),
    "sam@example.com": Person("sam@example.com", "Sam"),
    "lena@example.com": Person("lena@example.com", "Lena", lead=True),
}
H = timedelta(hours=1)


def state(*messages: Message) -> ThreadState:
    (thread,) = thread_messages(list(messages), shared=TEAM.__contains__)
    return thread_state(thread, TEAM, classify)


def case(st: ThreadState) -> Case:
    return Case("support", "a@c", st, "alice@example.com", "lena@example.com", PEOPLE)


def due_at(
    now: datetime, st: ThreadState, history: History | None = None, ladder: Ladder | None = None
) -> Decision:
    return decide(case(st), now, history or History(), ladder or Ladder(), CAL)


def test_acknowledge_after_grace_with_a_promise_from_the_same_clock() -> None:
    st = state(msg("a@c"))  # Monday 09:00
    assert due_at(T0 + timedelta(minutes=1), st).actions == ()
    decision = due_at(T0 + timedelta(minutes=2), st)
    (ack,) = decision.actions
    assert ack.kind is Kind.ACKNOWLEDGE and ack.rule == "acknowledge"
    assert ack.recipient == "client@client.test"
    assert ack.due == T0 + timedelta(minutes=2)
    assert ack.promised_by == T0 + 4 * H == promised_reply(st, Ladder(), CAL)
    assert decision.upcoming is not None and decision.upcoming.kind is Kind.REMIND_OWNER


def test_acknowledgement_is_real_time_even_at_night() -> None:
    saturday_night = T0 + timedelta(days=5, hours=14)
    st = state(msg("a@c", at=saturday_night))
    (ack,) = due_at(saturday_night + timedelta(minutes=3), st).actions
    assert ack.kind is Kind.ACKNOWLEDGE
    assert ack.promised_by == datetime(2026, 11, 23, 13, tzinfo=UTC)  # Monday 09:00 + 4 bh


def test_the_whole_ladder_in_business_time() -> None:
    st = state(msg("a@c", at=T0 + 8 * H))  # Monday 17:00 (closing)
    now = datetime(2026, 11, 20, 17, tzinfo=UTC)  # Friday closing: 4 business days later
    decision = due_at(now, st)
    got = {a.kind: (a.due, a.recipient) for a in decision.actions}
    assert got[Kind.REMIND_OWNER] == (datetime(2026, 11, 17, 13, tzinfo=UTC), "alice@example.com")
    assert got[Kind.ESCALATE_BACKUP] == (datetime(2026, 11, 17, 17, tzinfo=UTC), "sam@example.com")
    assert got[Kind.ESCALATE_LEAD] == (datetime(2026, 11, 18, 17, tzinfo=UTC), "lena@example.com")
    assert got[Kind.CLIENT_UPDATE] == (datetime(2026, 11, 19, 17, tzinfo=UTC), "client@client.test")


def test_done_steps_are_not_repeated_and_keys_are_deterministic() -> None:
    st = state(msg("a@c"))
    now = T0 + timedelta(days=1)
    first = due_at(now, st)
    again = due_at(now, st)
    assert [a.key for a in first.actions] == [a.key for a in again.actions]
    history = History(sent=frozenset(a.key for a in first.actions))
    assert due_at(now, st, history).actions == ()


def test_no_acknowledgement_once_the_team_has_spoken() -> None:
    st = state(
        msg("a@c"),
        msg("b@e", sender="alice@example.com", to="client@client.test", at=H, parents=("a@c",)),
        msg("c@c", at=2 * H, parents=("a@c", "b@e")),
    )
    decision = due_at(T0 + 3 * H, st)
    assert all(a.kind is not Kind.ACKNOWLEDGE for a in decision.actions)
    assert any(s.rule == "no-ack-after-human-reply" for s in decision.skipped)


def test_new_episode_gets_new_reminder_keys_but_never_a_second_ack() -> None:
    first = state(msg("a@c"))
    later = state(
        msg("a@c"),
        msg("b@e", sender="alice@example.com", to="client@client.test", at=H, parents=("a@c",)),
        msg("c@c", at=2 * H, parents=("a@c", "b@e")),
    )
    now = T0 + timedelta(days=2)
    keys1 = {a.kind: a.key for a in due_at(now, first).actions}
    keys2 = {a.kind: a.key for a in due_at(now, later).actions}
    assert keys1[Kind.REMIND_OWNER] != keys2[Kind.REMIND_OWNER]
    assert Kind.ACKNOWLEDGE not in keys2


def test_history_before_connection_is_never_acknowledged() -> None:
    st = state(msg("a@c"))
    ladder = Ladder(acknowledge_since=T0 + H)
    decision = due_at(T0 + 2 * H, st, ladder=ladder)
    assert all(a.kind is not Kind.ACKNOWLEDGE for a in decision.actions)
    assert any(s.rule == "no-ack-for-history" for s in decision.skipped)


def test_history_never_gets_client_mail_but_its_owner_is_reminded() -> None:
    """A thread waiting since before the mailbox was connected: weeks later, no update to the
    client (Followup never writes first to them), while the owner's ladder still runs."""
    st = state(msg("a@c"))
    weeks = T0 + timedelta(days=30)
    for stored_verdict, ladder in ((False, Ladder()), (None, Ladder(acknowledge_since=T0 + H))):
        history_case = replace(case(st), ack_eligible=stored_verdict)
        decision = decide(history_case, weeks, History(), ladder, CAL)
        kinds = {a.kind for a in decision.actions}
        assert Kind.CLIENT_UPDATE not in kinds and Kind.ACKNOWLEDGE not in kinds
        assert Kind.REMIND_OWNER in kinds and Kind.ESCALATE_LEAD in kinds
        assert {s.rule for s in decision.skipped} >= {
            "no-ack-for-history",
            "no-client-mail-for-history",
        }
    new_mail = decide(replace(case(st), ack_eligible=True), weeks, History(), Ladder(), CAL)
    assert Kind.CLIENT_UPDATE in {a.kind for a in new_mail.actions}


def test_snooze_pauses_everything_until_it_ends() -> None:
    st = state(msg("a@c"))
    now = T0 + timedelta(days=1)
    assert due_at(now, st, History(snoozed_until=now + H)).actions == ()
    assert due_at(now + H, st, History(snoozed_until=now + H)).actions != ()


def test_nothing_for_threads_not_waiting() -> None:
    st = state(msg("a@e", sender="alice@example.com", to="client@client.test"))
    assert due_at(T0 + timedelta(days=9), st).actions == ()


def test_missing_backup_falls_back_to_lead_and_missing_lead_is_skipped() -> None:
    st = state(msg("a@c"))
    now = T0 + timedelta(days=9)
    c = replace(case(st), owner="sam@example.com")
    got = {a.kind: a.recipient for a in decide(c, now, History(), Ladder(), CAL).actions}
    assert got[Kind.ESCALATE_BACKUP] == "lena@example.com"
    c = replace(c, lead=None)
    decision = decide(c, now, History(), Ladder(), CAL)
    assert {s.step for s in decision.skipped if s.rule == "no-recipient"} == {
        "escalate-backup",
        "escalate-lead",
    }


def test_outbox_ids_are_deterministic_and_recognisable() -> None:
    key = idempotency_key("support", "a@c", "acknowledge")
    assert key == idempotency_key("support", "a@c", "acknowledge")
    assert key != idempotency_key("support", "a@c", "acknowledge", "episode2")
    assert key.startswith("support:acknowledge:")
    mid = message_id_for(key, "example.com")
    assert mid == message_id_for(key, "example.com") and mid.endswith("@example.com")
    assert is_own_message_id(mid) and not is_own_message_id("a@c")


@given(st.binary(min_size=15, max_size=15))
def test_fast_base32_is_base32(data: bytes) -> None:
    assert b32_120(data) == base64.b32encode(data).decode().lower()
