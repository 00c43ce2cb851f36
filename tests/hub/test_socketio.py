"""The Socket.IO hub with real python-socketio clients on a loopback port, real Postgres."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import socketio

from relay.store import QrCode, Status, StatusChange
from tests.support import eventually

from ..conftest import bearer
from .conftest import Relay, SioFactory, make_recorder


# Every behaviour here holds on both fan-outs: the direct one (tested library versions) and
# python-socketio's stock one (any other version; relay.internals picks one at start-up).
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "relay_app" in metafunc.fixturenames:
        metafunc.parametrize("relay_app", ["fast", "stock"], indirect=True)


def names(recorder_events: list[tuple[str, dict]]) -> list[str]:
    return [name for name, _ in recorder_events]


async def test_token_in_auth_header_or_query_is_accepted(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    await relay_app.instance("acme", "acme-1")
    by_auth = await sio_client(token("acme"))
    by_header = await sio_client(headers=bearer(token("acme")))
    by_query = await sio_client(query=f"?token={token('acme')}")
    for recorder in (by_auth, by_header, by_query):
        (snapshot,) = recorder.named("instances.snapshot")
        assert [i["instanceName"] for i in snapshot["instances"]] == ["acme-1"]


@pytest.mark.parametrize("auth", [None, {"token": "not-a-jwt"}, {"token": ""}])
async def test_bad_or_missing_token_gets_connect_error_unauthorized(
    relay_app: Relay, auth: dict[str, str] | None
) -> None:
    recorder = make_recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await recorder.client.connect(relay_app.url, auth=auth, transports=["websocket"],
                                      wait_timeout=5)  # fmt: skip
    assert recorder.connect_errors == [{"message": "unauthorized"}]
    assert not recorder.client.connected


async def test_expired_token_is_refused(relay_app: Relay, token: Callable[..., str]) -> None:
    recorder = make_recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await recorder.client.connect(relay_app.url, auth={"token": token("acme", ttl=-120)},
                                      transports=["websocket"], wait_timeout=5)  # fmt: skip
    assert recorder.connect_errors == [{"message": "unauthorized"}]


async def test_snapshot_holds_only_the_tenants_instances_with_qr_and_seq(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    await relay_app.instance("acme", "acme-1")
    await relay_app.instance("acme", "acme-2")
    await relay_app.instance("globex", "globex-1")
    qr = QrCode(base64="data:image/png;base64,AAA", code="2@x")
    await relay_app.store.update_status("acme-2", Status.SCAN_QR_CODE, "qr", qrcode=qr)
    seq = await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"data": {}})
    acme = await sio_client(token("acme"))
    (snapshot,) = acme.named("instances.snapshot")
    assert snapshot["seq"] == seq
    assert snapshot["recovered"] is True
    by_name = {i["instanceName"]: i for i in snapshot["instances"]}
    assert set(by_name) == {"acme-1", "acme-2"}
    assert by_name["acme-1"]["qrcode"] is None
    assert by_name["acme-2"]["status"] == "SCAN_QR_CODE"
    assert by_name["acme-2"]["qrcode"]["base64"] == "data:image/png;base64,AAA"
    assert by_name["acme-2"]["qrcode"]["code"] == "2@x"
    datetime.fromisoformat(by_name["acme-2"]["updatedAt"])
    assert by_name["acme-2"]["statusReason"] == "qr"
    datetime.fromisoformat(by_name["acme-2"]["statusAt"])
    assert by_name["acme-2"]["profileName"] is None and by_name["acme-2"]["wuid"] is None
    superadmin = await sio_client(token(None, "SUPERADMIN"))
    (everything,) = superadmin.named("instances.snapshot")
    assert {i["instanceName"] for i in everything["instances"]} == {"acme-1", "acme-2", "globex-1"}
    assert everything["seq"]["acme"] == seq


async def test_events_reach_only_their_tenants_room_and_superadmin(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    acme = await sio_client(token("acme"))
    acme_user = await sio_client(token("acme", "USER", user="u2"))
    globex = await sio_client(token("globex"))
    superadmin = await sio_client(token(None, "SUPERADMIN"))
    envelope = {"event": "qrcode.updated", "instance": "acme-1", "data": {"qrcode": {}}}
    seq = await relay_app.hub.publish("acme", "acme-1", "qrcode.updated", envelope)
    other = await relay_app.hub.publish("globex", "globex-1", "messages.upsert", {"data": 1})
    for recorder in (acme, acme_user, superadmin):
        await recorder.wait_count("qrcode.updated", 1)
        assert recorder.named("qrcode.updated") == [{**envelope, "seq": seq}]
    await superadmin.wait_count("messages.upsert", 1)
    await globex.wait_count("messages.upsert", 1)
    assert globex.named("messages.upsert") == [{"data": 1, "seq": other}]
    assert globex.named("qrcode.updated") == []
    assert acme.named("messages.upsert") == []


async def test_status_changed_is_broadcast_as_instance_status(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    acme = await sio_client(token("acme"))
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    change = StatusChange(instance_name="acme-1", tenant_id="acme", status=Status.WORKING,
                          previous_status=Status.SCAN_QR_CODE, reason="open", at=at)  # fmt: skip
    seq = await relay_app.hub.status_changed(change)
    await acme.wait_count("instance.status", 1)
    assert acme.named("instance.status") == [{
        "instanceName": "acme-1", "tenantId": "acme", "status": "WORKING",
        "previousStatus": "SCAN_QR_CODE", "reason": "open", "at": "2025-01-02T03:04:05+00:00",
        "server": "default", "seq": seq,
    }]  # fmt: skip


async def test_subscribe_narrows_to_chosen_instances_and_is_authorized(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    await relay_app.instance("acme", "acme-1")
    await relay_app.instance("acme", "acme-2")
    await relay_app.instance("globex", "globex-1")
    acme = await sio_client(token("acme"))
    call = acme.client.call
    assert await call("subscribe", {"instanceName": "globex-1"}) == {
        "ok": False, "error": "not found"}  # fmt: skip
    assert await call("subscribe", {"instanceName": "nope"}) == {"ok": False, "error": "not found"}
    assert (await call("subscribe", {"tenantId": "globex"}))["ok"] is False
    assert (await call("subscribe", {}))["ok"] is False
    assert await call("subscribe", {"instanceName": "acme-2"}) == {"ok": True}
    await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"n": 1})
    await relay_app.hub.publish("acme", "acme-2", "messages.upsert", {"n": 2})
    await acme.wait_count("messages.upsert", 1)
    assert [e["n"] for e in acme.named("messages.upsert")] == [2]
    assert await call("unsubscribe", {"instanceName": "acme-2"}) == {"ok": True}
    await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"n": 3})
    await relay_app.hub.publish("acme", "acme-2", "messages.upsert", {"n": 4})
    await acme.wait_count("messages.upsert", 3)
    assert [e["n"] for e in acme.named("messages.upsert")] == [2, 3, 4]


async def test_superadmin_narrows_by_tenant(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    superadmin = await sio_client(token(None, "SUPERADMIN"))
    assert await superadmin.client.call("subscribe", {"tenantId": "globex"}) == {"ok": True}
    await relay_app.hub.publish("acme", "acme-1", "messages.upsert", {"n": 1})
    await relay_app.hub.publish("globex", "globex-1", "messages.upsert", {"n": 2})
    await superadmin.wait_count("messages.upsert", 1)
    assert [e["n"] for e in superadmin.named("messages.upsert")] == [2]


async def test_resume_replays_exactly_the_missed_events_in_order(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    hub = relay_app.hub
    first = await sio_client(token("acme"))
    seen = [await hub.publish("acme", "acme-1", "messages.upsert", {"n": n}) for n in range(3)]
    await first.wait_count("messages.upsert", 3)
    await first.client.disconnect()
    missed = [await hub.publish("acme", "acme-1", "messages.upsert", {"n": n}) for n in range(5)]
    await hub.publish("globex", "globex-1", "messages.upsert", {"n": 99})
    resumed = await sio_client(token("acme"), last_seq=seen[-1])
    live = await hub.publish("acme", "acme-1", "connection.update", {"state": "open"})
    await resumed.wait_count("connection.update", 1)
    assert [data["seq"] for _, data in resumed.live()] == [*missed, live]
    names_in_order = names(resumed.events)
    assert names_in_order.index("instances.snapshot") == len(missed)  # missed ones come first
    (snapshot,) = resumed.named("instances.snapshot")
    assert snapshot["recovered"] is True
    assert snapshot["seq"] == missed[-1]


async def test_resume_beyond_history_gets_snapshot_not_recovered(
    aiohttp_server: object, make_settings: Callable[..., object], token: Callable[..., str]
) -> None:
    from relay.app import create_app
    from relay.appkeys import HUB

    from .conftest import Recorder

    app = create_app(make_settings(history_size=3))  # type: ignore[arg-type]
    server = await aiohttp_server(app)  # type: ignore[operator]
    hub = app[HUB]
    start = await hub.publish("acme", "acme-1", "messages.upsert", {"n": 0})
    for n in range(5):
        await hub.publish("acme", "acme-1", "messages.upsert", {"n": n + 1})
    recorder: Recorder = make_recorder()
    await recorder.client.connect(str(server.make_url("")), auth={"token": token("acme"),
                                  "lastSeq": start}, transports=["websocket"])  # fmt: skip
    try:
        await recorder.wait_count("instances.snapshot", 1)
        (snapshot,) = recorder.named("instances.snapshot")
        assert snapshot["recovered"] is False
        assert snapshot["seq"] == start + 5
        assert recorder.live() == []
        # a lastSeq from the future (e.g. a previous run of the relay) is a gap too
        future = make_recorder()
        await future.client.connect(str(server.make_url("")), auth={"token": token("acme"),
                                    "lastSeq": start + 1000}, transports=["websocket"])  # fmt: skip
        await future.wait_count("instances.snapshot", 1)
        assert future.named("instances.snapshot")[0]["recovered"] is False
        await future.client.disconnect()
    finally:
        await recorder.client.disconnect()


async def test_disconnect_updates_client_gauge(
    relay_app: Relay, sio_client: SioFactory, token: Callable[..., str]
) -> None:
    gauge = relay_app.metrics.clients.labels("socketio")
    recorder = await sio_client(token("acme"))
    assert gauge._value.get() == 1
    await recorder.client.disconnect()
    await eventually(lambda: gauge._value.get() == 0, what="the gauge back at 0")
    assert await relay_app.hub.publish("acme", "acme-1", "x", {}) > 0
