"""What the command line adds around the commands: passwords asked for instead of typed into
``argv``, and failures said in one line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable
from typing import TypeVar

import click
from imapclient.exceptions import IMAPClientError

from .mail.imap import ConnectError
from .mail.urls import needs_password, with_password
from .service.mailboxes import MailboxError

T = TypeVar("T")


def password_for(url: str, protocol: str) -> str:
    """A URL written without its password gets it from ``FOLLOWUP_<PROTOCOL>_PASSWORD`` or a
    prompt, so a password never has to stand on the command line (``ps``, shell history)."""
    if not needs_password(url):
        return url
    password = os.environ.get(f"FOLLOWUP_{protocol}_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"the {protocol} URL has no password: set FOLLOWUP_{protocol}_PASSWORD "
                "or run in a terminal to be asked"
            )
        password = click.prompt(f"{protocol} password", hide_input=True)
    return with_password(url, password)


def sync_failure(name: str, exc: Exception) -> str:
    """What a failed sync says, in one line."""
    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, ConnectError):
        return f"{name}: cannot connect ({exc.kind}): {exc}"
    if isinstance(exc, IMAPClientError | OSError):
        return f"{name}: the server broke off the sync ({text}); run it again: it resumes"
    return f"{name}: the sync failed ({text})"


async def in_one_line(name: str, work: Awaitable[T]) -> T:
    """Await ``work`` (a sync of mailbox ``name``); any failure becomes a one-line
    :class:`MailboxError`, never a traceback (the debug log keeps it)."""
    try:
        return await work
    except MailboxError:
        raise
    except Exception as exc:
        logging.getLogger("followup.sync").debug("sync failed", exc_info=True)
        raise MailboxError(sync_failure(name, exc)) from None
