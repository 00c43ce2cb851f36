"""Sessions end with their token, and connections that never authenticate are closed.

SPEC "Live events": at ``exp`` a stream gets ``session.expired`` and ends (Socket.IO: the
server disconnects; SSE: the response ends). An Engine.IO session without an authenticated
Socket.IO CONNECT within ``RELAY_AUTH_TIMEOUT`` (10 s; 0.5 s here) is closed, whether it never
tried or was refused. Clients: Node's official socket.io-client, and a raw Engine.IO client on
the ``websockets`` package (which answers pings and nothing else, like the 2,000 that stayed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import socketio
import websockets

from relay.app import create_app
from relay.appkeys import HUB, METRICS
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.hub import Hub
from relay.metrics import Metrics
from tests.logscan import SCAN
from tests.nodeclient import node_clients
from tests.support import eventually

from .conftest import DEADLINE

AUTH_TIMEOUT = 0.5
TTL = 3  # seconds; mint_token rounds exp down to the second, so 2 to 3 s of life


class Served:
    def __init__(self, url: str, hub: Hub, metrics: Metrics, settings: Settings) -> None:
        self.url = url
        self.hub = hub
        self.metrics = metrics
        self.settings = settings

    def token(self, tenant: str | None = "acme", ttl: float = 600) -> str:
        role = Role.ADMIN if tenant else Role.SUPERADMIN
        minted = mint_token(self.settings, tenant=tenant, role=role, user="u1", ttl=ttl)
        SCAN.register(minted)
        return minted

    def ended(self, transport: str, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "relay_sessions_ended_total", {"transport": transport, "reason": reason}
        )
        return value or 0.0

    def engine_sessions(self) -> int:
        return len(self.hub._io.sio.eio.sockets)  # the object under test


@pytest.fixture
async def served(aiohttp_server: Any, make_settings: Callable[..., Settings]) -> Served:
    settings = make_settings(jwt_leeway=0, auth_timeout=AUTH_TIMEOUT)
    app = create_app(settings)
    server = await aiohttp_server(app)
    return Served(str(server.make_url("")).rstrip("/"), app[HUB], app[METRICS], settings)


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


async def closed(ws: websockets.ClientConnection) -> bool:
    """Read (and answer pings) until the server closes; True once it has."""
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), DEADLINE)
            if message == "2":
                await ws.send("3")
    except websockets.ConnectionClosed:
        return True


# ---- token expiry --------------------------------------------------------------------------


@pytest.mark.node
async def test_socketio_session_ends_at_exp_with_session_expired(served: Served) -> None:
    async with node_clients(served.url) as make:
        client = await make({"token": served.token(ttl=TTL)})
        await client.until(lambda line: line["type"] == "event"
                           and line["name"] == "instances.snapshot")  # fmt: skip
        await served.hub.publish("acme", "acme-1", "messages.upsert", {"instance": "acme-1"})
        gone = await client.until(lambda line: line["type"] == "disconnect")
    assert gone["data"]["reason"] == "io server disconnect"  # not a network error: no retry
    names = [line["name"] for line in client.lines if line["type"] == "event"]
    assert names == ["instances.snapshot", "messages.upsert", "session.expired"]
    expired = client.events("session.expired")[0]
    assert expired["reason"] == "token expired"
    assert served.ended("socketio", "expired") == 1
    await eventually(lambda: served.engine_sessions() == 0)


async def test_python_client_is_disconnected_at_exp_and_gets_nothing_after(
    served: Served,
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    seen: list[str] = []
    client.on("*", lambda event, data=None: seen.append(event))
    await client.connect(served.url, auth={"token": served.token(ttl=TTL)},
                         transports=["websocket"], wait_timeout=DEADLINE)  # fmt: skip
    await eventually(lambda: "session.expired" in seen)
    await eventually(lambda: not client.connected)
    await served.hub.publish("acme", "acme-1", "messages.upsert", {"instance": "acme-1"})
    assert seen[-1] == "session.expired"
    await client.disconnect()


async def test_sse_stream_ends_at_exp_with_session_expired(served: Served) -> None:
    frames: list[str] = []
    url = served.url + "/api/events"
    params = {"token": served.token(ttl=TTL)}
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        assert response.status == 200
        async with asyncio.timeout(DEADLINE):
            async for raw in response.content:  # ends when the server ends the response
                line = raw.decode().strip()
                if line.startswith("event: "):
                    frames.append(line.removeprefix("event: "))
                if line.startswith("data: ") and frames[-1] == "session.expired":
                    assert json.loads(line.removeprefix("data: "))["reason"] == "token expired"
    assert frames == ["instances.snapshot", "session.expired"]
    assert served.ended("sse", "expired") == 1


async def test_an_expired_token_is_refused_at_connect(served: Served) -> None:
    async with websockets.connect(ws_url(served.url)) as ws:
        assert (await ws.recv()).startswith("0")
        await ws.send("40" + json.dumps({"token": served.token(ttl=-5)}))
        assert json.loads((await ws.recv())[2:]) == {"message": "unauthorized"}


# ---- unauthenticated sessions --------------------------------------------------------------


async def test_raw_engineio_session_that_never_connects_is_closed(served: Served) -> None:
    async with websockets.connect(ws_url(served.url)) as ws:
        opened = json.loads((await ws.recv())[1:])
        assert opened["sid"]
        assert await closed(ws)
    assert served.ended("socketio", "unauthenticated") == 1
    await eventually(lambda: served.engine_sessions() == 0)


async def test_refused_session_is_closed_and_an_authenticated_one_is_not(
    served: Served,
) -> None:
    async with (
        websockets.connect(ws_url(served.url)) as good,
        websockets.connect(ws_url(served.url)) as refused,
    ):
        await good.recv()
        await good.send("40" + json.dumps({"token": served.token()}))
        assert (await good.recv()).startswith("40{")
        await refused.recv()
        await refused.send('40{"token":"not-a-token"}')
        assert (await refused.recv()).startswith("44")
        assert await closed(refused)  # its deadline came after the good one's
        await good.send('42["subscribe",{"instanceName":"nope"}]')
        await good.send('421["subscribe",{"instanceName":"nope"}]')
        async with asyncio.timeout(DEADLINE):
            while not (reply := await good.recv()).startswith("431"):
                pass
        assert json.loads(reply[3:]) == [{"ok": False, "error": "not found"}]
    assert served.ended("socketio", "unauthenticated") == 1


@pytest.mark.node
async def test_node_client_refused_leaves_no_engine_session(served: Served) -> None:
    async with node_clients(served.url) as make:
        client = await make({"token": "wrong"}, transports=["polling"])
        await client.until(lambda line: line["type"] == "connect_error")
        await eventually(lambda: served.engine_sessions() == 0)


def test_guard_python_socketio_listens_for_engineio_connect() -> None:
    """The deadline wraps the handler python-socketio registers on engine.io's ``connect``."""
    server = socketio.AsyncServer(async_mode="aiohttp")
    handler = server.eio.handlers.get("connect")
    assert handler is not None and handler.__func__ is socketio.AsyncServer._handle_eio_connect
