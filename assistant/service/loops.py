"""Loop protection in the store: find answers to our own mail, keep the pauses they cause.

The rules are :mod:`assistant.core.loops`; this module reads the facts they need (stored
messages naming our Message-IDs, counts of mail sent) and writes their verdicts
(:class:`~assistant.store.models.SenderPause` rows, a mailbox's ``paused_reason``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from ..core.loops import (
    Answer,
    LoopLimits,
    Pause,
    answer_signature,
    domain_of,
    domain_signature,
    mailbox_signature,
    recipient_signature,
)
from ..core.machine import RULES_BY_NAME
from ..core.mail_kinds import TO_CLIENT
from ..core.outbox import is_own_message_id
from ..core.outbox_states import COUNTED, SENT
from ..store.models import Folder, Mailbox, OutboxItem, SenderPause, StoredMessage

log = logging.getLogger("followup.loops")

#: Mail to clients (threaded into the client's conversation, counted by the client throttle).
CLIENT_KINDS = TO_CLIENT


async def detect_loops(
    mailbox: Mailbox, changed_ids: list[int], now: datetime, limits: LoopLimits
) -> list[Pause]:
    """Pause the recipients whose robots answered our mail among ``changed_ids``."""
    inbox = {f.id for f in await Folder.filter(mailbox=mailbox, role="inbox")}
    pauses: list[Pause] = []
    for start in range(0, len(changed_ids), 500):
        rows = await StoredMessage.filter(id__in=changed_ids[start : start + 500])
        for row in rows:
            if row.folder_id not in inbox:
                continue
            sent = await _answered(mailbox, row, now, limits)
            if sent is None:
                continue
            answer = Answer(
                row.sender,
                row.internaldate,
                _category(row.machine_rule),
                sent.recipient,
                sent.sent_at,
            )
            pause = answer_signature(answer, now, limits)
            if pause is not None:
                await record_pause(mailbox, pause, now, limits)
                pauses.append(pause)
    return pauses


async def _answered(
    mailbox: Mailbox, row: StoredMessage, now: datetime, limits: LoopLimits
) -> OutboxItem | None:
    """Our sent mail that ``row`` answers: named by In-Reply-To/References, or (an MTA's
    bounce that names no Message-ID) by its X-Failed-Recipients within the loop window."""
    ours = [r for r in (*row.in_reply_to, *row.references) if is_own_message_id(r)]
    if ours:
        return await OutboxItem.filter(
            mailbox=mailbox, message_id__in=ours, status__in=SENT
        ).first()
    failed = (row.headers or {}).get("x-failed-recipients", "")
    if not failed or not row.machine_rule:
        return None
    addresses = [a.strip().lower() for a in failed[:2000].split(",") if "@" in a]
    return (
        await OutboxItem.filter(
            mailbox=mailbox,
            recipient__in=addresses[:20],
            status__in=SENT,
            sent_at__gte=now - limits.window,
        )
        .order_by("-sent_at")
        .first()
    )


def _category(machine_rule: str | None) -> str | None:
    """The stored machine rule's category (rows keep the rule's name)."""
    if not machine_rule:
        return None
    rule = RULES_BY_NAME.get(machine_rule)
    return rule.category if rule else "robot"


async def record_pause(mailbox: Mailbox, pause: Pause, now: datetime, limits: LoopLimits) -> None:
    """Store ``pause`` (a longer one replaces a shorter); then the domain and mailbox rules."""
    existing = await SenderPause.get_or_none(mailbox=mailbox, address=pause.address)
    if existing is not None and existing.until >= pause.until:
        return
    values: dict[str, Any] = {
        "rule": pause.rule,
        "reason": pause.reason,
        "paused_at": now,
        "until": pause.until,
    }
    if existing is not None:
        await SenderPause.filter(id=existing.id).update(**values)
    else:
        try:
            await SenderPause.create(mailbox=mailbox, address=pause.address, **values)
        except IntegrityError:  # another process paused it at the same moment
            await SenderPause.filter(mailbox=mailbox, address=pause.address).update(**values)
    log.warning(
        "automatic mail paused for an address",
        extra={
            "mailbox": mailbox.name,
            "address": pause.address,
            "rule": pause.rule,
            "reason": pause.reason,
            "until": pause.until,
        },
    )
    if pause.address.startswith("@"):
        return
    await _escalate(mailbox, pause.address, now, limits)


async def _escalate(mailbox: Mailbox, address: str, now: datetime, limits: LoopLimits) -> None:
    recent = await SenderPause.filter(
        mailbox=mailbox, paused_at__gte=now - limits.window
    ).values_list("address", flat=True)
    people = [str(a) for a in recent if not str(a).startswith("@")]
    domain = domain_of(address)
    same = sum(1 for a in people if domain_of(a) == domain)
    wide = domain_signature(domain, same, now, limits)
    if wide is not None:
        await record_pause(mailbox, wide, now, limits)
    reason = mailbox_signature(len(people), limits)
    if reason is not None and not mailbox.paused_reason:
        mailbox.paused_reason = reason
        await mailbox.save(update_fields=["paused_reason"])
        log.error("sending paused", extra={"mailbox": mailbox.name, "reason": reason})


async def paused_for(mailbox: Mailbox, address: str, now: datetime) -> SenderPause | None:
    """The pause in force for ``address`` (or its domain) at ``now``, if any."""
    return (
        await SenderPause.filter(
            mailbox=mailbox, address__in=[address.lower(), domain_of(address)], until__gt=now
        )
        .order_by("-until")
        .first()
    )


async def active_pauses(mailbox: Mailbox, now: datetime) -> list[SenderPause]:
    """Every pause in force at ``now`` (for ``mailbox list`` and the web page)."""
    return await SenderPause.filter(mailbox=mailbox, until__gt=now).order_by("address")


async def lift_pause(mailbox: Mailbox, address: str) -> str | None:
    """End the pause of ``address`` (or ``@domain``) now; return its reason, if it had one."""
    pause = await SenderPause.get_or_none(mailbox=mailbox, address=address.strip().lower())
    if pause is None:
        return None
    await pause.delete()
    return f"{pause.rule}: {pause.reason}"


async def sent_to_clients(mailbox: Mailbox, since: datetime, recipient: str | None = None) -> int:
    """Mails to clients (to ``recipient``, when given) that went out since ``since``."""
    query = OutboxItem.filter(
        mailbox=mailbox, kind__in=CLIENT_KINDS, status__in=COUNTED, sent_at__gte=since
    )
    if recipient is not None:
        query = query.filter(recipient=recipient)
    return await query.count()


async def loop_rule(
    mailbox: Mailbox, recipient: str, now: datetime, limits: LoopLimits
) -> str | None:
    """The loop rule that stops mail to ``recipient`` now, if any: a pause in force, or too
    many automatic mails to it within the window (which pauses it)."""
    pause = await paused_for(mailbox, recipient, now)
    if pause is not None:
        return pause.rule
    recent = await sent_to_clients(mailbox, now - limits.window, recipient)
    found = recipient_signature(recipient, recent + 1, now, limits)
    if found is None:
        return None
    await record_pause(mailbox, found, now, limits)
    return found.rule
