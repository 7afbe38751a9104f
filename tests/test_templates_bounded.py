"""Templates cannot hang, exhaust or poison the service: the sandbox is immutable, renders
have a time and size budget, a save is checked against real threads and edge values, and a
template that still fails at send time costs its own row the built-in text, nothing more."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from assistant.render import MAX_OUTPUT, renderer_for
from assistant.service.templates import EDGES, SAMPLE, check

ACK = ("Re: {{ thread_subject }}", "Hello {{ client_name }}", "<p>{{ signature }}</p>")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{% for a in range(9000) %}{% for b in range(9000) %}{% endfor %}{% endfor %}", "took"),
        ("{% for a in range(10**9) %}{% endfor %}", "range of"),
        ("{{ lines.extend(lines) }}", "unsafe"),
        ("{{ lines.append(1) }}", "unsafe"),
        ("{{ 'x' * 10**9 }}", "repetition"),
        (
            "{% for a in range(9000) %}{% for b in range(900) %}xxxx{% endfor %}{% endfor %}",
            "output",
        ),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "RecursionError"),
        ("{{ lipsum(10**6) }}", "undefined"),
    ],
)
def test_a_template_that_would_hang_or_grow_is_refused(text: str, says: str) -> None:
    problems = check((ACK[0], text, ACK[2]))
    assert problems and says in problems[0], problems
    assert SAMPLE["lines"] == [SAMPLE["lines"][0]] and len(SAMPLE["lines"][0]) == 9  # untouched


def test_the_save_check_uses_edge_values() -> None:
    only_with_lines = "{{ 100 // (lines | length) }} waiting"
    assert renderer_for(None).check(("x", only_with_lines, "x"), SAMPLE) == []  # the sample: fine
    assert any("ZeroDivisionError" in p for p in check(("x", only_with_lines, "x")))
    no_name = "{{ client_name[0] }}"
    assert check(("x", no_name, "x")) == ["text: UndefinedError: str object has no element 0"]
    assert all(edge.keys() == SAMPLE.keys() for edge in EDGES)


def test_a_template_failing_at_send_time_falls_back_for_that_row_only() -> None:
    divides = ("Re: {{ thread_subject }}", "{{ 1 // overdue_count }} late", "<p>x</p>")
    renderer = renderer_for(None)
    broken = renderer.render("acknowledge", {**SAMPLE, "overdue_count": 0}, divides)
    assert broken.error and "ZeroDivisionError" in broken.error
    assert "Thank you for your message" in broken.text  # the built-in acknowledgement
    fine = renderer.render("acknowledge", {**SAMPLE, "overdue_count": 4}, divides)
    assert fine.error is None and fine.text == "0 late"


async def test_a_slow_preview_never_blocks_other_work() -> None:
    """Rendered off the event loop (as the web page does): the loop keeps ticking while a
    template runs to its budget."""
    slow = (
        ACK[0],
        "{% for a in range(9000) %}{% for b in range(9000) %}{% endfor %}{% endfor %}",
        ACK[2],
    )
    render = asyncio.create_task(
        asyncio.to_thread(renderer_for(None).render, "acknowledge", dict(SAMPLE), slow)
    )
    ticks = 0
    while not render.done():
        await asyncio.sleep(0.05)
        ticks += 1
    assert ticks > 5  # the loop ran all along
    assert "took over" in ((await render).error or "")


def test_renders_in_parallel_keep_their_own_budgets() -> None:
    fast_done = threading.Event()
    slow = (
        ACK[0],
        "{% for a in range(9000) %}{% for b in range(9000) %}{% endfor %}{% endfor %}",
        ACK[2],
    )

    def fast() -> None:
        for _ in range(50):
            assert renderer_for(None).render("acknowledge", dict(SAMPLE), ACK).error is None
            time.sleep(0.01)
        fast_done.set()

    worker = threading.Thread(target=fast)
    worker.start()
    result = renderer_for(None).render("acknowledge", dict(SAMPLE), slow)
    worker.join()
    assert fast_done.is_set() and "took over" in (result.error or "")
    assert MAX_OUTPUT >= 100_000
