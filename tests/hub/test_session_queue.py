"""``relay.hub.session_queue.SessionQueue`` against ``asyncio.Queue``: same order, same
``QueueEmpty``, same cancellation and ``join`` rules, for the ways engine.io uses a session's
queue (whose shape is guarded in test_sessions_internals.py)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from relay.hub.session_queue import SessionQueue


@pytest.fixture(params=["asyncio", "session"])
def make(request: pytest.FixtureRequest) -> Any:
    return asyncio.Queue if request.param == "asyncio" else SessionQueue


async def test_fifo_and_empty(make: Any) -> None:
    queue = make()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    for item in ("a", None, "b"):
        await queue.put(item)
    queue.put_nowait("c")
    assert queue.qsize() == 4 and not queue.empty()
    assert [queue.get_nowait(), await queue.get(), queue.get_nowait(), await queue.get()] == [
        "a", None, "b", "c"
    ]  # fmt: skip
    assert queue.empty()


async def test_a_waiting_getter_is_woken_in_order(make: Any) -> None:
    queue = make()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await asyncio.wait_for(asyncio.gather(first, second), 1) == [1, 2]


async def test_a_timed_out_get_takes_nothing(make: Any) -> None:
    """engine.io's poll: ``wait_for(queue.get(), timeout)``."""
    queue = make()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait("x")
    assert await asyncio.wait_for(queue.get(), 1) == "x"


async def test_woken_then_cancelled_passes_the_item_on(make: Any) -> None:
    queue = make()
    cancelled = asyncio.ensure_future(queue.get())
    other = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("x")  # wakes the first getter...
    cancelled.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(other, 1) == "x"
    assert cancelled.cancelled()


async def test_join_waits_for_task_done(make: Any) -> None:
    queue = make()
    await asyncio.wait_for(queue.join(), 1)  # nothing unfinished
    queue.put_nowait("a")
    queue.put_nowait("b")
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


def test_an_idle_queue_is_small() -> None:
    """The point of it: no deque while empty (asyncio.Queue has four)."""
    queue = SessionQueue()
    queue.put_nowait("x")
    queue.get_nowait()
    queue.task_done()
    size = sys.getsizeof(queue) + sys.getsizeof(queue._getters)
    assert queue._items is None and size < 200
