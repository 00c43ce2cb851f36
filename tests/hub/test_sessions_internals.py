"""Guard for ``relay.hub.sessions``: one ping timer for every session, two tasks per websocket.

Shapes first (the python-engineio internals the module leans on), then behaviour with real
clients on a server whose ping interval and timeout are 1 s: answered pings keep a session
open, an unanswered one closes it and removes it, an upgrade from polling still gets pings,
and a python-socketio client (which disconnects when pings stop coming) stays connected.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import socketio
import websockets
from engineio import async_server as engineio_async_server
from engineio import async_socket as engineio_async_socket
from engineio.async_server import AsyncServer as EngineServer
from engineio.async_socket import AsyncSocket
from engineio.base_socket import BaseSocket

from relay.app import create_app
from relay.appkeys import HUB
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.hub import Hub
from relay.hub.fanout import DirectFanout
from relay.hub.session_queue import SessionQueue
from tests.logscan import SCAN
from tests.support import eventually

from .conftest import DEADLINE

INTERVAL = 1  # engine.io's ping interval here, seconds
TIMEOUT = 2  # and its ping timeout (the clients' own watchdog: INTERVAL + TIMEOUT)


def test_guard_engineio_socket_and_server_shapes() -> None:
    for name in ("schedule_ping", "_websocket_handler", "receive", "close", "send"):
        assert callable(getattr(AsyncSocket, name)), name
    assert "self.last_ping = time.time()" in inspect.getsource(BaseSocket.__init__)
    assert "self.last_ping = None" in inspect.getsource(AsyncSocket.schedule_ping)
    # the socket's class is swapped in the connect handler, before the first schedule_ping
    connect = inspect.getsource(EngineServer._handle_connect)
    assert "async_socket.AsyncSocket(self, sid)" in connect
    assert connect.index("_trigger_event('connect'") < connect.index("s.schedule_ping()")
    assert connect.index("s.schedule_ping()") < connect.index("handle_get_request")
    assert "if self.start_service_task:" in connect
    upgrade = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert "self._websocket_handler, self.server" in upgrade
    server = socketio.AsyncServer(async_mode="aiohttp")
    assert server.eio.start_service_task is True and server.eio.service_task_handle is None
    assert {"PING_TIMEOUT", "TRANSPORT_CLOSE"} <= set(vars(server.eio.reason))
    DirectFanout(server, compression=False)
    assert server.eio.start_service_task is False


class Served:
    def __init__(self, url: str, hub: Hub, settings: Settings) -> None:
        self.url = url
        self.hub = hub
        self.settings = settings
        self.eio = hub._io.sio.eio  # the object under guard
        self.eio.ping_interval, self.eio.ping_timeout = INTERVAL, TIMEOUT

    def token(self) -> str:
        minted = mint_token(self.settings, tenant="acme", role=Role.ADMIN, user="u1", ttl=600)
        SCAN.register(minted)
        return minted


@pytest.fixture
async def served(aiohttp_server: Any, make_settings: Callable[..., Settings]) -> Served:
    settings = make_settings()
    app = create_app(settings)
    server = await aiohttp_server(app)
    return Served(str(server.make_url("")).rstrip("/"), app[HUB], settings)


async def raw_session(served: Served) -> tuple[websockets.ClientConnection, str]:
    url = served.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await websockets.connect(url)
    opened = json.loads((await ws.recv())[1:])
    assert opened["pingInterval"] == INTERVAL * 1000
    await ws.send("40" + json.dumps({"token": served.token()}))
    assert (await ws.recv()).startswith("40{")
    return ws, opened["sid"]


async def test_answered_pings_keep_a_session_and_an_unanswered_one_closes_it(
    served: Served,
) -> None:
    answering, kept = await raw_session(served)
    silent, dropped = await raw_session(served)
    assert type(served.eio.sockets[kept]).__name__ == "KeptSocket"
    pings = 0

    async def answer() -> None:
        nonlocal pings
        while True:
            if await answering.recv() == "2":
                pings += 1
                await answering.send("3")

    answerer = asyncio.ensure_future(answer())
    try:
        with pytest.raises(websockets.ConnectionClosed):  # no PONG: closed by the server
            async with asyncio.timeout(DEADLINE):
                while True:
                    await silent.recv()
        await eventually(lambda: dropped not in served.eio.sockets)
        await eventually(lambda: pings >= 3, what="three answered pings")
        assert kept in served.eio.sockets and not answerer.done()
        assert served.eio.service_task_handle is None  # one timer, no service task
    finally:
        answerer.cancel()
        await asyncio.gather(answerer, return_exceptions=True)
        await answering.close()
        await silent.close()
    await eventually(lambda: served.eio.sockets == {})


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_python_client_gets_its_pings_and_stays(
    served: Served, transports: list[str]
) -> None:
    """python-engineio's client drops a connection whose pings stop; five pings later (each
    seen on the server) it is still connected and still gets events."""
    client = socketio.AsyncClient(reconnection=False)
    seen: list[str] = []
    client.on("*", lambda event, data=None: seen.append(event))
    await client.connect(served.url, auth={"token": served.token()}, transports=transports,
                         wait_timeout=DEADLINE)  # fmt: skip
    pongs = 0
    try:
        (sock,) = served.eio.sockets.values()
        await eventually(lambda: sock.upgraded, what="on the websocket")
        answered = sock.schedule_ping  # called by engine.io on each PONG: count them

        def counted() -> None:
            nonlocal pongs
            pongs += 1
            answered()

        sock.schedule_ping = counted
        await eventually(lambda: pongs >= 4, within=DEADLINE + 4 * INTERVAL, what="four pongs")
        assert client.connected
        await served.hub.publish("acme", "acme-1", "messages.upsert", {"instance": "acme-1"})
        await eventually(lambda: "messages.upsert" in seen)
    finally:
        await client.disconnect()
    await eventually(lambda: served.eio.sockets == {})


def test_guard_engineio_queue_shape() -> None:
    """Each socket's queue comes from ``server.create_queue()``; every method engine.io calls
    on it is one :class:`SessionQueue` has (DirectFanout installs it on its server)."""
    assert "self.queue = self.server.create_queue()" in inspect.getsource(BaseSocket.__init__)
    used: set[str] = set()
    for module in (engineio_async_socket, engineio_async_server):
        used |= set(re.findall(r"\bqueue\.(\w+)\(", inspect.getsource(module)))
    assert used == {"get", "get_nowait", "put", "put_nowait", "task_done", "join"}
    assert used <= set(dir(SessionQueue))
    server = socketio.AsyncServer(async_mode="aiohttp")
    DirectFanout(server, compression=False)
    assert isinstance(AsyncSocket(server.eio, "s").queue, SessionQueue)
    assert isinstance(AsyncSocket(socketio.AsyncServer().eio, "s").queue, asyncio.Queue)
