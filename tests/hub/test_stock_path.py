"""The hub on untested library versions: python-socketio's stock path, chosen at start-up.

The app is told (``create_app(versions=...)``) that another python-socketio minor is installed;
nothing is patched. It must then use no internal of ``relay.hub.fanout``, and still deliver
every event, in order, to real python-socketio clients on websocket and on long-polling.
``test_socketio.py`` runs the hub's whole Socket.IO behaviour on this path too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from engineio.async_drivers import aiohttp as eio_aiohttp

from relay import internals
from relay.app import create_app
from relay.config import Settings
from relay.hub.rooms import ALL_TENANTS, tenant_room
from relay.hub.stock_fanout import StockFanout
from tests.support import eventually

from .conftest import DEADLINE, Relay, make_recorder, untested_versions


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "relay_app" in metafunc.fixturenames:
        metafunc.parametrize("relay_app", ["stock"], indirect=True)


def fast_path(relay: Relay, component: str) -> float | None:
    return relay.metrics.registry.get_sample_value("relay_fast_path", {"component": component})


async def test_untested_versions_get_the_stock_fanout(relay_app: Relay) -> None:
    io = relay_app.hub._io
    assert isinstance(io.fanout, StockFanout)
    assert io.sio.eio._async["websocket"] is eio_aiohttp.WebSocket  # the driver is not swapped
    assert io.handle_request == io.sio.handle_request  # python-socketio's public entry point
    assert fast_path(relay_app, "fanout") == 0 and fast_path(relay_app, "upstream") == 0


def test_one_warning_names_the_library_and_both_versions(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    versions = {**internals.installed(), "aiohttp": "3.99.1"}
    with caplog.at_level(logging.WARNING, logger="relay.internals"):
        create_app(settings, versions=versions)
    (record,) = [r for r in caplog.records if r.name == "relay.internals"]
    assert record.levelno == logging.WARNING
    assert "aiohttp 3.99.1 (tested 3.14.x)" in record.getMessage()
    assert "stock path for fanout" in record.getMessage()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_stock_path_delivers_end_to_end(
    relay_app: Relay, token: Callable[..., str], transport: str
) -> None:
    await relay_app.instance("acme", "acme-1")
    tenant, admin = make_recorder(), make_recorder()
    for recorder, jwt in ((tenant, token("acme")), (admin, token(None, "SUPERADMIN"))):
        await recorder.client.connect(relay_app.url, auth={"token": jwt},
                                      transports=[transport], wait_timeout=DEADLINE)  # fmt: skip
        await recorder.wait_count("instances.snapshot", 1)
    try:
        # the SUPERADMIN narrows to two rooms that both get acme-1's events: it gets each once
        assert await admin.client.call("subscribe", {"tenantId": "acme"}) == {"ok": True}
        ack = await admin.client.call("subscribe", {"instanceName": "acme-1"})
        assert ack == {"ok": True}
        payload = {"data": {"text": 'olá ✓ "q"'}, "instance": "acme-1"}
        seq = await relay_app.hub.publish("acme", "acme-1", "messages.upsert", payload)
        for recorder in (tenant, admin):
            await recorder.wait_count("messages.upsert", 1)
        assert tenant.named("messages.upsert") == [{**payload, "seq": seq}]
        await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"last": True})
        await admin.wait_count("messages.upsert", 2)
        assert [e.get("seq") for e in admin.named("messages.upsert")] == [seq, seq + 1]
        deliveries = relay_app.metrics.registry.get_sample_value(
            "relay_deliveries_total", {"transport": "socketio"}
        )
        assert deliveries == 4  # two events, two clients, never twice to one
    finally:
        # Closed from the server's side (engine.io CLOSE, as at shutdown): python-engineio's
        # polling client closing by itself waits out a pending poll (up to 25 s).
        await relay_app.hub._io.sio.eio.disconnect()
        await eventually(lambda: not (tenant.client.connected or admin.client.connected))


async def test_welcome_and_live_events_keep_their_order_under_load(
    relay_app: Relay, token: Callable[..., str]
) -> None:
    """Events published while a client connects: after its snapshot it gets every later seq,
    once and in order (its welcome and the live stream go through the one sender)."""
    stop = asyncio.Event()

    async def publish_until_stopped() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"n": n})
            await asyncio.sleep(0.002)  # pacing, not waiting: the history keeps 1,000

    publisher = asyncio.ensure_future(publish_until_stopped())
    recorder = make_recorder()
    try:
        await recorder.client.connect(relay_app.url, auth={"token": token("acme")},
                                      transports=["websocket"], wait_timeout=DEADLINE)  # fmt: skip
        await recorder.wait(lambda r: len(r.named("messages.upsert")) >= 20, "20 live events")
    finally:
        stop.set()
        await publisher
    last = await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"n": "last"})
    await recorder.wait(lambda r: any(e["seq"] == last for e in r.named("messages.upsert")),
                        "the last event")  # fmt: skip
    (snapshot,) = recorder.named("instances.snapshot")
    assert recorder.events[0][0] == "instances.snapshot"
    seqs = [e["seq"] for e in recorder.named("messages.upsert")]
    assert seqs == list(range(snapshot["seq"] + 1, last + 1))
    await recorder.client.disconnect()


async def test_rooms_are_forgotten_when_a_client_goes(
    relay_app: Relay, token: Callable[..., str]
) -> None:
    fanout = relay_app.hub._io.fanout
    assert isinstance(fanout, StockFanout)
    recorder = make_recorder()
    await recorder.client.connect(relay_app.url, auth={"token": token(None, "SUPERADMIN")},
                                  transports=["websocket"], wait_timeout=DEADLINE)  # fmt: skip
    await recorder.wait_count("instances.snapshot", 1)
    assert await recorder.client.call("subscribe", {"tenantId": "acme"}) == {"ok": True}
    assert fanout._members.keys() == {tenant_room("acme")}
    await recorder.client.disconnect()
    await eventually(lambda: not (fanout._members or fanout._rooms or relay_app.hub._io.clients))
    assert fanout.deliver([tenant_room("acme"), ALL_TENANTS], '2["e",{}]') == 0


def test_untested_versions_helper_is_untested() -> None:
    """The fixture's table really differs from the tested one (else these tests prove nothing)."""
    assert internals.mismatches(untested_versions())
    assert not internals.mismatches(internals.installed())
