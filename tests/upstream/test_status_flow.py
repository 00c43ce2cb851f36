"""Simulator → relay: statuses in Postgres, re-emitted events, for each row of the status table
in docs/live-events.md."""

from __future__ import annotations

import pytest

from relay.store import Status
from simulator import PresetInstance
from tests.support import eventually, wait_stored
from tests.upstream.conftest import MakeLive, both_upstream_paths


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_upstream_paths(metafunc)  # one multiplexed connection, and one per namespace


async def test_pairing_login_logout_written_and_broadcast(live_env: MakeLive) -> None:
    env = await live_env([PresetInstance("a1")], {"a1": "tenant-a"})
    await eventually(lambda: env.live.upstream.subscribed("a1") or env.sim.namespaces == set())

    await env.evolution.connect("a1")
    await eventually(lambda: env.hub.events("a1", "qrcode.updated"))
    row = await wait_stored(env.store, "a1", Status.SCAN_QR_CODE)
    assert row.qr_base64 is not None and row.qr_base64.startswith("data:image/png;base64,")
    qr_event = env.hub.events("a1", "qrcode.updated")[0]
    assert qr_event.tenant_id == "tenant-a"
    assert qr_event.payload["data"]["qrcode"]["base64"].startswith("data:image/png")
    assert qr_event.payload["receivedAt"].endswith("Z")

    await env.sim.scan("a1", wuid="5511999990000@s.whatsapp.net", profile_name="Ana")
    row = await wait_stored(env.store, "a1", Status.WORKING)
    assert (row.wuid, row.profile_name, row.qr_base64) == (
        "5511999990000@s.whatsapp.net", "Ana", None,
    )  # fmt: skip

    await env.evolution.logout("a1")
    await wait_stored(env.store, "a1", Status.STOPPED)
    statuses = [c.status for c in env.hub.changes if c.instance_name == "a1"]
    assert statuses[-3:] == [Status.SCAN_QR_CODE, Status.WORKING, Status.STOPPED]
    assert {p.tenant_id for p in env.hub.published} == {"tenant-a"}
    history = [c.status for c in await env.store.status_history("a1")]
    assert history[:3] == [Status.STOPPED, Status.WORKING, Status.SCAN_QR_CODE]
    env.assert_no_secrets()


async def test_final_close_codes(live_env: MakeLive) -> None:
    presets = [PresetInstance("f403", state="open"), PresetInstance("f401", state="open")]
    env = await live_env(presets, {"f403": "t", "f401": "t"}, initial=Status.WORKING)
    await eventually(lambda: env.live.upstream.subscribed("f403"))
    await eventually(lambda: env.live.upstream.subscribed("f401"))
    await env.sim.drop("f403", 403)
    await env.sim.drop("f401", 401)
    row = await wait_stored(env.store, "f403", Status.FAILED)
    assert row.status_reason == "closed (403)"
    row = await wait_stored(env.store, "f401", Status.STOPPED)
    assert row.status_reason == "logged out (401)"


async def test_qr_limit_refused_is_stopped(live_env: MakeLive) -> None:
    env = await live_env(
        [PresetInstance("q1")], {"q1": "t"}, config={"qr_limit": 2, "qr_interval": 0.05}
    )
    await env.evolution.connect("q1")
    row = await wait_stored(env.store, "q1", Status.STOPPED, reason_prefix="refused")
    assert row.qr_base64 is None
    # The QR-limit qrcode.updated (no QR in it) was re-emitted but wrote nothing.
    qr_events = env.hub.events("q1", "qrcode.updated")
    assert any("qrcode" not in p.payload["data"] for p in qr_events)


async def test_removal_on_evolution_removes_the_instance(live_env: MakeLive) -> None:
    """Deleted behind the relay's back: the row goes and the tenant hears instance.removed."""
    env = await live_env([PresetInstance("r1", state="open")], {"r1": "t"})
    await wait_stored(env.store, "r1", Status.WORKING)
    await env.evolution.delete("r1")
    await eventually(lambda: env.hub.events("r1", "instance.removed"))
    assert await env.store.get_instance("r1") is None
    removed = env.hub.events("r1", "instance.removed")
    assert [p.payload["reason"] for p in removed] == ["removed upstream"]
    assert [c.status for c in env.hub.changes if c.instance_name == "r1"][-1:] != [Status.FAILED]
