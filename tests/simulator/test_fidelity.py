"""Fidelity: what the simulator emits and answers has the shape of the real samples in
``tests/fixtures/evolution/`` (docs/upstream.md §1, §3, §5, §6.5, §7). Missing samples fail."""

from __future__ import annotations

import json
from typing import Any

from simulator import PresetInstance, Simulator
from simulator.load import message_data, sent_at_ms
from tests.simulator.conftest import MakeSim, Running, eventually, sample
from tests.simulator.shapes import assert_same_shape


def last(sim: Simulator, event: str, **data: Any) -> dict[str, Any]:
    for emitted in reversed(sim.machine.emitted):
        payload = emitted.payload
        if emitted.event == event and all(
            isinstance(payload["data"], dict) and payload["data"].get(k) == v
            for k, v in data.items()
        ):
            return payload
    raise AssertionError(f"no {event} {data} emitted")


async def test_connection_update_connecting(running: Running) -> None:
    """§6.5, §7.1: connecting envelope (no ``sender`` yet) matches the live sample."""
    ref = sample("socketio-connection-update-connecting.json")
    await running.create("inst1", token="inst1-token")
    await running.call("GET", "/instance/connect/inst1")
    ours = last(running.sim, "connection.update", state="connecting")
    assert_same_shape(ours, ref["payload"])
    assert "sender" not in ours


async def test_qrcode_updated_and_open(running: Running) -> None:
    """§7.1, §7.2: qrcode.updated and connection.update open match their samples."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: any(e.event == "qrcode.updated" for e in running.sim.machine.emitted))
    qr_ref = sample("socketio-qrcode-updated.json")
    assert_same_shape(last(running.sim, "qrcode.updated"), qr_ref["payload"])
    await running.sim.scan("inst1")
    open_ref = sample("socketio-connection-update-open.json")
    assert_same_shape(last(running.sim, "connection.update", state="open"), open_ref["payload"])


async def test_close_and_refused_variants(make_sim: MakeSim) -> None:
    """§7.1, §7.2: close 401, refused 428 and the QR-limit data match the sample variants."""
    running = await make_sim([PresetInstance("inst1", state="open")], qr_limit=1)
    variants = sample("socketio-connection-update-open.json")["other_variants_of_data"]
    close_ref, refused_ref = (v for k, v in variants.items() if not k.startswith("_"))
    await running.sim.drop("inst1", 401)
    assert_same_shape(last(running.sim, "connection.update", state="close")["data"], close_ref)
    await running.create("inst2")
    await running.call("GET", "/instance/connect/inst2")
    await eventually(lambda: running.sim.store.instances["inst2"].state == "close")
    assert_same_shape(last(running.sim, "connection.update", state="refused")["data"], refused_ref)
    limit_ref = sample("socketio-qrcode-updated.json")["qr_limit_variant_of_data"]
    assert_same_shape(last(running.sim, "qrcode.updated", statusCode=500)["data"], limit_ref)


async def test_delete_logout_status_envelopes(make_sim: MakeSim) -> None:
    """§3.5, §7.3: instance.delete, remove.instance, logout.instance, status.instance."""
    ref = sample("socketio-remove-and-delete.json")
    running = await make_sim([PresetInstance("inst1", state="open")])
    await running.create("inst3")
    await running.call("DELETE", "/instance/delete/inst3")
    await running.call("DELETE", "/instance/logout/inst1")
    await eventually(lambda: running.sim.store.instances["inst1"].state == "close")
    await eventually(lambda: any(e.event == "remove.instance" for e in running.sim.machine.emitted))
    by_event = {
        e.event + ":" + e.payload["instance"]: e.payload for e in running.sim.machine.emitted
    }
    delete_ref, remove_ref = (e["payload"] for e in ref["events_in_order"])
    assert_same_shape(by_event["instance.delete:inst3"], delete_ref)
    assert_same_shape(by_event["remove.instance:inst3"], remove_ref)
    assert by_event["remove.instance:inst3"]["data"] is None
    assert_same_shape(by_event["logout.instance:inst1"], ref["logout_instance_payload_from_source"])
    assert by_event["logout.instance:inst1"]["data"] is None
    assert_same_shape(by_event["status.instance:inst1"], ref["status_instance_payload_from_source"])


async def test_messages_upsert(make_sim: MakeSim) -> None:
    """§7.4: generated messages.upsert envelopes match the sample; the send time is
    readable with ``sent_at_ms``."""
    ref = sample("socketio-messages-upsert.json")
    running = await make_sim([PresetInstance("inst1", state="open")], event_rate=200.0)
    ours = await eventually(
        lambda: next(
            (e.payload for e in running.sim.machine.emitted if e.event == "messages.upsert"), None
        )
    )
    assert_same_shape(ours, ref["payload"])
    sent = sent_at_ms(ours["data"])
    assert sent is not None
    assert abs(sent / 1000 - ours["data"]["messageTimestamp"]) < 1.5


async def test_payload_padding(make_sim: MakeSim) -> None:
    """Load option: ``payload_bytes`` pads the message text; the shape stays the real one."""
    running = await make_sim(
        [PresetInstance("inst1", state="open")], event_rate=200.0, payload_bytes=4000
    )
    ours = await eventually(
        lambda: next(
            (e.payload for e in running.sim.machine.emitted if e.event == "messages.upsert"), None
        )
    )
    assert 3500 < len(json.dumps(ours)) < 4500
    assert set(message_data(running.sim.store.instances["inst1"], 1, "")) == set(ours["data"])
