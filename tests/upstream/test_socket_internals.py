"""Guard for every private python-socketio API of the upstream side (relay/upstream/socket.py).

``MultiplexedSocket`` joins and leaves Evolution's namespaces on one live connection, which
python-socketio's public client cannot do. It uses, and this module checks, first as shapes,
then as behaviour against the simulator as a real Socket.IO server:

- ``AsyncClient._send_packet(pkt)`` and ``AsyncClient.packet_class`` (its own CONNECT and
  DISCONNECT packets for one namespace);
- ``AsyncClient.namespaces``, ``{namespace: sid}``: filled by the server's CONNECT, read to
  route events, emptied of a namespace it left;
- ``AsyncClient.failed_namespaces``: every CONNECT_ERROR appends to it, only ``connect()``
  reads it; the socket drops earlier refusals from it, so that retries do not grow it;
- ``AsyncClient.eio.wait()`` (python-engineio's public ``wait``, through the client's ``eio``):
  returns once the connection's read loop has ended, before the next ``connect()``.

pyproject pins python-socketio 5.18.x and python-engineio 4.15.x; on other versions
``relay.internals`` gives the subscription ``relay.upstream.per_namespace`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import engineio
import pytest
import socketio
from socketio import packet

from relay.upstream.socket import ROOT, MultiplexedSocket, _Client
from simulator import PresetInstance, Simulator
from tests.upstream.conftest import KEY, fast_config

DEADLINE = 10.0


def test_python_socketio_and_engineio_are_the_pinned_series() -> None:
    assert version("python-socketio").startswith("5.18."), version("python-socketio")
    assert version("python-engineio").startswith("4.15."), version("python-engineio")


def test_private_client_api_used_to_join_namespaces_is_there() -> None:
    client = socketio.AsyncClient(handle_sigint=False)
    assert issubclass(_Client, socketio.AsyncClient)
    assert inspect.iscoroutinefunction(socketio.AsyncClient._send_packet)
    assert list(inspect.signature(socketio.AsyncClient._send_packet).parameters) == [
        "self", "pkt",
    ]  # fmt: skip
    assert client.packet_class is packet.Packet
    connect = client.packet_class(packet.CONNECT, data={}, namespace="/inst-1")
    assert connect.encode() == "0/inst-1,{}"
    disconnect = client.packet_class(packet.DISCONNECT, namespace="/inst-1")
    assert disconnect.encode() == "1/inst-1,"


def test_namespace_bookkeeping_is_where_the_socket_reads_it() -> None:
    client = socketio.AsyncClient(handle_sigint=False)
    assert client.namespaces == {} and isinstance(client.namespaces, dict)
    assert client.failed_namespaces == [] and isinstance(client.failed_namespaces, list)
    # connect() starts both afresh; a CONNECT_ERROR appends the namespace, a CONNECT fills
    # namespaces, a server DISCONNECT empties it (what MultiplexedSocket relies on and mirrors)
    connect = inspect.getsource(socketio.AsyncClient.connect)
    assert "self.namespaces = {}" in connect and "self.failed_namespaces = []" in connect
    assert "self.failed_namespaces.append(namespace)" in inspect.getsource(
        socketio.AsyncClient._handle_error
    )
    assert "self.namespaces[namespace] =" in inspect.getsource(socketio.AsyncClient._handle_connect)
    assert "del self.namespaces[namespace]" in inspect.getsource(
        socketio.AsyncClient._handle_disconnect
    )


def test_engineio_wait_is_a_coroutine_that_awaits_the_read_loop() -> None:
    assert inspect.iscoroutinefunction(engineio.AsyncClient.wait)
    assert list(inspect.signature(engineio.AsyncClient.wait).parameters) == ["self"]
    assert isinstance(socketio.AsyncClient(handle_sigint=False).eio, engineio.AsyncClient)


class Heard:
    """A ``SocketListener`` that keeps what it is told, with waits that have deadlines."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, Any]] = []  # (what, namespace, detail)
        self._changed = asyncio.Event()

    def _note(self, what: str, namespace: str, detail: Any = None) -> None:
        self.log.append((what, namespace, detail))
        self._changed.set()

    async def on_event(self, namespace: str, event: str, data: Any) -> None:
        self._note("event", namespace, data)

    async def on_joined(self, namespace: str) -> None:
        self._note("joined", namespace)

    async def on_refused(self, namespace: str, message: str) -> None:
        self._note("refused", namespace, message)

    async def on_left(self, namespace: str) -> None:
        self._note("left", namespace)

    def count(self, what: str, namespace: str) -> int:
        return sum(1 for w, ns, _ in self.log if (w, ns) == (what, namespace))

    def events(self, namespace: str) -> list[Any]:
        """The ``data`` of each envelope received on ``namespace``."""
        return [d["data"] for w, ns, d in self.log if (w, ns) == ("event", namespace)]

    async def until(self, what: str, namespace: str, count: int = 1) -> None:
        async with asyncio.timeout(DEADLINE):
            while self.count(what, namespace) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    presets = [PresetInstance("open1", state="open"), PresetInstance("lazy")]
    simulator = Simulator(fast_config(presets=presets, global_events=True))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_join_refuse_leave_and_close_on_one_live_connection(sim: Simulator) -> None:
    heard = Heard()
    sock = MultiplexedSocket(sim.base_url, KEY, heard)
    client = sock._client  # the object under guard
    await sock.connect(wait_timeout=DEADLINE)
    try:
        assert sock.connected and set(client.namespaces) == {ROOT}
        await sim.emit("open1", "messages.upsert", {"n": 0})  # the namespace exists from here
        await sock.join("/open1")  # our own CONNECT packet over the same connection
        await heard.until("joined", "/open1")
        assert set(client.namespaces) == {ROOT, "/open1"} and sock.joined("/open1")
        await sim.emit("open1", "messages.upsert", {"n": 1})
        await heard.until("event", "/open1")
        assert heard.events("/open1") == [{"n": 1}]

        for attempt in range(1, 4):  # refused each time, reported each time, never piled up
            for name in ("/lazy", "/missing"):
                await sock.join(name)
                await heard.until("refused", name, attempt)
                assert len(client.failed_namespaces) <= 1, client.failed_namespaces
        assert ("refused", "/lazy", "Invalid namespace") in heard.log
        assert set(client.namespaces) == {ROOT, "/open1"}

        await sock.leave("/open1")  # our own DISCONNECT packet; the connection stays up
        assert set(client.namespaces) == {ROOT} and not sock.joined("/open1")
        await sim.emit("open1", "messages.upsert", {"n": 2})
        await sim.emit("open1", "messages.upsert", {"n": 3})
        await heard.until("event", ROOT, 3)  # global copies of n=1..3 (n=0 came before too)
        assert heard.events("/open1") == [{"n": 1}]  # nothing after the leave
        assert sock.connected and heard.count("left", "/open1") == 0
    finally:
        await sim.stop()  # the server goes: wait_closed returns once the read loop has ended
    async with asyncio.timeout(DEADLINE):
        await sock.wait_closed()
    assert not sock.connected and heard.count("left", ROOT) == 1
    await sock.close()
