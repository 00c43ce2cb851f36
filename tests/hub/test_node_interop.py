"""Interop with Node's official socket.io-client (tests/package.json, ``npm ci --prefix tests``).

Without ``tests/node_modules`` these tests skip locally and fail under CI (``CI=true``), so the
interop check cannot silently vanish from ``make test``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.nodeclient import NodeFactory, node_clients
from tests.support import eventually

from .conftest import Relay

pytestmark = pytest.mark.node


@pytest.fixture
async def node_client(relay_app: Relay) -> AsyncIterator[NodeFactory]:
    async with node_clients(relay_app.url) as make:
        yield make


def is_event(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["type"] == "event" and line["name"] == name


@pytest.mark.parametrize("transport", ["websocket", "polling", "upgrade"])
async def test_node_client_gets_snapshot_status_and_qr(
    relay_app: Relay, node_client: NodeFactory, token: Callable[..., str], transport: str
) -> None:
    """Websocket clients get frames written directly (once upgraded, for those that start on
    polling, socket.io-client's default); long-polling ones the engine.io queue."""
    await relay_app.instance("acme", "acme-1")
    await relay_app.instance("globex", "globex-1")
    transports = ["polling", "websocket"] if transport == "upgrade" else [transport]
    client = await node_client({"token": token("acme")}, transports=transports)
    await client.until(lambda line: line["type"] == "connect")
    snapshot = (await client.until(is_event("instances.snapshot")))["data"]
    assert [i["instanceName"] for i in snapshot["instances"]] == ["acme-1"]
    await relay_app.hub.publish("globex", "globex-1", "qrcode.updated", {"instance": "globex-1"})
    envelope = {"event": "qrcode.updated", "instance": "acme-1", "data": {"qrcode": {"code": "é"}}}
    seq = await relay_app.hub.publish("acme", "acme-1", "qrcode.updated", envelope)
    qr = (await client.until(is_event("qrcode.updated")))["data"]
    assert qr == {**envelope, "seq": seq}
    assert client.events("qrcode.updated") == [qr]
    # websocket sessions get direct frames (7-, 16- and 64-bit lengths); polling ones the queue
    fanout = relay_app.hub._io.fanout
    if transport == "upgrade":
        await eventually(lambda: any(s.sock.upgraded for s in fanout._sinks.values()))
    sent = []
    for size in (1, 20_000, 70_000, 1, 1):
        payload = {"text": 'ç ✓ "q"' * size}
        sent.append({**payload, "seq": await relay_app.hub.publish("acme", "acme-1", "m", payload)})
        await asyncio.sleep(0)
    await client.until(lambda line: is_event("m")(line) and line["data"]["seq"] == sent[-1]["seq"])
    assert client.events("m") == sent
    sinks = list(fanout._sinks.values())
    assert [sink.direct for sink in sinks] == ([] if transport == "polling" else [True])


async def test_node_client_bad_token_gets_unauthorized(
    relay_app: Relay, node_client: NodeFactory
) -> None:
    client = await node_client({"token": "nope"})
    line = await client.until(lambda ln: ln["type"] in ("connect", "connect_error"))
    assert line == {"type": "connect_error", "data": {"message": "unauthorized"}}


async def test_node_client_subscribe_ack_and_resume(
    relay_app: Relay, node_client: NodeFactory, token: Callable[..., str]
) -> None:
    await relay_app.instance("acme", "acme-1")
    hub = relay_app.hub
    start = await hub.publish("acme", "acme-1", "messages.upsert", {"n": 0})
    missed = [await hub.publish("acme", "acme-1", "messages.upsert", {"n": n}) for n in (1, 2)]
    client = await node_client({"token": token("acme"), "lastSeq": start},
                               subscribe={"instanceName": "acme-1"})  # fmt: skip
    ack = await client.until(lambda line: line["type"] == "ack")
    assert ack["data"] == {"ok": True}
    snapshot = (await client.until(is_event("instances.snapshot")))["data"]
    assert snapshot["recovered"] is True
    assert [e["seq"] for e in client.events("messages.upsert")] == missed
