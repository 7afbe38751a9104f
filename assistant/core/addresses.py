"""Address parsing and normalisation.

Addresses compare case-insensitively and IDNA domains compare in their Unicode form, so
``Bob@XN--BCHER-KVA.example`` and ``bob@bücher.example`` are one person.
"""

from __future__ import annotations

from contextlib import suppress
from email.utils import getaddresses

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


def parse_addresses(values: list[str]) -> tuple[tuple[Address, ...], list[str]]:
    """Parse every value of an address header (From, To, Cc, ...) into addresses."""
    problems: list[str] = []
    out: list[Address] = []
    try:
        pairs = getaddresses(values)
    except Exception:  # getaddresses has raised on pathological input in past releases
        problems.append("unparseable address header")
        return (), problems
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
    return tuple(out), problems
