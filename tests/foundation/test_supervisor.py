"""No background loop dies silently: a failure is logged with its traceback, counted, reported
by ``/readyz`` (503) while the loop waits to start again, and the loop starts again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from relay.app import create_app
from relay.appkeys import METRICS, TASKS
from relay.config import Settings
from relay.metrics import Metrics
from relay.tasks import Tasks
from tests.support import eventually


class Flaky:
    """A loop that fails on its first run with a bug, and runs quietly from then on."""

    def __init__(self) -> None:
        self.runs = 0

    async def loop(self) -> None:
        self.runs += 1
        if self.runs == 1:
            raise KeyError("a bug in the loop")
        await asyncio.Event().wait()  # runs until cancelled


async def test_a_failed_loop_is_logged_counted_reported_and_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    tasks = Tasks(metrics)
    flaky = Flaky()
    try:
        tasks.supervise(flaky.loop, "flaky[evo-1]")
        await eventually(lambda: flaky.runs == 1)
        await eventually(lambda: not tasks.healthy())
        assert tasks.down == {"flaky[evo-1]"}
        restarts = metrics.registry.get_sample_value(
            "relay_task_restarts_total", {"task": "flaky[evo-1]"}
        )
        assert restarts == 1
        failed = [r for r in caplog.records if "flaky[evo-1] failed" in r.getMessage()]
        assert len(failed) == 1 and failed[0].exc_info is not None  # once, with the traceback
        await eventually(lambda: flaky.runs == 2 and tasks.healthy())
        assert metrics.registry.get_sample_value("relay_tasks_down") == 0
    finally:
        await tasks.close()


async def test_readyz_is_503_while_a_loop_is_down(
    aiohttp_client: Callable[..., TestClient], settings: Settings
) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    flaky = Flaky()
    app[TASKS].supervise(flaky.loop, "flaky")

    async def ready() -> tuple[int, bool]:
        response = await client.get("/readyz")
        return response.status, (await response.json())["checks"]["tasks"]

    await eventually(ready, until=lambda found: found == (503, False), what="503 while down")
    await eventually(ready, until=lambda found: found == (200, True), what="200 once running")
    assert (
        app[METRICS].registry.get_sample_value("relay_task_restarts_total", {"task": "flaky"}) == 1
    )
