"""Simulator → relay (the real app: upstream, pipeline, hub) → python-socketio clients.

Pairing, login and logout of an instance arrive, in order, in its tenant's room only, and the
same statuses are in Postgres. The management API drives Evolution as a panel would.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from relay.store import Status, Store
from simulator import Simulator
from tests.conftest import bearer
from tests.hub.conftest import Recorder, make_recorder
from tests.support import wait_healthy, wait_stored

from .conftest import API


async def connected(url: str, token: str) -> Recorder:
    recorder = make_recorder()
    await recorder.client.connect(url, auth={"token": token}, transports=["websocket"])
    await recorder.wait_count("instances.snapshot", 1)
    return recorder


def statuses(recorder: Recorder, name: str) -> list[str]:
    return [d["status"] for d in recorder.named("instance.status") if d["instanceName"] == name]


async def test_pairing_login_logout_reach_the_tenant_room(
    relay_url: str, sim: Simulator, store: Store, token: Callable[..., str]
) -> None:
    a, b = token("tenant-a"), token("tenant-b")
    client_a, client_b = await connected(relay_url, a), await connected(relay_url, b)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{relay_url}{API}/connect/e1", headers=bearer(a)) as reply:
                assert reply.status == 200, await reply.text()
            await client_a.wait(lambda r: "SCAN_QR_CODE" in statuses(r, "e1"), "SCAN_QR_CODE")
            qr = client_a.named("qrcode.updated")[0]
            assert qr["instance"] == "e1" and qr["data"]["qrcode"]["base64"].startswith("data:")
            assert "apikey" not in qr and isinstance(qr["seq"], int) and qr["receivedAt"]
            row = await store.get_instance("e1")
            assert row is not None and row.status is Status.SCAN_QR_CODE and row.qr_code

            async with http.post(f"{sim.base_url}/_sim/scan/e1") as reply:
                assert reply.status == 200
            await client_a.wait(lambda r: "WORKING" in statuses(r, "e1"), "WORKING")
            await wait_stored(store, "e1", Status.WORKING)

            async with http.post(f"{relay_url}{API}/logout/e1", headers=bearer(a)) as reply:
                assert reply.status == 200, await reply.text()
            await client_a.wait(lambda r: statuses(r, "e1")[-1:] == ["STOPPED"], "STOPPED")
            await wait_stored(store, "e1", Status.STOPPED)

        path = statuses(client_a, "e1")
        assert path.index("SCAN_QR_CODE") < path.index("WORKING") < len(path) - 1
        seqs = [data["seq"] for _, data in client_a.live()]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # Tenant B saw nothing of tenant A's instance; nobody saw an apikey.
        assert all(data.get("instance") != "e1" for _, data in client_b.live())
        assert all(data.get("instanceName") != "e1" for _, data in client_b.live())
        tokens = {i.token for i in sim.store.all()}
        for _, data in client_a.live() + client_b.live():
            assert "apikey" not in data and not tokens & set(map(str, data.values()))
    finally:
        await client_a.client.disconnect()
        await client_b.client.disconnect()


async def test_readiness_reports_the_upstream(relay_url: str) -> None:
    await wait_healthy(f"{relay_url}/readyz")
