"""Simulator → relay → Node's official socket.io-client: the same lifecycle a browser sees."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from relay.store import Status, Store
from simulator import Simulator
from tests.conftest import bearer
from tests.nodeclient import NodeClient, NodeFactory, node_clients
from tests.support import wait_stored

from .conftest import API

pytestmark = pytest.mark.node


def is_status(name: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: (
        line["type"] == "event"
        and line["name"] == "instance.status"
        and line["data"]["instanceName"] == name
        and line["data"]["status"] == status
    )


@pytest.fixture
async def node_client(relay_url: str) -> AsyncIterator[NodeFactory]:
    async with node_clients(relay_url) as make:
        yield make


async def connected(make: NodeFactory, token: str) -> NodeClient:
    client = await make({"token": token})
    await client.until(lambda ln: ln["type"] == "event" and ln["name"] == "instances.snapshot")
    return client


async def test_node_client_follows_pairing_login_and_logout(
    relay_url: str,
    sim: Simulator,
    store: Store,
    token: Callable[..., str],
    node_client: NodeFactory,
) -> None:
    a = token("tenant-a")
    client_a = await connected(node_client, a)
    client_b = await connected(node_client, token("tenant-b"))
    snapshot = client_a.events("instances.snapshot")[0]
    assert [i["instanceName"] for i in snapshot["instances"]] == ["e1"]

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{relay_url}{API}/connect/e1", headers=bearer(a)) as reply:
            assert reply.status == 200, await reply.text()
        await client_a.until(is_status("e1", "SCAN_QR_CODE"))
        qr = (await client_a.until(lambda ln: ln.get("name") == "qrcode.updated"))["data"]
        assert qr["instance"] == "e1" and qr["data"]["qrcode"]["base64"].startswith("data:image")
        assert "apikey" not in qr and qr["receivedAt"]

        async with http.post(f"{sim.base_url}/_sim/scan/e1") as reply:
            assert reply.status == 200
        working = (await client_a.until(is_status("e1", "WORKING")))["data"]
        assert working["tenantId"] == "tenant-a"
        await wait_stored(store, "e1", Status.WORKING)

        async with http.post(f"{relay_url}{API}/logout/e1", headers=bearer(a)) as reply:
            assert reply.status == 200, await reply.text()
        await client_a.until(is_status("e1", "STOPPED"))
        await wait_stored(store, "e1", Status.STOPPED)

    seqs = [ln["data"]["seq"] for ln in client_a.lines
            if ln["type"] == "event" and ln["name"] != "instances.snapshot"]  # fmt: skip
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Tenant B's client saw none of it.
    seen_by_b = [ln["data"] for ln in client_b.lines if ln["type"] == "event"]
    assert all("e1" not in json.dumps(data) for data in seen_by_b)
