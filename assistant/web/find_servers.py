"""Connect by address on the Mailboxes page: the look-ups' answer as the forms' prefill, and
the password typed once beside the found URLs (which carry the user name only)."""

from __future__ import annotations

from typing import Any

from ..mail.urls import needs_password, with_password
from ..runtime import Runtime
from ..service.find_servers import find_servers
from ..service.mailboxes import MailboxError


async def found_servers(address: str, runtime: Runtime) -> tuple[dict[str, Any] | None, str | None]:
    """``(found, error)``: where the address's mail is and how it signs in, or why not."""
    try:
        route = await find_servers(address.strip(), runtime.config)
    except MailboxError as exc:
        return None, f"{exc} — or type the server URLs below."
    provider = route.provider
    text = f"{address}: {route.describe()}."
    if provider is not None and provider not in runtime.config.oauth:
        text += (
            f" Add [oauth.{provider}] to the settings to connect it (docs/connect-providers.md)."
        )
    elif provider is not None:
        text += f" Press Connect with {provider.capitalize()}."
    elif not route.found.trusted:
        text += " These settings came over plain HTTP or from outside the domain: check them."
    return {"text": text, "provider": provider, "imap": route.imap, "smtp": route.smtp}, None


def with_passwords(values: dict[str, str]) -> dict[str, str]:
    """The form's URLs with the password field put into those that name a user but no
    password (the found ones)."""
    password = values.get("password", "")
    if not password:
        return values
    out = dict(values)
    for key in ("imap", "smtp"):
        url = values.get(key, "").strip()
        if url and needs_password(url):
            out[key] = with_password(url, password)
    return out
