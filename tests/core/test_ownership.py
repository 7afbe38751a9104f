"""Ownership rules, in order, each answer naming its rule."""

from __future__ import annotations

from assistant.core.model import Address
from assistant.core.ownership import OwnershipRules, Person, assign_owner

PEOPLE = {
    "alice@example.com": Person("alice@example.com"),
    "sam@example.com": Person("sam@example.com", away=True),
    "lena@example.com": Person("lena@example.com"),
}
RULES = OwnershipRules(
    by_address={"vip@client.test": "lena@example.com"},
    by_domain={"client.test": "alice@example.com"},
    by_keyword=(("invoice", "sam@example.com"),),
    rotation=("alice@example.com", "sam@example.com", "lena@example.com"),
)


def test_rules_in_order() -> None:
    vip, other, sub = (
        Address("vip@client.test"),
        Address("x@client.test"),
        Address("y@eu.client.test"),
    )
    assert assign_owner(vip, "", RULES, PEOPLE, assigned_to="sam@example.com").rule == "assigned"
    assert assign_owner(vip, "Invoice", RULES, PEOPLE).owner == "lena@example.com"
    assert assign_owner(other, "", RULES, PEOPLE).rule == "sender-domain"
    assert assign_owner(sub, "", RULES, PEOPLE).owner == "alice@example.com"
    got = assign_owner(Address("z@else.test"), "Your INVOICE 7", RULES, PEOPLE)
    assert (got.owner, got.rule) == ("sam@example.com", "subject-keyword")


def test_default_then_round_robin_skipping_away_people() -> None:
    stranger = Address("z@else.test")
    with_default = OwnershipRules(default="alice@example.com", rotation=RULES.rotation)
    assert assign_owner(stranger, "", with_default, PEOPLE).rule == "mailbox-default"
    picks, at = [], 0
    for _ in range(4):
        a = assign_owner(stranger, "", RULES, PEOPLE, rotation_at=at)
        assert a.rule == "round-robin"
        picks.append(a.owner)
        at = a.rotation_next
    assert picks == ["alice@example.com", "lena@example.com"] * 2


def test_nobody_available() -> None:
    rules = OwnershipRules(rotation=("sam@example.com",))
    a = assign_owner(Address("z@else.test"), "", rules, PEOPLE)
    assert (a.owner, a.rule) == (None, "no-owner-rule")


def test_an_away_owner_hands_the_thread_to_their_backup_unless_assigned() -> None:
    people = {
        "ann@t.test": Person("ann@t.test", backup="bob@t.test", away=True),
        "bob@t.test": Person("bob@t.test"),
    }
    rules = OwnershipRules(default="ann@t.test")
    got = assign_owner(Address("c@x.test"), "Invoice", rules, people)
    assert (got.owner, got.rule) == ("bob@t.test", "away-backup")
    explicit = assign_owner(Address("c@x.test"), "Invoice", rules, people, "ann@t.test")
    assert (explicit.owner, explicit.rule) == ("ann@t.test", "assigned")
    both_away = {**people, "bob@t.test": Person("bob@t.test", away=True)}
    stays = assign_owner(Address("c@x.test"), "Invoice", rules, both_away)
    assert (stays.owner, stays.rule) == ("ann@t.test", "mailbox-default")
