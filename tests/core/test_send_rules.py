"""The send-time rule tables: each rule fires on its case and stays silent otherwise, the
tables keep their order, and the rules shared with the ladder decide the same way there."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from assistant.core.clock import BusinessCalendar
from assistant.core.ladder import Action, Case, Kind, Ladder, Step, decide, schedule
from assistant.core.machine import classify
from assistant.core.model import Address, Message
from assistant.core.ownership import Person
from assistant.core.rules import Copy, Postpone, Skip, is_history, new_mail, team_replied, vet
from assistant.core.send_rules import (
    ACK_RULES,
    ACK_THREAD_RULES,
    GONE,
    PLAN_RULES,
    STEP_RULES,
    STEP_THREAD_RULES,
    AckFacts,
    PlanFacts,
    StepFacts,
    step_facts,
)
from assistant.core.state import History, ThreadState, thread_state
from assistant.core.team import Team
from assistant.core.threading import thread_messages
from tests.mail import T0, msg

TEAM = Team.from_patterns(["@example.com"], "support@example.com")
CAL = BusinessCalendar.build("UTC", "Mon-Fri 09:00-17:00")
PEOPLE = {
    "alice@example.com": Person("alice@example.com", "Alice", backup="sam@example.com"),
    "lena@example.com": Person("lena@example.com", "Lena", lead=True),
}
CLIENT = "client@client.test"
H = timedelta(hours=1)


def state(*messages: Message) -> ThreadState:
    (thread,) = thread_messages(list(messages), shared=TEAM.__contains__)
    return thread_state(thread, TEAM, classify)


WAITING = state(msg("a@c"))
REPLIED = state(
    msg("a@c"),
    msg("b@c", sender="alice@example.com", to=CLIENT, at=H, parents=("a@c",)),
    msg("c@c", at=2 * H, parents=("a@c", "b@c")),
)
ANSWERED = state(msg("a@c"), msg("b@c", sender="alice@example.com", to=CLIENT, at=H))
#: A waiting thread whose "client" is a team address (a colleague writing in).
TEAM_CLIENT = replace(WAITING, client=Address("bob@example.com"))


def case(st: ThreadState) -> Case:
    return Case("support", "a@c", st, "alice@example.com", "lena@example.com", PEOPLE)


def names(found: Skip | Postpone | None) -> str | None:
    return found.rule if found is not None else None


# --- the shared thread rules ------------------------------------------------------------


def test_team_replied_is_one_decision_for_planning_and_sending() -> None:
    assert REPLIED.last_team_reply is not None and WAITING.last_team_reply is None
    assert names(team_replied(REPLIED)) == "no-ack-after-human-reply"
    assert team_replied(WAITING) is None
    # The ladder's own skip comes from the same rule, with the same words.
    decision = decide(case(REPLIED), T0 + 3 * H, History(), Ladder(), CAL)
    (ack,) = [s for s in decision.skipped if s.step == "acknowledge"]
    found = team_replied(REPLIED)
    assert found is not None and (ack.rule, ack.reason) == (found.rule, found.reason)
    assert team_replied in ACK_THREAD_RULES


def test_history_is_the_stores_verdict_else_the_date() -> None:
    since = T0 + H
    assert is_history(WAITING, None, since)  # Date before the cut-off
    assert not is_history(WAITING, None, T0)
    assert not is_history(WAITING, None, None)
    assert not is_history(WAITING, True, since)  # the store says new: the Date is not read
    assert is_history(WAITING, False, None)


def test_new_mail_reads_uid_and_internaldate_of_the_first_message_only() -> None:
    start = WAITING.episode_start
    connected = T0 - H
    fresh = Copy("a@c", 10, T0)
    assert new_mail(start, [fresh], 10, connected)
    assert not new_mail(start, [replace(fresh, uid=9)], 10, connected)  # below the cut-off
    assert not new_mail(start, [replace(fresh, internaldate=T0 - 2 * H)], 10, connected)
    assert not new_mail(start, [replace(fresh, message_id="other@c")], 10, connected)
    assert not new_mail(start, [fresh], None, connected)  # no cut-off recorded
    assert not new_mail(None, [fresh], 10, connected)
    assert not new_mail(start, [], 10, connected)


def test_vet_returns_the_first_rule_that_fires() -> None:
    def no(_: int) -> Skip:
        return Skip("no", "")

    def yes(_: int) -> None:
        return None

    assert vet(1, (yes, yes)) is None
    assert names(vet(1, (yes, no, lambda _: Skip("later", "")))) == "no"


# --- an acknowledgement -----------------------------------------------------------------


def ack(st: ThreadState = WAITING, **facts: object) -> AckFacts:
    return replace(AckFacts(Kind.ACKNOWLEDGE, CLIENT, st, TEAM), **facts)  # type: ignore[arg-type]


def test_ack_thread_rules() -> None:
    assert vet(WAITING, ACK_THREAD_RULES) is None
    assert names(vet(GONE, ACK_THREAD_RULES)) == "no-ack-thread-not-waiting"
    assert names(vet(ANSWERED, ACK_THREAD_RULES)) == "no-ack-thread-not-waiting"
    assert names(vet(REPLIED, ACK_THREAD_RULES)) == "no-ack-after-human-reply"


@pytest.mark.parametrize(
    ("facts", "rule"),
    [
        (ack(recipient="someone@else.test"), "no-ack-recipient-changed"),
        (ack(state(msg("a@c", sender="bob@example.com"))), "no-ack-recipient-changed"),
        (ack(TEAM_CLIENT), "no-ack-to-team"),
        (ack(loop="loop-recipient-rate"), "loop-recipient-rate"),
        (ack(recently_sent=True), "ack-rate-per-sender"),
        (ack(body="body-out-of-office"), "body-out-of-office"),
    ],
)
def test_each_ack_rule_fires(facts: AckFacts, rule: str) -> None:
    assert names(vet(facts, ACK_RULES)) == rule


def test_no_ack_rule_fires_for_a_fresh_client_message() -> None:
    assert vet(ack(), ACK_RULES) is None


def test_the_ack_rules_keep_their_order() -> None:
    # Cheapest first: a loop pause names itself even when the rate would also say no, and
    # a changed recipient wins over everything gathered later.
    both = ack(loop="loop-paused", recently_sent=True, body="body-x")
    assert names(vet(both, ACK_RULES)) == "loop-paused"
    assert names(vet(replace(both, recipient="x@y.test"), ACK_RULES)) == "no-ack-recipient-changed"
    assert [r.__name__ for r in ACK_RULES] == [
        "no_ack_recipient_changed",
        "no_ack_to_team",
        "loop_paused",
        "ack_rate_per_sender",
        "second_look",
    ]


# --- a ladder step ----------------------------------------------------------------------

NOW = T0 + 5 * H  # after the owner reminder's deadline (4 business hours)
NOTHING, DEFAULT = History(), Ladder()


def remind(
    st: ThreadState = WAITING,
    now: datetime = NOW,
    history: History = NOTHING,
    ladder: Ladder = DEFAULT,
    kind: Kind = Kind.REMIND_OWNER,
    step: str = "remind-owner",
    key: str | None = None,
    the_case: Case | None = None,
) -> StepFacts:
    c = the_case or case(st)
    if key is None:
        actions, _ = schedule(case(WAITING), History(), Ladder(), CAL)
        key = next(a.key for a in actions if a.rule == step)
    return step_facts((kind, step, key), c, history, ladder, CAL, TEAM, now)


def test_step_thread_rule() -> None:
    assert vet(WAITING, STEP_THREAD_RULES) is None
    assert names(vet(GONE, STEP_THREAD_RULES)) == "ladder-thread-not-waiting"
    assert names(vet(ANSWERED, STEP_THREAD_RULES)) == "ladder-thread-not-waiting"


def test_a_due_step_goes_to_whoever_the_ladder_names_now() -> None:
    facts = remind()
    assert vet(facts, STEP_RULES) is None
    assert facts.action is not None and facts.action.recipient == "alice@example.com"
    away = {**PEOPLE, "alice@example.com": replace(PEOPLE["alice@example.com"], away=True)}
    facts = remind(the_case=replace(case(WAITING), people=away))
    assert facts.action is not None and facts.action.recipient == "sam@example.com"


def test_snoozed_postpones_until_the_snooze_ends() -> None:
    until = NOW + H
    found = vet(remind(history=History(snoozed_until=until)), STEP_RULES)
    assert isinstance(found, Postpone) and (found.rule, found.until) == ("snoozed", until)
    assert vet(remind(history=History(snoozed_until=NOW)), STEP_RULES) is None  # over


def test_a_removed_step_is_skipped() -> None:
    ladder = Ladder(steps=tuple(s for s in Ladder().steps if s.name != "remind-owner"))
    assert names(vet(remind(ladder=ladder), STEP_RULES)) == "ladder-step-removed"


def test_a_step_of_an_ended_episode_is_skipped() -> None:
    assert names(vet(remind(key="support:remind-owner:old"), STEP_RULES)) == "ladder-episode-over"


def test_a_step_the_ladder_no_longer_plans_says_why() -> None:
    done = remind(history=History(sent=frozenset({remind().action.key})))  # type: ignore[union-attr]
    assert names(vet(done, STEP_RULES)) == "step-once-per-episode"
    # A client update for a client who wrote before the mailbox was connected.
    update = remind(kind=Kind.CLIENT_UPDATE, step="client-update", now=T0 + timedelta(days=5))
    history = replace(update, action=None, unplanned="no-client-mail-for-history")
    assert names(vet(history, STEP_RULES)) == "no-client-mail-for-history"
    assert names(vet(replace(update, action=None), STEP_RULES)) == "ladder-episode-over"


def test_a_step_not_due_yet_is_postponed_to_its_deadline() -> None:
    facts = remind(now=T0 + H)
    found = vet(facts, STEP_RULES)
    assert isinstance(found, Postpone) and found.rule == "not-due-yet"
    assert facts.action is not None and found.until == facts.action.due == T0 + 4 * H


def test_a_step_with_nobody_to_send_to_is_skipped() -> None:
    facts = remind()
    assert facts.action is not None
    nobody = replace(facts, action=replace(facts.action, recipient=None))
    assert names(vet(nobody, STEP_RULES)) == "no-recipient"


def test_a_client_update_to_the_team_is_skipped() -> None:
    update = remind(kind=Kind.CLIENT_UPDATE, step="client-update", now=T0 + timedelta(days=5))
    assert vet(update, STEP_RULES) is None
    ours = replace(update, state=TEAM_CLIENT)
    assert names(vet(ours, STEP_RULES)) == "no-ack-to-team"
    assert names(vet(replace(update, state=replace(WAITING, client=None)), STEP_RULES)) == (
        "no-ack-to-team"
    )
    # Other steps go to the team by design.
    assert vet(replace(remind(), state=ours.state), STEP_RULES) is None


# --- planning ---------------------------------------------------------------------------


def planned(kind: Kind = Kind.ACKNOWLEDGE, recipient: str | None = CLIENT) -> Action:
    return Action("acknowledge", kind, T0, "k", "a@c", recipient)


def test_plan_rules() -> None:
    assert vet(PlanFacts(planned(), acknowledged=False), PLAN_RULES) is None
    assert names(vet(PlanFacts(planned(recipient=None), False), PLAN_RULES)) == "no-recipient"
    assert names(vet(PlanFacts(planned(), acknowledged=True), PLAN_RULES)) == (
        "ack-once-per-conversation"
    )
    # Only the acknowledgement is once per conversation; the ladder's steps are per episode.
    assert vet(PlanFacts(planned(Kind.REMIND_OWNER), acknowledged=True), PLAN_RULES) is None


def test_every_rule_has_a_docstring() -> None:
    tables = (ACK_THREAD_RULES, ACK_RULES, STEP_THREAD_RULES, STEP_RULES, PLAN_RULES)
    for table in tables:
        for rule in table:
            assert rule.__doc__, rule.__name__


def test_step_is_found_by_name() -> None:
    renamed = Ladder(steps=(Step("nudge", Kind.REMIND_OWNER, Ladder().steps[1].after),))
    assert not remind(ladder=renamed).configured
