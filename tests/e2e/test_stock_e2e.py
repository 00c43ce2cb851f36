"""The whole relay on untested library versions: both stock paths, end to end.

The app is told another python-socketio minor is installed (``create_app(versions=...)``), so
it follows Evolution with a connection per namespace and fans out with python-socketio's
``emit``. A panel pairs an instance through the management API; a real python-socketio client,
on websocket and on long-polling, sees the QR and the status in its tenant's room, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from relay.app import create_app
from relay.appkeys import FLEET, HUB, METRICS
from relay.config import Settings
from relay.hub.stock_fanout import StockFanout
from relay.store import Status, Store
from relay.upstream.per_namespace import SocketPerNamespace
from simulator import Simulator
from tests.conftest import bearer
from tests.hub.conftest import DEADLINE, make_recorder, untested_versions
from tests.support import eventually
from tests.upstream.conftest import KEY

from .conftest import API


@pytest.fixture
async def stock_app(
    aiohttp_server: Any, sim: Simulator, store: Store, make_settings: Callable[..., Settings]
) -> tuple[str, web.Application]:
    await store.create_instance(
        "tenant-a", "e1", status=Status.STOPPED, reason="test", websocket_enabled=True,
        websocket_events=["CONNECTION_UPDATE", "QRCODE_UPDATED"],
    )  # fmt: skip
    settings = make_settings(evolution_url=sim.base_url, evolution_apikey=KEY)
    app = create_app(settings, versions=untested_versions())
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), app


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_pairing_reaches_the_tenant_on_the_stock_paths(
    stock_app: tuple[str, web.Application], token: Callable[..., str], transport: str
) -> None:
    url, app = stock_app
    assert isinstance(app[HUB]._io.fanout, StockFanout)
    (upstream,) = app[FLEET]
    assert isinstance(upstream.live.upstream._socket, SocketPerNamespace)
    await eventually(lambda: upstream.live.upstream.connected)
    a = token("tenant-a")
    client = make_recorder()
    await client.client.connect(url, auth={"token": a}, transports=[transport],
                                wait_timeout=DEADLINE)  # fmt: skip
    try:
        await client.wait_count("instances.snapshot", 1)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}{API}/connect/e1", headers=bearer(a)) as reply,
        ):
            assert reply.status == 200, await reply.text()
        await client.wait_count("qrcode.updated", 1)
        await client.wait(
            lambda r: any(d["status"] == "SCAN_QR_CODE" for d in r.named("instance.status")),
            "SCAN_QR_CODE",
        )
        qr = client.named("qrcode.updated")[0]
        assert qr["instance"] == "e1" and qr["data"]["qrcode"]["base64"].startswith("data:")
        seqs = [data["seq"] for _, data in client.live()]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        metrics = app[METRICS].registry
        for component in ("fanout", "upstream"):
            assert metrics.get_sample_value("relay_fast_path", {"component": component}) == 0
    finally:
        # Closed from the server's side (engine.io CLOSE, as at shutdown): python-engineio's
        # polling client closing by itself waits out a pending poll (up to 25 s).
        await app[HUB]._io.sio.eio.disconnect()
        await eventually(lambda: not client.client.connected)
