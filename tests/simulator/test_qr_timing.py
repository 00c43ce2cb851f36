"""Baileys' QR timing behind connect, restart and create (docs/upstream.md §3.2, §7.2, §9)."""

from __future__ import annotations

from tests.simulator.conftest import MakeSim, eventually

QR_KEYS = ["pairingCode", "code", "base64", "count"]


async def test_connect_returns_the_first_qr_ready_within_the_wait(make_sim: MakeSim) -> None:
    """§3.2: connect on a closed instance answers with the QR object when the first QR is
    ready within ``connect_wait`` (the wait ends as soon as it is)."""
    running = await make_sim(connect_wait=10.0, first_qr_delay=0.01)
    await running.create("inst1")
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert status == 200
    assert list(body) == QR_KEYS
    assert body["count"] == 1
    assert body["code"] == running.sim.store.instances["inst1"].qr.code


async def test_connect_answers_count_zero_when_the_qr_is_late(make_sim: MakeSim) -> None:
    """§3.2: with the first QR further away than the wait, the answer is ``{"count": 0}``
    and the instance is connecting."""
    running = await make_sim(connect_wait=0.05, first_qr_delay=60.0)
    await running.create("inst1")
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (status, body) == (200, {"count": 0})
    _, state, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert state["instance"]["state"] == "connecting"


async def test_connect_wait_ends_when_the_instance_opens(make_sim: MakeSim) -> None:
    """A connect with a stored session: the wait ends at ``open`` (no QR ever comes), and
    the answer is the empty QR object."""
    running = await make_sim(connect_wait=10.0, reconnect_delay=0.01, autoconnect_on_restart=False)
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await running.sim.scan("inst1")
    await running.sim.restart()
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (status, body) == (200, {"count": 0})
    assert running.sim.store.instances["inst1"].state == "open"


async def test_restart_of_a_pairing_instance_answers_like_connect(make_sim: MakeSim) -> None:
    """§3.3: restart of a connecting instance starts a new QR cycle and answers with its
    first QR when it is ready within the wait."""
    running = await make_sim(connect_wait=10.0, first_qr_delay=0.01)
    await running.create("inst1")
    _, first, _ = await running.call("GET", "/instance/connect/inst1")
    status, body, _ = await running.call("POST", "/instance/restart/inst1")
    assert status == 200
    assert list(body) == QR_KEYS
    assert body["count"] == 1
    assert body["code"] != first["code"]


async def test_first_qr_lives_longer_than_the_next_ones(make_sim: MakeSim) -> None:
    """§7.2, §9: the first QR is replaced after ``qr_first_ttl``, the later ones after
    ``qr_interval``: a short first TTL and a long interval give exactly a second QR."""
    running = await make_sim(first_qr_delay=0.01, qr_first_ttl=0.01, qr_interval=60.0)
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: running.sim.store.instances["inst1"].qr.count == 2)
    qrs = [e for e in running.sim.machine.emitted if e.event == "qrcode.updated"]
    assert len(qrs) == 2


async def test_create_with_qrcode_waits_for_the_first_qr(make_sim: MakeSim) -> None:
    """§3.1: ``qrcode: true`` answers with the first QR once it is ready within the wait."""
    running = await make_sim(connect_wait=10.0, first_qr_delay=0.01)
    body = await running.create("inst1", qrcode=True)
    assert list(body["qrcode"]) == QR_KEYS
    assert body["qrcode"]["count"] == 1
