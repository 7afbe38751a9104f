"""Who owns a waiting thread, by rules tried in order; each answer names its rule.

1. ``assigned``: an explicit assignment (a command or the web page);
2. ``sender-address`` / ``sender-domain``: the client's address or domain maps to an owner;
3. ``subject-keyword``: a keyword in the subject maps to an owner;
4. ``mailbox-default``: the mailbox's default owner;
5. ``round-robin``: the next available person in the rotation (away people skipped).

A rule that lands on someone marked away gives the thread to their backup instead
(``away-backup``), unless the assignment was explicit.

The rotation is a counter passed in and handed back, so the function stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import Address


@dataclass(frozen=True, slots=True)
class Person:
    """A team member who can own threads, and when they want their digest."""

    email: str
    name: str = ""
    backup: str | None = None
    away: bool = False
    lead: bool = False
    timezone: str = "UTC"
    working_days: str = "Mon-Fri"
    digest_at: str = "08:30"
    digest_paused: bool = False

    @property
    def label(self) -> str:
        """Name when known, else the address."""
        return self.name or self.email


@dataclass(frozen=True, slots=True)
class OwnershipRules:
    """The mailbox's ownership configuration."""

    by_address: dict[str, str] = field(default_factory=dict)
    by_domain: dict[str, str] = field(default_factory=dict)
    by_keyword: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    rotation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    """The chosen owner (None when no rule applies) and the rule that chose."""

    owner: str | None
    rule: str
    rotation_next: int = 0


def assign_owner(
    client: Address | None,
    subject: str,
    rules: OwnershipRules,
    people: Mapping[str, Person],
    assigned_to: str | None = None,
    rotation_at: int = 0,
) -> Assignment:
    """Pick the owner of a thread started by ``client`` about ``subject``."""
    if assigned_to:
        return Assignment(assigned_to, "assigned", rotation_at)
    chosen = _by_rules(client, subject, rules, people, rotation_at)
    person = people.get(chosen.owner or "")
    if person is not None and person.away and person.backup:
        backup = people.get(person.backup)
        if backup is None or not backup.away:
            return Assignment(person.backup, "away-backup", chosen.rotation_next)
    return chosen


def _by_client(client: Address, rules: OwnershipRules, rotation_at: int) -> Assignment | None:
    owner = rules.by_address.get(client.email)
    if owner:
        return Assignment(owner, "sender-address", rotation_at)
    domain = client.domain
    while domain:
        owner = rules.by_domain.get(domain)
        if owner:
            return Assignment(owner, "sender-domain", rotation_at)
        domain = domain.partition(".")[2]
    return None


def _by_rules(
    client: Address | None,
    subject: str,
    rules: OwnershipRules,
    people: Mapping[str, Person],
    rotation_at: int,
) -> Assignment:
    if client is not None:
        by_client = _by_client(client, rules, rotation_at)
        if by_client is not None:
            return by_client
    lowered = subject.casefold()
    for keyword, owner in rules.by_keyword:
        if keyword.casefold() in lowered:
            return Assignment(owner, "subject-keyword", rotation_at)
    if rules.default:
        return Assignment(rules.default, "mailbox-default", rotation_at)
    # The next person in the rotation from where it stopped, away people skipped (walking
    # the rotation, not filtering it: O(1) per thread whatever the team's size).
    size = len(rules.rotation)
    for step in range(size):
        pick = rules.rotation[(rotation_at + step) % size]
        person = people.get(pick)
        if person is None or not person.away:
            return Assignment(pick, "round-robin", (rotation_at + step + 1) % size)
    return Assignment(None, "no-owner-rule", rotation_at)
