"""The Mailboxes page (admins only): every mailbox with its state and quarantined messages,
finding the servers from an address, and connecting a mailbox with URLs (tested first).
Connecting with an OAuth2 provider is :mod:`.oauth_pages`'."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import UsageError
from ..service.mailbox_admin import NewMailbox, connect, mailbox_rows, team_patterns
from .find_servers import found_servers, with_passwords
from .pages import Web

log = logging.getLogger("followup.web")

#: Form fields never put back into the page.
SECRET_FIELDS = ("csrf", "imap", "smtp", "password")


class MailboxPages:
    """``/mailboxes``."""

    def __init__(self, web: Web) -> None:
        self.web = web

    async def mailboxes(self, request: Request) -> Response:
        """The list and the forms; a POST finds the servers or connects a mailbox first."""
        await self.web.user(request, "admin")
        result, error = request.query_params.get("result"), request.query_params.get("error")
        form: dict[str, str] = {}
        found: dict[str, Any] | None = None
        if request.method == "POST":
            values = await self.web.form(request)
            form = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
            if values.get("action") == "find":  # connect by address: look the servers up
                found, error = await found_servers(values.get("address", ""), self.web.runtime)
            else:
                result, error = await self._connect(with_passwords(values))
        return self.web.page(
            request,
            "mailboxes.html",
            boxes=await mailbox_rows(),
            result=result,
            error=error,
            form=form,
            found=found,
            providers=sorted(self.web.runtime.config.oauth),
        )

    async def _connect(self, values: dict[str, str]) -> tuple[str | None, str | None]:
        """``(result, None)`` or ``(None, error)``."""
        try:
            return await connect(_new_mailbox(values), self.web.runtime.clock.now()), None
        except UsageError as exc:
            return None, str(exc)
        except Exception as exc:  # anything else a test meets: a message, never a 500
            log.warning("connection test failed", extra={"error": repr(exc)})
            return None, "the connection test failed; see the service log"


def _new_mailbox(values: dict[str, str]) -> NewMailbox:
    """The form's fields, trimmed."""
    return NewMailbox(
        name=values.get("name", "").strip(),
        address=values.get("address", "").strip(),
        imap=values.get("imap", "").strip(),
        smtp=values.get("smtp", "").strip() or None,
        team=team_patterns(values.get("team", "")),
        grace=values.get("grace", "").strip(),
    )
