"""The direct websocket path of ``relay.hub.fanout``: byte-exact frames, order, slow readers.

``RawClient`` speaks engine.io/Socket.IO over a bare TCP stream, so it sees the server's frames
byte for byte and can stop reading to make the server's buffers fill up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp._websocket.writer import WebSocketWriter

from relay.app import create_app
from relay.appkeys import HUB
from relay.config import Settings
from relay.hub.delivery import event_frame
from relay.hub.fanout import DirectFanout, Sink, ws_frame
from relay.hub.hub import dumps
from relay.hub.rooms import tenant_room
from tests.support import eventually

from .conftest import DEADLINE, Relay, SioFactory


class Collect:
    """Stands in for the transport under aiohttp's own frame writer: keeps what it writes."""

    def __init__(self) -> None:
        self.data = b""
        self._paused = False

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
async def test_ws_frame_is_what_aiohttp_writes(size: int) -> None:
    text = "4" + "é" * (size // 2) + "x" * (size % 2)  # UTF-8 length == size + 1
    sink = Collect()
    await WebSocketWriter(sink, sink).send_frame(text.encode(), 0x1)  # type: ignore[arg-type]
    assert ws_frame(text) == sink.data


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str, token: str, *, rcvbuf: int | None = None) -> RawClient:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        if rcvbuf is not None:  # a small receive window fills the server's buffers sooner
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        assert head.startswith(b"HTTP/1.1 101 "), head
        client = cls(reader, writer)
        assert (await client.text()).startswith("0{")  # engine.io OPEN
        client.send("40" + json.dumps({"token": token}))
        assert (await client.text()).startswith("40{")  # Socket.IO CONNECT
        assert (await client.text()).startswith('42["instances.snapshot",')
        return client

    def send(self, text: str) -> None:
        """One masked client text frame (payloads under 64 KiB here)."""
        data = text.encode()
        mask = os.urandom(4)
        size = bytes((0x80 | len(data),)) if len(data) < 126 else b"\xfe" + len(data).to_bytes(2)
        self.writer.write(b"\x81" + size + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(data)))  # fmt: skip

    async def frame(self) -> bytes:
        """The next whole frame, header included, exactly as it came off the wire."""
        head = await asyncio.wait_for(self.reader.readexactly(2), DEADLINE)
        size, extra = head[1] & 0x7F, b""
        if size == 126:
            extra = await self.reader.readexactly(2)
        elif size == 127:
            extra = await self.reader.readexactly(8)
        length = int.from_bytes(extra) if extra else size
        return head + extra + await self.reader.readexactly(length)

    async def text(self) -> str:
        frame = await self.frame()
        assert frame[0] == 0x81, frame[:16]  # FIN + text: never fragmented, never compressed
        return frame[{126: 4, 127: 10}.get(frame[1], 2) :].decode()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


RawFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw_client(relay_app: Relay) -> AsyncIterator[RawFactory]:
    made: list[RawClient] = []

    async def make(token: str, rcvbuf: int | None = None) -> RawClient:
        made.append(await RawClient.connect(relay_app.url, token, rcvbuf=rcvbuf))
        return made[-1]

    yield make
    for client in made:
        client.writer.close()


def only_sink(relay: Relay) -> Sink:
    (sink,) = relay.hub._io.fanout._sinks.values()
    return sink


def expected(event: str, payload: dict[str, Any]) -> bytes:
    data = ("4" + event_frame(event, dumps(payload))).encode()
    if len(data) < 126:
        return bytes((0x81, len(data))) + data
    if len(data) < 65536:
        return b"\x81\x7e" + len(data).to_bytes(2) + data
    return b"\x81\x7f" + len(data).to_bytes(8) + data


async def test_direct_frames_are_byte_exact(
    relay_app: Relay, raw_client: RawFactory, token: Callable[..., str]
) -> None:
    client = await raw_client(token("acme"))
    assert only_sink(relay_app).direct  # the welcome is out: events now go straight out
    for size in (10, 1000, 70_000, 200_000):
        payload = {"text": "ü" * size}
        seq = await relay_app.hub.publish("acme", "acme-1", "messages.upsert", payload)
        frame = await client.frame()
        assert frame == expected("messages.upsert", {**payload, "seq": seq})
    assert frame[1] == 127  # the 64-bit length for a frame over 65,535 bytes


async def test_python_client_decodes_direct_frames(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    recorder = await sio_client(token("acme"))
    assert only_sink(relay_app).direct
    sent = []
    for size in (1, 200, 30_000, 100_000):
        payload = {"text": 'ä "q" \n' * size}
        seq = await relay_app.hub.publish("acme", "acme-1", "messages.upsert", payload)
        sent.append({**payload, "seq": seq})
    await recorder.wait_count("messages.upsert", len(sent))
    assert recorder.named("messages.upsert") == sent


async def test_deflate_sessions_stay_queued(
    aiohttp_server: Any, make_settings: Callable[..., Settings], token: Callable[..., str]
) -> None:
    app = create_app(make_settings(ws_compression=True))
    server = await aiohttp_server(app)
    url = str(server.make_url("/socket.io/?EIO=4&transport=websocket"))
    hub = app[HUB]
    async with aiohttp.ClientSession() as session, session.ws_connect(url, compress=15) as ws:
        assert ws.compress == 15  # deflate negotiated
        assert (await ws.receive_str(timeout=DEADLINE)).startswith("0{")
        await ws.send_str("40" + json.dumps({"token": token("acme")}))
        assert (await ws.receive_str(timeout=DEADLINE)).startswith("40{")
        assert (await ws.receive_str(timeout=DEADLINE)).startswith('42["instances.snapshot",')
        assert hub._io.fanout._sinks == {}
        seq = await hub.publish("acme", "acme-1", "e", {"big": "x" * 70_000})
        text = await ws.receive_str(timeout=DEADLINE)
        assert text == "4" + event_frame("e", dumps({"big": "x" * 70_000, "seq": seq}))


async def fill(relay: Relay, until: Callable[[], bool], limit: int = 20_000) -> list[int]:
    """Publish 4 KB events until ``until()``; yields to the loop so writers can run."""
    seqs = []
    for n in range(limit):
        seqs.append(await relay.hub.publish("acme", "acme-1", "e", {"n": n, "pad": "p" * 4000}))
        if until():
            return seqs
        if n % 20 == 0:
            await asyncio.sleep(0)
    raise AssertionError("the server never saw the client as slow")


async def test_slow_reader_falls_back_to_the_queue_and_comes_back(
    relay_app: Relay, raw_client: RawFactory, token: Callable[..., str]
) -> None:
    fanout: DirectFanout = relay_app.hub._io.fanout
    fanout.max_buffer = 64 * 1024
    client = await raw_client(token("acme"), rcvbuf=8192)
    sink = only_sink(relay_app)
    seqs = await fill(relay_app, lambda: not sink.direct)  # the client is not reading
    assert sink.transport.get_write_buffer_size() > 64 * 1024
    seqs += [await relay_app.hub.publish("acme", "acme-1", "e", {"n": -1}) for _ in range(5)]
    assert sink.queued > 0  # these wait on the engine.io queue, in order
    received = []
    while len(received) < len(seqs):  # the client reads again: everything, in order
        received.append(json.loads((await client.text())[len('42["e",') : -1])["seq"])
    assert received == seqs
    last = await relay_app.hub.publish("acme", "acme-1", "e", {"n": -2})
    assert json.loads((await client.text())[len('42["e",') : -1])["seq"] == last
    assert sink.direct and sink.queued == 0


async def test_a_reader_too_far_behind_is_cut_and_cleaned_up(
    relay_app: Relay, raw_client: RawFactory, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    fanout: DirectFanout = relay_app.hub._io.fanout
    fanout.max_buffer, fanout.max_backlog = 64 * 1024, 50
    other = await sio_client(token("acme"))  # a reader that keeps up
    client = await raw_client(token("acme"), rcvbuf=8192)
    sink = fanout._sinks[fanout._manager.eio_sid_from_sid(list(relay_app.hub._io.clients)[1], "/")]
    seqs = await fill(relay_app, sink.transport.is_closing)
    await eventually(lambda: len(relay_app.hub._io.clients) == 1, what="the cut session's cleanup")
    assert sink not in fanout._sinks.values()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        while True:  # what was buffered, then the end of the stream
            await client.frame()
    await other.wait_count("e", len(seqs))
    assert [e["seq"] for e in other.named("e")] == seqs


async def test_a_closing_transport_is_skipped(
    relay_app: Relay, raw_client: RawFactory, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    other = await sio_client(token("acme"))
    await raw_client(token("acme"))
    fanout: DirectFanout = relay_app.hub._io.fanout
    raw = [s for s in fanout._sinks.values() if s.sock.sid != other.client.eio.sid]
    assert len(raw) == 1 and len(fanout._sinks) == 2
    raw[0].transport.close()  # mid-close: still in the room, its transport going away
    assert fanout.deliver([tenant_room("acme")], event_frame("e", '{"n":1}')) == 1
    await other.wait_count("e", 1)
    await eventually(
        lambda: len(relay_app.hub._io.clients) == 1, what="the closed session's cleanup"
    )
    assert fanout.deliver([tenant_room("acme")], event_frame("e", '{"n":2}')) == 1
