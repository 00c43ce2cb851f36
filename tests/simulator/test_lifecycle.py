"""The instance state machine and the events it emits (docs/upstream.md §3.2–§3.5, §6.5, §7–§9)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import PresetInstance, Simulator
from tests.simulator.conftest import MakeSim, Running, eventually

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def seen(sim: Simulator, name: str) -> list[tuple[str, Any]]:
    return [
        (e.event, e.payload["data"]) for e in sim.machine.emitted if e.payload["instance"] == name
    ]


def names(sim: Simulator, name: str) -> list[str]:
    return [event for event, _ in seen(sim, name)]


def qr_events(sim: Simulator, name: str) -> list[dict[str, Any]]:
    return [d for e, d in seen(sim, name) if e == "qrcode.updated" and "qrcode" in d]


async def test_connect_emits_connecting_then_fresh_qrs(running: Running) -> None:
    """§3.2, §7.2, §9: connecting, then a qrcode.updated every interval with a new code and
    a real PNG data URL; the stored status becomes connecting at the first QR (§3.6)."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: len(qr_events(running.sim, "inst1")) >= 2)
    first, second = qr_events(running.sim, "inst1")[:2]
    assert seen(running.sim, "inst1")[1] == (
        "connection.update",
        {"instance": "inst1", "state": "connecting", "statusReason": 200},
    )
    assert first["qrcode"]["code"] != second["qrcode"]["code"]
    url = first["qrcode"]["base64"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]).startswith(PNG_MAGIC)
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert rows[0]["connectionStatus"] == "connecting"


async def test_scan_opens_with_wuid_and_sender(running: Running) -> None:
    """§7.1 login complete / §9: POST /_sim/scan → connection.update open with wuid and
    profileName; later envelopes carry ``sender``; fetchInstances shows open and ownerJid."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    status, _, _ = await running.call(
        "POST", "/_sim/scan/inst1", json_body={"wuid": "5511999999999@s.whatsapp.net"}
    )
    assert status == 200
    opened = running.sim.machine.emitted[-1].payload
    assert opened["data"]["state"] == "open"
    assert opened["data"]["wuid"] == "5511999999999@s.whatsapp.net"
    assert opened["sender"] == "5511999999999@s.whatsapp.net"
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert rows[0]["connectionStatus"] == "open"
    assert rows[0]["ownerJid"] == "5511999999999@s.whatsapp.net"
    assert rows[0]["profileName"]


async def test_scan_requires_connecting(running: Running) -> None:
    """Control contract: scanning an instance that shows no QR is refused (409), unknown 404."""
    await running.create("inst1")
    status, _, _ = await running.call("POST", "/_sim/scan/inst1")
    assert status == 409
    status, _, _ = await running.call("POST", "/_sim/scan/nope")
    assert status == 404


async def test_drop_401_is_final_close(make_sim: MakeSim) -> None:
    """§7.1 / §7.3: a 401 close emits status.instance then connection.update close 401."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    status, _, _ = await running.call("POST", "/_sim/drop/inst1", params={"code": "401"})
    assert status == 200
    assert names(running.sim, "inst1")[-2:] == ["status.instance", "connection.update"]
    status_data = seen(running.sim, "inst1")[-2][1]
    assert status_data["disconnectionReasonCode"] == 401
    assert seen(running.sim, "inst1")[-1][1] == {
        "instance": "inst1",
        "state": "close",
        "statusReason": 401,
    }
    assert running.sim.store.instances["inst1"].state == "close"


async def test_transient_drop_reconnects_silently(make_sim: MakeSim) -> None:
    """§7.1: any other close code emits no close, only the next connecting, then open again
    when a session is stored."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    await running.sim.drop("inst1", 408)
    await eventually(lambda: running.sim.store.instances["inst1"].state == "open")
    tail = seen(running.sim, "inst1")[-2:]
    assert [(e, d["state"]) for e, d in tail] == [
        ("connection.update", "connecting"),
        ("connection.update", "open"),
    ]


async def test_qr_limit_refuses_then_closes(make_sim: MakeSim) -> None:
    """§3.2, §7.1, §7.2: after QRCODE_LIMIT QRs, the limit variant, refused 428, state close."""
    running = await make_sim(qr_limit=3, qr_interval=0.01)
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: running.sim.store.instances["inst1"].state == "close")
    events = seen(running.sim, "inst1")
    assert len(qr_events(running.sim, "inst1")) == 3
    assert events[-2] == (
        "qrcode.updated",
        {"message": "QR code limit reached, please login again", "statusCode": 500},
    )
    assert events[-1] == (
        "connection.update",
        {"instance": "inst1", "state": "refused", "statusReason": 428},
    )
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert rows[0]["connectionStatus"] == "close"


async def test_logout_events(make_sim: MakeSim) -> None:
    """§3.4, §9: logout → 200, then logout.instance (null), status.instance, close 401."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    status, _, _ = await running.call("DELETE", "/instance/logout/inst1")
    assert status == 200
    await eventually(lambda: running.sim.store.instances["inst1"].state == "close")
    tail = seen(running.sim, "inst1")[-3:]
    assert [e for e, _ in tail] == ["logout.instance", "status.instance", "connection.update"]
    assert tail[0][1] is None
    assert tail[2][1]["statusReason"] == 401
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert rows[0]["connectionStatus"] == "close"


async def test_delete_of_open_instance_logs_out_first(make_sim: MakeSim) -> None:
    """§3.5, §9: delete of an open instance: logout events, instance.delete, remove.instance."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    instance_id = running.sim.store.instances["inst1"].id
    await running.call("DELETE", "/instance/delete/inst1")
    await eventually(lambda: "remove.instance" in names(running.sim, "inst1"))
    assert names(running.sim, "inst1")[-5:] == [
        "logout.instance",
        "status.instance",
        "connection.update",
        "instance.delete",
        "remove.instance",
    ]
    assert seen(running.sim, "inst1")[-2][1] == {"instanceName": "inst1", "instanceId": instance_id}
    assert seen(running.sim, "inst1")[-1][1] is None


async def test_restart_open_reconnects_to_open(make_sim: MakeSim) -> None:
    """§3.3, §9: restart of an open instance: connecting, then open again (stored session)."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    status, _, _ = await running.call("POST", "/instance/restart/inst1")
    assert status == 200
    await eventually(lambda: running.sim.store.instances["inst1"].state == "open")
    assert [d["state"] for _, d in seen(running.sim, "inst1")[-2:]] == ["connecting", "open"]


async def test_restart_connecting_restarts_qr_cycle(running: Running) -> None:
    """§3.3: restart of a pairing instance goes back to connecting and new QRs."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: qr_events(running.sim, "inst1"))
    before = len(qr_events(running.sim, "inst1"))
    await running.call("POST", "/instance/restart/inst1")
    await eventually(lambda: len(qr_events(running.sim, "inst1")) > before)
    assert running.sim.store.instances["inst1"].state == "connecting"


async def test_presets_start_in_their_states(make_sim: MakeSim) -> None:
    """Demo contract: presets start pairing, open (WORKING) and closed (docs/upstream.md §8)."""
    running = await make_sim(
        [
            PresetInstance("pairing", state="connecting"),
            PresetInstance("working", state="open", profile_name="Loja"),
            PresetInstance("stopped", state="close"),
        ]
    )
    store = running.sim.store.instances
    assert [store[n].state for n in ("pairing", "working", "stopped")] == [
        "connecting",
        "open",
        "close",
    ]
    assert store["working"].profile_name == "Loja"
    await eventually(lambda: qr_events(running.sim, "pairing"))


async def test_simulator_restart_autoconnects(make_sim: MakeSim) -> None:
    """§8: at server start every stored instance auto-connects: a stored session goes
    back to open, the others start producing QRs."""
    running = await make_sim(
        [PresetInstance("working", state="open"), PresetInstance("stopped", state="close")]
    )
    await running.sim.restart()
    await eventually(lambda: running.sim.store.instances["working"].state == "open")
    await eventually(lambda: qr_events(running.sim, "stopped"))


async def test_simulator_restart_without_autoconnect(make_sim: MakeSim) -> None:
    """§8 (option off): after a restart the in-memory state is close and nothing is emitted."""
    running = await make_sim(
        [PresetInstance("working", state="open")], autoconnect_on_restart=False
    )
    count = len(running.sim.machine.emitted)
    await running.sim.restart()
    assert running.sim.store.instances["working"].state == "close"
    assert len(running.sim.machine.emitted) == count
    _, body, _ = await running.call("GET", "/instance/connect/working")
    assert body == {"count": 0}
    await eventually(lambda: running.sim.store.instances["working"].state == "open")


async def test_date_time_is_local_with_fake_z(make_sim: MakeSim) -> None:
    """§6.5: date_time is the server's local wall-clock with a fake ``Z`` (UTC-3 here)."""
    running = await make_sim(tz_offset=timedelta(hours=-3))
    await running.create("inst1")
    stamp = running.sim.machine.emitted[-1].payload["date_time"]
    assert stamp.endswith("Z")
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(parsed - (datetime.now(UTC) - timedelta(hours=3))) < timedelta(seconds=5)


async def test_apikey_in_envelope_follows_expose_option(make_sim: MakeSim) -> None:
    """§2, §6.2: envelopes carry the instance token, or null when not exposed."""
    exposed = await make_sim()
    await exposed.create("inst1", token="tok1")
    assert exposed.sim.machine.emitted[-1].payload["apikey"] == "tok1"
    hidden = await make_sim(expose_token=False)
    await hidden.create("inst1", token="tok1")
    assert hidden.sim.machine.emitted[-1].payload["apikey"] is None
