"""Evolution unreachable, not Evolution, or refusing the key: three different lines, each
logged once however many times the subscription retries (it logs on a change of state)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from relay.app import create_app
from relay.appkeys import METRICS
from relay.config import Settings
from relay.metrics import Metrics
from simulator import SimConfig, Simulator
from tests.conftest import free_port
from tests.support import eventually

ROUTE = "GET /instance/fetchInstances"


@pytest.fixture
async def html_server() -> AsyncIterator[str]:
    """Something that answers HTTP, but is not Evolution (a default web page)."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>It works!</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimConfig(apikey="the-right-key-0123"))
    await sim.start("127.0.0.1", 0)
    yield sim
    await sim.stop()


def diagnoses(metrics: Metrics) -> float:
    total = 0.0
    for outcome in ("2xx", "4xx", "5xx", "unreachable", "timeout"):
        labels = {"route": ROUTE, "outcome": outcome}
        total += metrics.registry.get_sample_value("relay_upstream_call_seconds_count", labels) or 0
    return total


async def down_lines(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture, settings: Settings
) -> list[str]:
    """Run the app until the subscription has failed (and been diagnosed) three times."""
    app = create_app(settings)
    await aiohttp_server(app)
    await eventually(lambda: diagnoses(app[METRICS]) >= 3, within=20)
    assert app[METRICS].registry.get_sample_value(
        "relay_upstream_up", {"server": "default"}
    ) == 0  # fmt: skip
    return [
        r.getMessage() for r in caplog.records
        if r.name == "relay.upstream.subscription" and r.levelno >= logging.WARNING
    ]  # fmt: skip


async def test_unreachable(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture, make_settings: Callable[..., Settings]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    lines = await down_lines(aiohttp_server, caplog, make_settings(evolution_url=url))
    assert lines == [
        f"evolution socket.io down: evolution at {url} is unreachable (connection refused): "
        "check RELAY_EVOLUTION_URL and that Evolution is running (retrying every 2 s at most; "
        "logged again only when this changes)"
    ]


async def test_not_evolution(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture,
    make_settings: Callable[..., Settings], html_server: str,
) -> None:  # fmt: skip
    lines = await down_lines(aiohttp_server, caplog, make_settings(evolution_url=html_server))
    assert len(lines) == 1, lines
    assert f"{html_server} answers, but not as an Evolution API v2 server" in lines[0]
    assert "check RELAY_EVOLUTION_URL" in lines[0]


async def test_key_refused(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture,
    make_settings: Callable[..., Settings], simulator: Simulator,
) -> None:  # fmt: skip
    settings = make_settings(evolution_url=simulator.base_url, evolution_apikey="a-wrong-key-99")
    lines = await down_lines(aiohttp_server, caplog, settings)
    assert lines == [
        f"evolution socket.io down: evolution at {simulator.base_url} refused the API key "
        "(HTTP 401): set RELAY_EVOLUTION_APIKEY to Evolution's AUTHENTICATION_API_KEY "
        "(retrying every 2 s at most; logged again only when this changes)"
    ]
    assert not any("a-wrong-key-99" in r.getMessage() for r in caplog.records)


async def test_recovery_is_logged_once_and_the_gauge_follows(
    aiohttp_server: Any, caplog: pytest.LogCaptureFixture, make_settings: Callable[..., Settings]
) -> None:
    port = free_port()
    app = create_app(make_settings(evolution_url=f"http://127.0.0.1:{port}"))
    await aiohttp_server(app)
    await eventually(lambda: diagnoses(app[METRICS]) >= 1, within=20)
    sim = Simulator(SimConfig(apikey="test-global-apikey"))
    await sim.start("127.0.0.1", port)
    try:
        up = {"server": "default"}
        await eventually(
            lambda: app[METRICS].registry.get_sample_value("relay_upstream_up", up) == 1,
            within=40,
        )
    finally:
        await sim.stop()
    again = [r.getMessage() for r in caplog.records if "connected again after" in r.getMessage()]
    assert len(again) == 1
