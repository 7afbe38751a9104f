"""Address parsing and normalisation.

Addresses compare case-insensitively and IDNA domains compare in their Unicode form, so
``Bob@XN--BCHER-KVA.example`` and ``bob@bücher.example`` are one person.
"""

from __future__ import annotations

import re
from contextlib import suppress
from email.utils import getaddresses
from functools import lru_cache

import idna

from .model import Address
from .text import decode_text


def normalise_email(raw: str) -> str:
    """Lower-case an address and turn a punycode domain into Unicode; tolerate garbage."""
    text = raw.strip().strip("<>").strip().rstrip(".")
    local, at, domain = text.rpartition("@")
    if not at:
        return text.casefold()
    domain = domain.strip().rstrip(".").casefold()
    if "xn--" in domain:
        try:
            domain = idna.decode(domain)
        except (idna.IDNAError, UnicodeError, ValueError):
            with suppress(UnicodeError):  # else keep the ASCII form: still a stable key
                domain = domain.encode("ascii").decode("idna")
    return f"{local.strip().casefold()}@{domain}"


_ATOM = r"[^<>\s\"(),;:\\@\[\]]+"
# "Name <local@domain>" or a bare local@domain: what nearly every header holds. Anything
# fancier (quoted names, comments, groups) goes to the stdlib parser.
_SIMPLE = re.compile(rf"\s*(?:([^<>\"(),;:\\]*?)\s*<({_ATOM}@{_ATOM})>|({_ATOM}@{_ATOM}))\s*")


def _simple(value: str) -> list[tuple[str, str]] | None:
    if '"' in value or "(" in value or ";" in value:
        return None
    out = []
    for part in value.split(","):
        if not part.strip():
            continue
        match = _SIMPLE.fullmatch(part)
        if match is None:
            return None
        name, bracketed, bare = match.groups()
        out.append((name or "", bracketed or bare))
    return out


@lru_cache(maxsize=65536)
def _parse_one(value: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    """One header value; cached because the same team and client addresses recur."""
    problems: list[str] = []
    pairs = _simple(value)
    if pairs is None:
        try:
            pairs = getaddresses([value])
        except Exception:  # getaddresses has raised on pathological input in past releases
            return (), ("unparseable address header",)
    out: list[Address] = []
    for name, email in pairs:
        if not email and not name:
            continue
        decoded, name_problems = decode_text(name)
        problems.extend(name_problems)
        email_text, email_problems = decode_text(email)
        problems.extend(email_problems)
        address = normalise_email(email_text)
        if not address:
            continue
        if "@" not in address and not address.replace("-", "").isalnum():
            problems.append(f"odd address {address!r}")
        out.append(Address(email=address, name=decoded.strip().strip('"').strip()))
    return tuple(out), tuple(problems)


def parse_addresses(values: list[str]) -> tuple[tuple[Address, ...], list[str]]:
    """Parse every value of an address header (From, To, Cc, ...) into addresses."""
    found: list[Address] = []
    problems: list[str] = []
    for value in values:
        addresses, errors = _parse_one(value)
        found.extend(addresses)
        problems.extend(errors)
    return tuple(found), problems
