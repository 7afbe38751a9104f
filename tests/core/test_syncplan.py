"""The sans-I/O sync planner."""

from __future__ import annotations

from assistant.core.syncplan import Cursor, ServerStatus, Step, batches, needs_reconcile, plan_sync

SYNCED = Cursor(uidvalidity=7, uidnext=101, highestmodseq=500, last_uid=100, message_count=100)


def test_first_sync_fetches_everything() -> None:
    plan = plan_sync(Cursor(), ServerStatus(7, 101, 100, 500), condstore=True)
    assert plan.steps == (Step.FETCH_NEW,) and plan.fetch_from_uid == 1


def test_unchanged_folder_is_idle() -> None:
    plan = plan_sync(SYNCED, ServerStatus(7, 101, 100, 500), condstore=True)
    assert plan.idle and plan.reason == ""


def test_new_mail_fetches_from_the_last_uid() -> None:
    plan = plan_sync(SYNCED, ServerStatus(7, 104, 103, 503), condstore=True)
    assert Step.FETCH_NEW in plan.steps and plan.fetch_from_uid == 101


def test_flag_change_uses_condstore() -> None:
    plan = plan_sync(SYNCED, ServerStatus(7, 101, 100, 501), condstore=True)
    assert plan.steps == (Step.FETCH_FLAGS,) and plan.changed_since == 500
    assert plan_sync(SYNCED, ServerStatus(7, 101, 100, 501), condstore=False).idle


def test_expunge_without_new_mail_reconciles() -> None:
    plan = plan_sync(SYNCED, ServerStatus(7, 101, 98, 502), condstore=True)
    assert Step.RECONCILE in plan.steps


def test_uidvalidity_change_resets_then_refetches() -> None:
    plan = plan_sync(SYNCED, ServerStatus(8, 50, 49, 10), condstore=True)
    assert plan.steps == (Step.RESET, Step.FETCH_NEW) and plan.fetch_from_uid == 1
    assert "UIDVALIDITY" in plan.reason


def test_interrupted_first_sync_resumes_after_last_uid() -> None:
    # The engine records UIDVALIDITY before the first batch, UIDNEXT only when complete.
    partial = Cursor(uidvalidity=7, uidnext=None, last_uid=40, message_count=40)
    plan = plan_sync(partial, ServerStatus(7, 101, 100, 500), condstore=True)
    assert plan.steps == (Step.FETCH_NEW,) and plan.fetch_from_uid == 41


def test_reconcile_after_fetch_and_batches() -> None:
    assert needs_reconcile(99, ServerStatus(7, 104, 100))
    assert not needs_reconcile(100, ServerStatus(7, 104, 100))
    assert batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
