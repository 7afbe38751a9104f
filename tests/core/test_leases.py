"""Lease planning spreads mailboxes evenly and converges from any starting point."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assistant.core.leases import LeasePlan, fair_share, plan_leases


def test_fair_share() -> None:
    assert [fair_share(20, w) for w in (0, 1, 2, 3)] == [20, 20, 10, 7]


def test_takes_free_up_to_its_share_and_gives_back_surplus() -> None:
    assert plan_leases([], range(1, 21), 20, 2) == LeasePlan(acquire=tuple(range(1, 11)))
    assert plan_leases(range(1, 21), [], 20, 2) == LeasePlan(release=tuple(range(11, 21)))
    assert plan_leases([1, 2], [5, 1], 4, 1) == LeasePlan(acquire=(5,))


@given(st.integers(1, 60), st.integers(1, 6), st.randoms(use_true_random=False))
def test_rounds_of_planning_cover_every_mailbox_evenly(boxes: int, watchers: int, rng) -> None:  # type: ignore[no-untyped-def]
    owner: dict[int, int] = {b: rng.randrange(watchers) for b in range(boxes) if rng.random() < 0.5}
    for _ in range(4):
        for w in rng.sample(range(watchers), watchers):
            mine = {b for b, o in owner.items() if o == w}
            plan = plan_leases(mine, set(range(boxes)) - set(owner), boxes, watchers)
            for b in plan.release:
                del owner[b]
            for b in plan.acquire:
                owner.setdefault(b, w)  # SET NX: the first to ask gets it
    assert set(owner) == set(range(boxes))
    counts = [sum(1 for o in owner.values() if o == w) for w in range(watchers)]
    assert max(counts) <= fair_share(boxes, watchers)
