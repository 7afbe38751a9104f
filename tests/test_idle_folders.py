"""The scale-out watchers' asyncio IDLE on folders named in any language (modified UTF-7),
against both servers of the matrix."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from assistant.mail.idle import watch_folder
from assistant.mail.urls import parse_url
from tests.conftest import ImapUser
from tests.servers import Cyrus, Dovecot
from tests.test_sync import mail

FOLDER = "Éléments envoyés"


@pytest.mark.parametrize("server_kind", ["dovecot", "cyrus"])
async def test_idle_on_a_folder_with_a_non_ascii_name(
    server_kind: str, request: pytest.FixtureRequest
) -> None:
    user: ImapUser = request.getfixturevalue(
        "imap_user" if server_kind == "dovecot" else "cyrus_user"
    )
    server: Dovecot | Cyrus = request.getfixturevalue(server_kind)
    server.create_folder(user.name, FOLDER)
    ready, changed = asyncio.Event(), asyncio.Event()

    async def on_change() -> None:
        changed.set()

    task = asyncio.create_task(
        watch_folder(parse_url(user.url, "imap"), FOLDER, on_change, ready.set)
    )
    try:
        await asyncio.wait_for(ready.wait(), 15)  # SELECT of the encoded name worked
        await asyncio.to_thread(
            server.append, user.name, FOLDER, mail("s1@example.com", "alice@example.com", "Re: x")
        )
        await asyncio.wait_for(changed.wait(), 15)  # and IDLE reported the new message
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # its connection is closed before it ends
