"""Plan automatic mail: turn the ladder's decisions for changed threads into outbox rows.

A row is written as soon as a thread starts waiting, with its due time in the future (the
grace period); the deliverer sends it when due, re-checking every guard at that moment. The
unique idempotency key makes planning repeatable: planning a thread twice adds nothing.
Every ladder step is planned the same way (acknowledgement, owner reminder, escalations,
client update), unless a rule of :data:`assistant.core.send_rules.PLAN_RULES` says no; the
deliverer asks the core again at send time, so a reply, a done mark, a snooze or an owner
change in between is honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from tortoise.exceptions import IntegrityError

from ..core.evaluate import MailboxPolicy
from ..core.ladder import Action, Case, Kind, schedule
from ..core.model import Verdict
from ..core.outbox import message_id_for
from ..core.rules import Copy, new_mail, vet
from ..core.send_rules import PLAN_RULES, PlanFacts
from ..core.state import History, State, thread_state
from ..core.threading import thread_messages
from ..store.models import Folder, Mailbox, OutboxItem, StoredMessage, ThreadRecord
from ..store.records import to_message
from .storing import quarantine_thread
from .thread_rows import LoadedThread, archived, folder_roles


async def load_thread(
    mailbox: Mailbox, thread_id: str, policy: MailboxPolicy
) -> LoadedThread | None:
    """Rebuild one stored thread and its current state (None when it no longer exists)."""
    rows = await StoredMessage.filter(mailbox=mailbox, thread_id=thread_id)
    if not rows:
        return None
    verdicts = {
        r.message_id: Verdict(True, r.machine_rule) if r.machine_rule else Verdict(False)
        for r in rows
    }
    threads = thread_messages(
        [to_message(r) for r in rows],
        shared=policy.team.__contains__,
        eligible=lambda m: verdicts[m.message_id].human,
    )
    thread = next((t for t in threads if t.id == thread_id), None) or max(
        threads, key=lambda t: len(t.messages)
    )
    record = await ThreadRecord.get_or_none(mailbox=mailbox, thread_id=thread_id)
    by_id: dict[str, list[StoredMessage]] = {}
    for row in rows:
        by_id.setdefault(row.message_id, []).append(row)
    filed = archived(thread, lambda mid: by_id.get(mid, []), await folder_roles(mailbox), policy)
    # A done mark, or the conversation filed in the archive, stops the ladder.
    history = History(done_at=record.done_at if record else None, archived=filed)
    state = thread_state(thread, policy.team, lambda m: verdicts[m.message_id], history)
    return LoadedThread(thread, state, rows)


async def ack_eligible(mailbox: Mailbox, loaded: LoadedThread) -> bool:
    """True when the client's first waiting message reached INBOX after the mailbox was
    connected: the facts from the store, the decision :func:`assistant.core.rules.new_mail`."""
    start = loaded.state.episode_start
    if start is None:
        return False
    inbox = await Folder.get_or_none(mailbox=mailbox, role="inbox")
    if inbox is None:
        return False
    copies = [
        Copy(row.message_id, row.uid, row.internaldate)
        for row in loaded.rows
        if row.folder_id == inbox.id
    ]
    return new_mail(start, copies, inbox.first_uidnext, mailbox.connected_at)


async def thread_history(
    mailbox: Mailbox, thread_id: str, record: ThreadRecord | None, exclude: str | None = None
) -> History:
    """What happened to a thread besides its messages: mails planned or sent (their keys,
    except ``exclude``), the done mark, the snooze, the explicit assignment."""
    rows = await OutboxItem.filter(mailbox=mailbox, thread_id=thread_id).values_list(
        "key", flat=True
    )
    keys = {str(k) for k in rows} - {exclude or ""}
    return History(
        sent=frozenset(keys),
        done_at=record.done_at if record else None,
        snoozed_until=record.snoozed_until if record else None,
        assigned_to=record.assigned_to if record else None,
    )


async def thread_case(
    mailbox: Mailbox, loaded: LoadedThread, policy: MailboxPolicy, record: ThreadRecord | None
) -> Case:
    """The core's view of one thread for the ladder: state, owner, lead, people."""
    return Case(
        mailbox.name,
        loaded.thread.id,
        loaded.state,
        owner=record.owner if record else None,
        lead=policy.lead,
        people=dict(policy.people),
        ack_eligible=await ack_eligible(mailbox, loaded),
    )


async def plan_thread(
    mailbox: Mailbox,
    thread_id: str,
    policy: MailboxPolicy,
    now: datetime,
    loaded: LoadedThread | None = None,
) -> list[OutboxItem]:
    """Write outbox rows for the planned steps of one thread (``now`` stamps them); return
    the new rows. ``loaded`` is the thread as just evaluated; without it, it is rebuilt
    from the store."""
    loaded = loaded or await load_thread(mailbox, thread_id, policy)
    if loaded is None or loaded.state.state is not State.AWAITING_TEAM:
        return []
    ids = [m.message_id for m in loaded.thread.messages]
    acknowledged = await OutboxItem.filter(
        mailbox=mailbox, kind=str(Kind.ACKNOWLEDGE), reply_to_message_id__in=ids
    ).exists()
    record = await ThreadRecord.get_or_none(mailbox=mailbox, thread_id=thread_id)
    case = await thread_case(mailbox, loaded, policy, record)
    history = await thread_history(mailbox, thread_id, record)
    actions, _skips = schedule(case, history, policy.ladder, policy.calendar)
    start = loaded.state.episode_start
    created = []
    for action in actions:
        if vet(PlanFacts(action, acknowledged), PLAN_RULES) is not None:
            continue
        row = await _create(mailbox, thread_id, action, start.message_id if start else None, now)
        if row is not None:
            created.append(row)
    return created


async def _create(
    mailbox: Mailbox, thread_id: str, action: Action, reply_to: str | None, now: datetime
) -> OutboxItem | None:
    """The outbox row of ``action``, filed under ``thread_id`` as evaluated (None: it was
    planned before, its key is unique)."""
    domain = mailbox.address.rpartition("@")[2] or "followup.invalid"
    try:
        return await OutboxItem.create(
            mailbox=mailbox,
            key=action.key,
            kind=str(action.kind),
            rule=action.rule,
            thread_id=thread_id,
            reply_to_message_id=reply_to,
            recipient=action.recipient,
            message_id=message_id_for(action.key, domain),
            due_at=action.due,
            promised_by=action.promised_by,
            created_at=now,
        )
    except IntegrityError:
        return None


async def plan_pending(
    mailbox: Mailbox,
    policy: MailboxPolicy,
    now: datetime,
    evaluated: Mapping[str, LoadedThread] | None = None,
) -> list[OutboxItem]:
    """Plan every thread evaluated since it was last planned, whichever process (or which
    earlier run) evaluated it: planning resumes from the store after any crash.

    ``evaluated`` holds threads as the evaluate step just left them: one is taken as it is
    when its record still has the revision it was evaluated at (nothing re-evaluated it
    since), else it is rebuilt from the store.

    A thread that does not await the team needs no rows: those marks are cleared in one
    statement (its WHERE re-reads the state, so a thread that starts waiting meanwhile keeps
    its mark). A waiting thread's mark is cleared only for the revision that was planned."""
    await (
        ThreadRecord.filter(mailbox=mailbox, unplanned=True)
        .exclude(state=str(State.AWAITING_TEAM))
        .update(unplanned=False)
    )
    marked = (
        await ThreadRecord.filter(mailbox=mailbox, unplanned=True)
        .order_by("id")
        .values_list("id", "thread_id", "revision")
    )
    created: list[OutboxItem] = []
    in_hand = evaluated or {}
    for record_id, thread_id, revision in marked:
        hand = in_hand.get(str(thread_id))
        loaded = hand if hand is not None and hand.revision == revision else None
        try:
            created += await plan_thread(mailbox, str(thread_id), policy, now, loaded)
        except Exception as exc:  # one thread that cannot be planned never stops the others
            await quarantine_thread(mailbox.id, str(thread_id), "plan", exc, now)
        await ThreadRecord.filter(id=record_id, revision=revision).update(unplanned=False)
    return created
