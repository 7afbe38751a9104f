"""Store fetched header records, one bad message never stopping the rest.

A batch goes in with its references and the folder's cursor in one transaction. When that
fails and the database still answers, the fault is in a row: the batch is stored row by row,
each row that still fails is quarantined (folder, UID, the error), and the cursor moves past
all of them, so the next mail is stored and acknowledged as usual. When the database itself
is down, the error goes up and the sync is retried; nothing is quarantined for it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from tortoise.transactions import in_transaction

from ..store.bulk import execute_many, fetch_all, insert_values
from ..store.models import Folder, MessageRef, Quarantine, StoredMessage
from .prepare import Prepared

log = logging.getLogger("followup.store")

#: A reference row names its message by folder and UID: the row id is the database's.
REF_INSERT = (
    "INSERT INTO message_ref (mailbox_id, message_id, ref_id)"
    " SELECT ?, id, ? FROM message WHERE folder_id=? AND uid=?"
)
STORE_BATCH = 2000


async def _insert(
    folder: Folder, batch: Prepared, columns: tuple[str, ...], uids: list[int]
) -> None:
    async with in_transaction():
        await insert_values(
            StoredMessage, columns, batch.values, ignore_conflicts=True, batch=STORE_BATCH
        )
        await execute_many(MessageRef, REF_INSERT, batch.refs)
        folder.last_uid = max(folder.last_uid, *uids)
        await folder.save(update_fields=["last_uid"])


async def database_answers() -> bool:
    """Whether the store still answers: after an error, tells a bad row from a lost database."""
    try:
        await StoredMessage._meta.db.execute_query("SELECT 1")
    except Exception:
        return False
    return True


async def quarantine(
    folder: Folder, uid: int, stage: str, error: BaseException | str, now: datetime
) -> None:
    """Record that message ``uid`` of ``folder`` could not be handled at ``stage`` (logged
    once: a message quarantined before is not logged again)."""
    text = (error if isinstance(error, str) else f"{type(error).__name__}: {error}")[:2000]
    _, created = await Quarantine.update_or_create(
        defaults={"error": text, "at": now},
        mailbox_id=folder.mailbox_id,  # type: ignore[attr-defined]  # tortoise's FK column
        folder=folder.name,
        uid=uid,
        stage=stage,
    )
    if created:
        log.error(
            "message quarantined",
            extra={"folder": folder.name, "uid": uid, "stage": stage, "error": text},
        )


async def quarantine_thread(
    mailbox_id: int, thread_id: str, stage: str, error: BaseException, now: datetime
) -> None:
    """Quarantine a thread that failed at ``stage`` under its newest message (the one that
    made it fail, most likely); re-raise when the database itself is gone."""
    if not await database_answers():
        raise error
    row = (
        await StoredMessage.filter(mailbox_id=mailbox_id, thread_id=thread_id)
        .order_by("-id")
        .prefetch_related("folder")
        .first()
    )
    if row is None:
        log.error(
            "thread failed", extra={"thread_id": thread_id, "stage": stage, "error": repr(error)}
        )
        return
    await quarantine(row.folder, row.uid, stage, error, now)


async def _row_by_row(
    folder: Folder, batch: Prepared, columns: tuple[str, ...], now: datetime
) -> None:
    at = columns.index("uid")
    for values in batch.values:
        uid = int(values[at])
        one = Prepared([uid], [values], [r for r in batch.refs if r[3] == uid])
        try:
            await _insert(folder, one, columns, [uid])
        except Exception as exc:
            if not await database_answers():
                raise
            await quarantine(folder, uid, "store", exc, now)
    folder.last_uid = max(folder.last_uid, *batch.uids)
    await folder.save(update_fields=["last_uid"])


async def store_batch(
    folder: Folder, batch: Prepared, columns: tuple[str, ...], now: datetime
) -> list[int]:
    """Insert one batch prepared for ``columns`` with its references and move the folder's
    cursor past it; return the batch's stored row ids (quarantined rows are not stored)."""
    for uid, error in batch.quarantined:
        await quarantine(folder, uid, "parse", error, now)
    if not batch.uids:
        if batch.quarantined:  # the cursor moves past them: they are not fetched again
            folder.last_uid = max(folder.last_uid, *(uid for uid, _ in batch.quarantined))
            await folder.save(update_fields=["last_uid"])
        return []
    try:
        await _insert(folder, batch, columns, [*batch.uids, *(u for u, _ in batch.quarantined)])
    except Exception:
        if not await database_answers():
            raise
        await _row_by_row(folder, batch, columns, now)
    # UIDs are ascending: the batch is the folder's rows between its first and last UID.
    stored = await fetch_all(
        StoredMessage,
        "SELECT id FROM message WHERE folder_id=? AND uid>=? AND uid<=?",
        [folder.id, batch.uids[0], batch.uids[-1]],
    )
    return [int(row[0]) for row in stored]
