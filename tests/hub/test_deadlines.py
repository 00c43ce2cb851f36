"""``relay.hub.deadlines``: many deadlines on one loop timer, in order, cancellable; a heap of
mostly cancelled ones is rebuilt; a failing callback does not stop the others."""

from __future__ import annotations

import asyncio
import logging

import pytest

from relay.hub.deadlines import COMPACT_AT, Deadlines
from tests.support import eventually


async def test_deadlines_run_in_time_order_and_cancelled_ones_do_not() -> None:
    deadlines = Deadlines()
    ran: list[str] = []
    deadlines.call_later(0.03, ran.append, "c")
    deadlines.call_later(0.01, ran.append, "a")
    cancelled = deadlines.call_later(0.02, ran.append, "x")
    deadlines.call_later(0.02, ran.append, "b")
    deadlines.call_later(-1, ran.append, "now")  # past: at once
    cancelled.cancel()
    cancelled.cancel()  # twice is once
    assert cancelled.cancelled() and len(deadlines) == 4
    await eventually(lambda: len(ran) == 4, within=2)
    assert ran == ["now", "a", "b", "c"] and len(deadlines) == 0
    deadlines.stop()


async def test_one_loop_timer_for_many() -> None:
    deadlines = Deadlines()
    ran: list[int] = []
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    for i in range(100):
        deadlines.call_later(0.05 + i / 1000, ran.append, i)
    assert len(loop._scheduled) - before <= 1  # type: ignore[attr-defined]
    await eventually(lambda: len(ran) == 100, within=2)
    assert ran == list(range(100))
    deadlines.stop()


async def test_mostly_cancelled_heap_is_rebuilt() -> None:
    deadlines = Deadlines()
    made = [deadlines.call_later(60, print, i) for i in range(4 * COMPACT_AT)]
    for deadline in made[: 3 * COMPACT_AT]:
        deadline.cancel()
    deadlines.call_later(60, print, "one more")
    assert len(deadlines._heap) == COMPACT_AT + 1 and len(deadlines) == COMPACT_AT + 1
    deadlines.stop()
    assert len(deadlines) == 0 and made[-1].cancelled()


async def test_a_failing_callback_is_logged_and_the_rest_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deadlines = Deadlines()
    ran: list[str] = []

    def fail(_: object) -> None:
        raise RuntimeError("boom")

    deadlines.call_later(0.01, fail, None)
    deadlines.call_later(0.01, ran.append, "after")
    with caplog.at_level(logging.ERROR, logger="relay.hub.deadlines"):
        await eventually(lambda: ran == ["after"], within=2)
    assert "deadline callback" in caplog.text
    deadlines.stop()
