"""Interop with Node's official socket.io-client (tests/package.json, ``npm ci --prefix tests``).

Without ``tests/node_modules`` these tests skip locally and fail under CI (``CI=true``), so the
interop check cannot silently vanish from ``make test``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from ..conftest import REPO
from .conftest import DEADLINE, Relay

pytestmark = pytest.mark.node

CLIENT = REPO / "tests" / "node" / "client.mjs"
MODULES = REPO / "tests" / "node_modules" / "socket.io-client"
LINE_LIMIT = 4 * 1024 * 1024  # the client prints each event as one JSON line


def require_node() -> str:
    node = shutil.which("node")
    missing = None if node else "node is not installed"
    if missing is None and not MODULES.is_dir():
        missing = "tests/node_modules is missing: run `npm ci --prefix tests`"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


class NodeClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for line in self.lines:
            if predicate(line):
                return line
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), DEADLINE)
            if not raw:
                raise AssertionError(f"node client exited; saw {self.lines!r}")
            line = json.loads(raw)
            self.lines.append(line)
            if predicate(line):
                return line

    def events(self, name: str) -> list[Any]:
        return [ln["data"] for ln in self.lines if ln["type"] == "event" and ln["name"] == name]


NodeFactory = Callable[..., Awaitable[NodeClient]]


@pytest.fixture
async def node_client(relay_app: Relay) -> AsyncIterator[NodeFactory]:
    node = require_node()
    made: list[NodeClient] = []

    async def make(
        auth: dict[str, Any],
        subscribe: dict[str, Any] | None = None,
        transports: list[str] | None = None,
    ) -> NodeClient:
        config = json.dumps(
            {"url": relay_app.url, "auth": auth, "subscribe": subscribe, "transports": transports}
        )
        process = await asyncio.create_subprocess_exec(
            node, str(CLIENT), config, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=str(CLIENT.parent), limit=LINE_LIMIT,
        )  # fmt: skip
        client = NodeClient(process)
        made.append(client)
        return client

    yield make
    for client in made:
        assert client.process.stdin is not None
        client.process.stdin.close()
        try:
            await asyncio.wait_for(client.process.wait(), DEADLINE)
        except TimeoutError:
            client.process.kill()
            await client.process.wait()


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
        await poll_until(lambda: any(s.sock.upgraded for s in fanout._sinks.values()))
    sent = []
    for size in (1, 20_000, 70_000, 1, 1):
        payload = {"text": 'ç ✓ "q"' * size}
        sent.append({**payload, "seq": await relay_app.hub.publish("acme", "acme-1", "m", payload)})
        await asyncio.sleep(0)
    await client.until(lambda line: is_event("m")(line) and line["data"]["seq"] == sent[-1]["seq"])
    assert client.events("m") == sent
    sinks = list(fanout._sinks.values())
    assert [sink.direct for sink in sinks] == ([] if transport == "polling" else [True])


async def poll_until(predicate: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


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
