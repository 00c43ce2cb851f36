"""Guard for ``relay.hub.fanout``: fails loudly when python-socketio/engineio internals change.

The fast path reaches past the public API (see the module docstring). Each assumption it makes
is checked here, first as shapes (versions, attributes, signatures, the few source lines of
python-engineio's websocket writer and aiohttp's frame writer that the direct path relies on),
then as behaviour with a real client: a frame sent directly arrives, acks and rooms still
work, and a disconnected client is cleaned out of the rooms the fast path reads.
``test_fanout_direct.py`` covers the direct path's bytes, order and slow readers.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import textwrap
import types
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import engineio
import socketio
from aiohttp import web
from aiohttp._websocket.writer import WebSocketWriter
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_server import AsyncServer as EngineServer
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet
from socketio.base_manager import BaseManager

from relay.hub.delivery import NAMESPACE, event_frame
from relay.hub.fanout import DirectFanout, engine_packet
from relay.hub.hub import dumps
from relay.hub.rooms import tenant_room
from tests.support import eventually

from .conftest import Relay, SioFactory


def awaiting(task: asyncio.Task[Any]) -> list[types.CodeType]:
    chain, coro = [], task.get_coro()
    while isinstance(coro, types.CoroutineType):
        chain.append(coro.cr_code)
        coro = coro.cr_await
    return chain


def params(func: Callable[..., object]) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_pinned_versions() -> None:
    assert version("python-socketio").startswith("5.18."), "re-check relay/hub/fanout.py"
    assert version("python-engineio").startswith("4.15."), "re-check relay/hub/fanout.py"
    assert version("aiohttp").startswith("3.14."), "re-check relay/hub/fanout.py"


DRIVER_CALL = """\
async def __call__(self, environ):
    request = environ['aiohttp.request']
    self._sock = WebSocketResponse(
        max_msg_size=self.server.max_http_buffer_size)
    await self._sock.prepare(request)

    self.environ = environ
    await self.handler(self)
    return self._sock
"""


def test_websocket_driver_is_replaced_on_this_server_only() -> None:
    """engine.io builds ``_async['websocket'](handler, server)`` per websocket session;
    DirectFanout's subclass re-does its ``__call__`` (with ``compress``): any change to it must
    be looked at."""
    assert params(eio_aiohttp.WebSocket.__init__) == ["self", "handler", "server"]
    assert textwrap.dedent(inspect.getsource(eio_aiohttp.WebSocket.__call__)) == DRIVER_CALL
    assert {"compress", "max_msg_size"} <= set(params(web.WebSocketResponse.__init__))
    assert eio_aiohttp._async["websocket"] is eio_aiohttp.WebSocket
    server = socketio.AsyncServer(async_mode="aiohttp")
    assert server.eio._async is eio_aiohttp._async  # shared: DirectFanout must copy, not mutate
    DirectFanout(server, compression=False)
    assert issubclass(server.eio._async["websocket"], eio_aiohttp.WebSocket)
    assert server.eio._async["websocket"] is not eio_aiohttp.WebSocket
    assert eio_aiohttp._async["websocket"] is eio_aiohttp.WebSocket


def test_socketio_handle_request_only_awaits_engineio() -> None:
    """SocketIoServer routes requests to ``sio.eio.handle_request`` (through DirectFanout's)."""
    source = inspect.getsource(socketio.AsyncServer.handle_request)
    code = [ln.strip() for ln in source.split('"""')[-1].splitlines() if ln.strip()]
    assert code == ["return await self.eio.handle_request(*args, **kwargs)"]


def test_engineio_returns_the_websocket_drivers_response_as_is() -> None:
    """DirectFanout.handle_request serves a session opened on the websocket after engine.io
    returns the driver's response: nothing between them awaits, and what engine.io does after
    the handler (forget a closed session) is done there instead."""
    connect = inspect.getsource(EngineServer._handle_connect)
    tail = connect[connect.index("if transport == 'websocket':") :].split("else:")[0]
    assert [ln.strip() for ln in tail.splitlines() if ln.strip()] == [
        "if transport == 'websocket':",
        "ret = await s.handle_get_request(environ)",
        "if s.closed and sid in self.sockets:",
        "# websocket connection ended, so we are done",
        "del self.sockets[sid]",
        "return ret",
    ]
    handle = inspect.getsource(EngineServer.handle_request)
    assert "r = await self._handle_connect(environ, transport,\n" in handle
    after = handle[handle.index("elif method == 'OPTIONS':") :]
    assert "await" not in after[: after.index("if not isinstance(r, dict):\n            return r")]
    get = inspect.getsource(AsyncSocket.handle_get_request)
    assert "return await getattr(self, '_upgrade_' + transport)(environ)" in get
    upgrade = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert upgrade.rstrip().endswith("return await ws(environ)")


async def test_a_websocket_session_is_served_without_engineio_frames(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    recorder = await sio_client(token("acme"))
    """The handler task's chain of awaiting coroutines, outermost first: each one is a frame
    kept for the connection's lifetime."""
    chains = [awaiting(task) for task in asyncio.all_tasks()]
    (served,) = [chain for chain in chains if any(code.co_name == "serve" for code in chain)]
    names = [code.co_name for code in served]
    assert names[-2:] == ["serve", "receive"], names
    assert names[:2] == ["_handle_request", "_handle"], names  # aiohttp's
    assert not [code for code in served if "engineio" in code.co_filename], names
    assert len(names) <= 8, names  # was 15 when engine.io served it
    # and no writer task while nothing is queued (one starts on the next put)
    await eventually(lambda: not [t for t in asyncio.all_tasks() if "_drain" in repr(t)])
    assert await recorder.client.call("subscribe", {"tenantId": "x"}, timeout=5) == {
        "ok": False, "error": "forbidden"
    }  # fmt: skip
    await eventually(lambda: not [t for t in asyncio.all_tasks() if "_drain" in repr(t)])
    await recorder.client.disconnect()
    fanout: DirectFanout = relay_app.hub._io.fanout
    await eventually(lambda: fanout._websockets == {} and relay_app.hub._io.sio.eio.sockets == {})
    assert fanout._opened == {} and fanout._sinks == {}


def test_engineio_websocket_session_shapes() -> None:
    """The handler is the socket's bound method; ``upgraded`` turns true before the websocket
    writer starts (a poll in flight returns NOOP once upgrading); the writer encodes each
    packet right before sending it, in queue order (what ``Handback`` relies on)."""
    upgrade = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert "self._websocket_handler, self.server)" in upgrade
    handler = inspect.getsource(AsyncSocket._websocket_handler)
    assert handler.count("self.upgraded = True") == 2
    assert handler.rindex("self.upgraded = True") < handler.index("async def writer():")
    polling = inspect.getsource(AsyncSocket.handle_get_request)
    assert "if self.upgrading or self.upgraded:" in polling
    assert AsyncSocket(socketio.AsyncServer().eio, "s").upgraded is False
    assert "packets = await self.poll()" in handler
    assert "for pkt in packets:\n" in handler and "await ws.send(pkt.encode())" in handler
    shared = eio_packet.Packet(eio_packet.MESSAGE, data="2[]")
    assert set(vars(shared)) == {"packet_type", "data", "encode_cache", "binary"}


def test_aiohttp_writes_an_uncompressed_frame_without_awaiting() -> None:
    """Engine.io's own frames cannot interleave with the ones DirectFanout writes directly."""
    assert not inspect.iscoroutinefunction(WebSocketWriter._write_websocket_frame)
    assert "await" not in inspect.getsource(WebSocketWriter._write_websocket_frame)
    send = inspect.getsource(WebSocketWriter.send_frame)
    assert "if not (compress or self.compress) or opcode >= WS_CONTROL_FRAME_OPCODE:\n" in send
    assert "self._write_websocket_frame(message, opcode, 0)\n" in send
    for name in ("compress", "closed"):
        assert isinstance(getattr(web.WebSocketResponse, name), property)
    assert isinstance(web.BaseRequest.transport, property)


def test_event_frame_is_what_socketio_encodes() -> None:
    for event, payload in [
        ("messages.upsert", {"data": {"text": 'olá ✓ "quoted" \n line'}, "seq": 7}),
        ("instance.status", {"status": "WORKING", "reason": None, "seq": 1}),
        ("x", {}),
    ]:
        expected = sio_packet.Packet(sio_packet.EVENT, namespace="/", data=[event, payload])
        assert event_frame(event, dumps(payload)) == expected.encode()


def test_engine_packet_is_a_pre_encoded_message() -> None:
    pkt = engine_packet('2["e",{}]')
    assert isinstance(pkt, eio_packet.Packet)
    assert pkt.encode_cache == '42["e",{}]'
    assert pkt.encode() == '42["e",{}]' and pkt.encode(b64=True) == '42["e",{}]'


def test_manager_and_socket_shapes() -> None:
    assert params(BaseManager.basic_enter_room) == ["self", "sid", "namespace", "room", "eio_sid"]
    assert params(BaseManager.basic_leave_room) == ["self", "sid", "namespace", "room"]
    assert params(BaseManager.eio_sid_from_sid) == ["self", "sid", "namespace"]
    assert params(BaseManager.is_connected) == ["self", "sid", "namespace"]
    assert not inspect.iscoroutinefunction(BaseManager.basic_enter_room)
    assert not inspect.iscoroutinefunction(BaseManager.basic_leave_room)
    server = socketio.AsyncServer(async_mode="aiohttp")
    assert isinstance(server.manager.rooms, dict)
    assert isinstance(server.eio, engineio.AsyncServer)
    assert server.eio.sockets == {}
    sock = AsyncSocket(server.eio, "sid-1")
    assert isinstance(sock.queue, asyncio.Queue)
    assert sock.closing is False and sock.closed is False
    # the socket's writer drains the queue through poll(): a queued packet comes out as is
    pkt = engine_packet('2["e",{}]')
    sock.queue.put_nowait(pkt)
    assert "poll" in dir(AsyncSocket)


async def test_poll_returns_the_queued_shared_packet() -> None:
    server = socketio.AsyncServer(async_mode="aiohttp")
    sock = AsyncSocket(server.eio, "sid-1")
    pkt = engine_packet('2["e",{}]')
    sock.queue.put_nowait(pkt)
    sock.queue.put_nowait(pkt)
    assert await sock.poll() == [pkt, pkt]


async def test_fast_path_delivers_and_keeps_acks_rooms_and_cleanup(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    recorder = await sio_client(token("acme"))
    fanout: DirectFanout = relay_app.hub._io.fanout  # the object under guard
    manager = relay_app.hub._io.sio.manager
    (sid,) = relay_app.hub._io.clients
    assert manager.rooms[NAMESPACE][tenant_room("acme")][sid] == manager.eio_sid_from_sid(
        sid, NAMESPACE
    )
    assert fanout.deliver([tenant_room("acme"), "no-such-room"], event_frame("e", '{"n":1}')) == 1
    await recorder.wait_count("e", 1)
    assert recorder.named("e") == [{"n": 1}]
    # acks still go through python-socketio after direct queueing
    assert await recorder.client.call("subscribe", {"tenantId": "x"}, timeout=5) == {
        "ok": False,
        "error": "forbidden",
    }
    fanout.leave(sid, tenant_room("acme"))
    assert fanout.deliver([tenant_room("acme")], event_frame("e", "{}")) == 0
    fanout.enter(sid, tenant_room("acme"))
    await recorder.client.disconnect()
    await eventually(lambda: tenant_room("acme") not in manager.rooms.get(NAMESPACE, {}))
    assert fanout.deliver([tenant_room("acme")], event_frame("e", "{}")) == 0
    assert relay_app.hub._io.clients == {}


def test_socketio_keeps_the_environ_only_for_namespace_connects() -> None:
    """SocketIoServer swaps ``sio.environ[eio_sid]`` for the entries its connect handler reads
    (``relay.hub.sio.ENVIRON_READ``), after python-socketio stored it: what python-socketio
    reads it for is the namespace ``connect`` handler and ``get_environ``, and engine.io's
    drivers never read ``ws.environ``."""
    eio_connect = inspect.getsource(socketio.AsyncServer._handle_eio_connect)
    assert "self.environ[eio_sid] = environ" in eio_connect
    reads = re.findall(r"self\.environ\[eio_sid\]|self\.environ\.get\(eio_sid\)|\.environ\b",
                       inspect.getsource(socketio.AsyncServer)
                       + inspect.getsource(socketio.base_server.BaseServer))  # fmt: skip
    assert len(reads) == 8, reads  # init, stored, 3 connect reads, test+del, get_environ
    driver = inspect.getsource(eio_aiohttp.WebSocket)
    for line in ("async def __call__(self, environ):", "request = environ['aiohttp.request']",
                 "self.environ = environ"):  # fmt: skip
        driver = driver.replace(line, "", 1)
    assert "environ" not in driver


async def test_a_session_keeps_only_the_environ_it_reads(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    await sio_client(token("acme"))
    (environ,) = relay_app.hub._io.sio.environ.values()
    assert set(environ) <= {"HTTP_AUTHORIZATION", "QUERY_STRING"} and "QUERY_STRING" in environ


def test_a_websocket_writer_without_deflate_never_masks_nor_starts_tasks() -> None:
    """DirectFanout shares these two between its sessions' writers (``_share_unused``)."""
    init = inspect.getsource(WebSocketWriter.__init__)
    assert "self.get_random_bits = partial(random.getrandbits, 32)" in init
    assert "self._background_tasks: Set[asyncio.Task[None]] = set()" in init
    send = inspect.getsource(WebSocketWriter.send_frame)
    assert send.count("self.get_random_bits") + send.count("self._background_tasks") == 2
    uncompressed = send.index("if not (compress or self.compress) or opcode >= WS_CONTROL")
    assert send.index("self._background_tasks.add(send_task)") > send.index("else:", uncompressed)
    frame = inspect.getsource(WebSocketWriter._write_websocket_frame)
    assert "if use_mask:\n            mask = PACK_RANDBITS(self.get_random_bits())" in frame
    assert "use_mask = self.use_mask" in frame
    for name in ("get_random_bits", "_background_tasks"):
        assert sum(src.count(name) for src in (init, send, frame)) == inspect.getsource(
            WebSocketWriter
        ).count(name), name
    assert "_writer" in inspect.getsource(web.WebSocketResponse._post_start)


async def test_websocket_writers_share_what_they_never_use(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    await sio_client(token("acme"))
    await sio_client(token("acme"))
    fanout: DirectFanout = relay_app.hub._io.fanout
    writers = [sink.ws._writer for sink in fanout._sinks.values()]
    assert len(writers) == 2 and writers[0] is not writers[1]
    assert writers[0].get_random_bits is writers[1].get_random_bits
    assert writers[0]._background_tasks is writers[1]._background_tasks == set()
    # and two clients of a tenant share its name and their room's
    first, second = relay_app.hub._io.clients.values()
    assert first.room is second.room and first.principal.tenant is second.principal.tenant
