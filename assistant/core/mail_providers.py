"""The mail providers Followup knows by name: their servers, how one signs in, whether they
file sent mail in Sent themselves, their consumer domains and their MX host suffixes.

From the providers' documentation (not tried from here: no internet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Security = Literal["tls", "starttls", "plain"]
SignIn = Literal["password", "oauth:google", "oauth:microsoft", "oauth"]


@dataclass(frozen=True, slots=True)
class Provider:
    """A well-known provider: servers as (security, host, port), sign-in, whether it files
    sent mail in Sent by itself (None: unknown), its consumer domains, its MX host suffixes."""

    name: str
    imap: tuple[Security, str, int]
    smtp: tuple[Security, str, int]
    sign_in: SignIn
    files_sent: bool | None
    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "google",
        ("tls", "imap.gmail.com", 993),
        ("tls", "smtp.gmail.com", 465),
        "oauth:google",
        True,
        ("gmail.com", "googlemail.com"),
        ("google.com", "googlemail.com"),
    ),
    Provider(
        "microsoft",
        ("tls", "outlook.office365.com", 993),
        ("starttls", "smtp.office365.com", 587),
        "oauth:microsoft",
        True,
        ("outlook.com", "hotmail.com", "live.com"),
        ("outlook.com", "mx.microsoft"),
    ),
    Provider(
        "icloud",
        ("tls", "imap.mail.me.com", 993),
        ("starttls", "smtp.mail.me.com", 587),
        "password",
        True,
        ("icloud.com", "me.com", "mac.com"),
        ("mail.icloud.com",),
    ),
    Provider(
        "zoho",
        ("tls", "imap.zoho.com", 993),
        ("tls", "smtp.zoho.com", 465),
        "password",
        True,
        ("zoho.com", "zohomail.com"),
    ),
    *(
        Provider(
            "zoho",
            ("tls", f"imappro.zoho.{tld}", 993),
            ("tls", f"smtppro.zoho.{tld}", 465),
            "password",
            True,
            (),
            (f"zoho.{tld}",),
        )
        for tld in ("com", "eu", "in")
    ),
    Provider(
        "fastmail",
        ("tls", "imap.fastmail.com", 993),
        ("tls", "smtp.fastmail.com", 465),
        "password",
        None,
        ("fastmail.com", "fastmail.fm"),
        ("messagingengine.com",),
    ),
)
