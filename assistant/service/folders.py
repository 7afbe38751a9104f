"""Which folders a mailbox syncs, and their stored rows: INBOX, Sent and Archive.

The roles come from :func:`assistant.core.folders.assign_roles` (one folder per role); a
folder's row keeps its cursor across syncs, and its role follows the server's answer.
"""

from __future__ import annotations

import asyncio

from ..mail.imap import FolderInfo, ImapSession
from ..store.models import Folder, Mailbox

#: The folders that show who spoke last.
WATCHED_ROLES = ("inbox", "sent", "archive")


def watched(folders: list[FolderInfo]) -> list[FolderInfo]:
    """INBOX, the Sent folder and the Archive."""
    return [f for f in folders if f.role in WATCHED_ROLES]


def by_priority(folders: list[FolderInfo]) -> list[FolderInfo]:
    """The watched folders, most telling first: new client mail, then team replies, then
    what was archived (IDLE goes to them in this order while the budget lasts)."""
    return sorted(watched(folders), key=lambda f: WATCHED_ROLES.index(f.role))


async def folder_rows(mailbox: Mailbox, infos: list[FolderInfo]) -> list[Folder]:
    """The rows of the watched folders (made on first sight); a stored folder that no longer
    has its role (a second "Sent" an older version watched) is no longer watched."""
    keep = [info.name for info in watched(infos)]
    await (
        Folder.filter(mailbox=mailbox, role__in=WATCHED_ROLES)
        .exclude(name__in=keep)
        .update(role="other")
    )
    rows = []
    for info in watched(infos):
        row, _ = await Folder.get_or_create(
            mailbox=mailbox, name=info.name, defaults={"role": info.role}
        )
        if row.role != info.role:
            row.role = info.role
            await row.save(update_fields=["role"])
        rows.append(row)
    return rows


async def open_folders(session: ImapSession, mailbox: Mailbox) -> list[Folder]:
    """Discover the watched folders (LIST) and their stored cursors."""
    infos = await asyncio.to_thread(session.folders, mailbox.chosen_folders())
    return await folder_rows(mailbox, infos)
