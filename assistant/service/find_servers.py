"""Connect by address: the look-ups of :mod:`assistant.mail.discover` with the settings'
``[discovery]`` overrides, and what the answer means for signing in."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.discovery import DiscoveryError, Found
from ..mail.discover import discover, parse_nameserver
from ..settings import FollowupConfig
from .mailboxes import MailboxError


@dataclass(frozen=True, slots=True)
class Route:
    """How to connect a found mailbox: an OAuth2 provider's name (its ``[oauth.NAME]``), or
    password URLs (user name in them, no password)."""

    found: Found
    provider: str | None
    imap: str | None
    smtp: str | None

    def describe(self) -> str:
        """One line for people: where it was found and how it signs in."""
        how = f"sign in with {self.provider}" if self.provider else "password"
        smtp = self.found.smtp_url or f"no SMTP ({self.found.missing or 'none found'})"
        return f"found by {self.found.source}: {self.found.imap_url}, {smtp}; {how}"


async def find_servers(address: str, config: FollowupConfig) -> Route:
    """Look the address up; raise :class:`MailboxError` with the precise message when
    nothing is found."""
    settings = config.discovery
    try:
        nameservers = [parse_nameserver(settings.nameserver)] if settings.nameserver else None
        found = await discover(
            address,
            nameservers=nameservers,
            autoconfig_port=settings.autoconfig_port,
            http_schemes=settings.http_schemes,
            cafile=settings.cafile,
            timeout=settings.timeout,
            budget=settings.budget,
        )
    except (DiscoveryError, ValueError) as exc:
        raise MailboxError(str(exc)) from None
    if found.sign_in.startswith("oauth"):
        provider = found.sign_in.partition(":")[2] or found.provider
        return Route(found, provider, None, None)
    return Route(found, None, found.imap_url, found.smtp_url)
