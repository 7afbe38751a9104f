"""Who "the team" is: addresses and ``@domain`` patterns, plus the mailbox's own address."""

from __future__ import annotations

from dataclasses import dataclass

from .addresses import normalise_email
from .errors import UsageError


class PatternError(UsageError, ValueError):
    """A team pattern that is neither an address nor ``@domain``."""


@dataclass(frozen=True, slots=True)
class Team:
    """Matches team addresses. ``@example.com`` also covers subdomains (``@eu.example.com``)."""

    addresses: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def from_patterns(cls, patterns: list[str] | tuple[str, ...], *own: str) -> Team:
        """Build from patterns such as ``alice@example.com`` or ``@example.com``."""
        addresses: set[str] = set()
        domains: set[str] = set()
        for raw in (*patterns, *own):
            text = raw.strip()
            if not text:
                continue
            if text.startswith("@"):
                domain = normalise_email(f"x{text}").partition("@")[2]
                if not domain or ("." not in domain and domain != "localhost"):
                    raise PatternError(f"team pattern {raw!r}: expected @domain.tld")
                domains.add(domain)
            elif "@" in text and text.index("@") > 0:
                addresses.add(normalise_email(text))
            else:
                raise PatternError(f"team pattern {raw!r}: expected an address or @domain")
        return cls(frozenset(addresses), frozenset(domains))

    def __contains__(self, email: object) -> bool:
        if not isinstance(email, str):
            return False
        if email in self.addresses:
            return True
        domain = email.rpartition("@")[2]
        while domain:
            if domain in self.domains:
                return True
            _, _, domain = domain.partition(".")
        return False
