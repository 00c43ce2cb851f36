"""The simulator's ``/instance/*`` routes against docs/upstream.md §1–§3."""

from __future__ import annotations

import uuid

from simulator import PresetInstance
from tests.simulator.conftest import KEY, MakeSim, Running, eventually

UNAUTHORIZED = {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}


def missing(name: str) -> dict[str, object]:
    return {
        "status": 404,
        "error": "Not Found",
        "response": {"message": [f'The "{name}" instance does not exist']},
    }


async def test_unknown_instance_is_404_before_auth(running: Running) -> None:
    """§2 guard order / §3: an unknown name gives 404 with no key, a wrong key or the right key."""
    routes = [
        ("GET", "/instance/connect/nope"),
        ("GET", "/instance/connectionState/nope"),
        ("POST", "/instance/restart/nope"),
        ("DELETE", "/instance/logout/nope"),
        ("DELETE", "/instance/delete/nope"),
        ("POST", "/websocket/set/nope"),
        ("GET", "/websocket/find/nope"),
        ("POST", "/webhook/set/nope"),
        ("GET", "/webhook/find/nope"),
    ]
    for method, path in routes:
        for key in (None, "wrong", KEY):
            status, body, _ = await running.call(method, path, key=key)
            assert (status, body) == (404, missing("nope")), (method, path, key)


async def test_create_taken_name_is_403_before_auth(running: Running) -> None:
    """§2 guard order / §3.1: create with a taken name is 403 even without a key."""
    await running.create("inst1")
    for key in (None, "wrong", KEY):
        status, body, _ = await running.call(
            "POST",
            "/instance/create",
            key=key,
            json_body={"instanceName": "inst1", "integration": "WHATSAPP-BAILEYS"},
        )
        assert status == 403
        assert body == {
            "status": 403,
            "error": "Forbidden",
            "response": {"message": ['This name "inst1" is already in use.']},
        }


async def test_missing_or_wrong_key_is_401(running: Running) -> None:
    """§2: a missing header or a wrong key gives the 401 envelope with a string message."""
    await running.create("inst1")
    for key in (None, "wrong"):
        for method, path in [
            ("GET", "/instance/connectionState/inst1"),
            ("GET", "/instance/fetchInstances"),
            ("POST", "/instance/create"),
        ]:
            status, body, _ = await running.call(method, path, key=key)
            assert (status, body) == (401, UNAUTHORIZED), (method, path, key)


async def test_query_apikey_is_not_accepted_on_rest(running: Running) -> None:
    """§2: a query-string apikey is not accepted on the REST API."""
    await running.create("inst1")
    status, _, _ = await running.call(
        "GET", "/instance/connectionState/inst1", key=None, params={"apikey": KEY}
    )
    assert status == 401


async def test_instance_token_scope(running: Running) -> None:
    """§2: a token works on its own instance's routes and filters fetchInstances; create
    needs the global key."""
    await running.create("inst1", token="tok1")
    await running.create("inst2", token="tok2")
    status, _, _ = await running.call("GET", "/instance/connectionState/inst1", key="tok1")
    assert status == 200
    status, _, _ = await running.call("GET", "/instance/connectionState/inst2", key="tok1")
    assert status == 401
    status, rows, _ = await running.call("GET", "/instance/fetchInstances", key="tok1")
    assert status == 200
    assert [r["name"] for r in rows] == ["inst1"]
    status, _, _ = await running.call(
        "POST",
        "/instance/create",
        key="tok1",
        json_body={"instanceName": "inst3", "integration": "WHATSAPP-BAILEYS"},
    )
    assert status == 401


async def test_create_201_body(running: Running) -> None:
    """§3.1: 201 with instance/hash/webhook/websocket/rabbitmq/nats/sqs/settings; status close."""
    body = await running.create("inst1", token="inst1-token")
    assert list(body) == [
        "instance",
        "hash",
        "webhook",
        "websocket",
        "rabbitmq",
        "nats",
        "sqs",
        "settings",
    ]
    assert body["instance"]["status"] == "close"
    assert body["hash"] == "inst1-token"
    uuid.UUID(body["instance"]["instanceId"])
    assert body["webhook"] == body["websocket"] == {}


async def test_create_generated_token_is_upper_uuid(running: Running) -> None:
    """§2: without ``token`` the instance token is a random upper-case UUID."""
    body = await running.create("inst1")
    assert body["hash"] == body["hash"].upper()
    uuid.UUID(body["hash"])


async def test_create_without_integration(running: Running) -> None:
    """§3.1: leaving out ``integration`` gives 400 ["Invalid integration"]."""
    status, body, _ = await running.call(
        "POST", "/instance/create", json_body={"instanceName": "inst1"}
    )
    assert status == 400
    assert body["response"]["message"] == ["Invalid integration"]
    assert running.sim.store.get("inst1") is None


async def test_create_body_needs_json_content_type(running: Running) -> None:
    """§1: without ``Content-Type: application/json`` the body is read as ``{}``."""
    status, body, _ = await running.call(
        "POST",
        "/instance/create",
        data=b'{"instanceName":"inst1","integration":"WHATSAPP-BAILEYS"}',
        headers={"apikey": KEY, "Content-Type": "text/plain"},
        key=None,
    )
    assert status == 400
    assert body["response"]["message"] == [['instance requires property "instanceName"']]
    assert running.sim.store.get("inst1") is None


async def test_create_inline_websocket_without_events(running: Running) -> None:
    """§3.1 pitfall: inline websocket {enabled:true} without events → 400, the half-built
    instance is removed asynchronously, and a retry at once gets 403 "already in use"."""
    status, body, _ = await running.call(
        "POST",
        "/instance/create",
        json_body={
            "instanceName": "inst1",
            "integration": "WHATSAPP-BAILEYS",
            "websocket": {"enabled": True},
        },
    )
    assert status == 400
    assert body["response"]["message"] == ["Cannot read properties of undefined (reading 'length')"]
    status, _, _ = await running.call(
        "POST",
        "/instance/create",
        json_body={"instanceName": "inst1", "integration": "WHATSAPP-BAILEYS"},
    )
    assert status == 403
    await eventually(lambda: running.sim.store.get("inst1") is None)
    await running.create("inst1")


async def test_create_inline_websocket_stored_enabled(running: Running) -> None:
    """§3.1: inline websocket config is stored with enabled:true; the reply echoes only
    ``enabled`` and ``webhookUrl``."""
    body = await running.create(
        "inst3",
        websocket={"enabled": True, "events": ["CONNECTION_UPDATE", "INSTANCE_CREATE"]},
        webhook={"url": "http://127.0.0.1:9/x", "events": ["CONNECTION_UPDATE"]},
    )
    assert body["websocket"] == {"enabled": True}
    assert body["webhook"] == {"webhookUrl": "http://127.0.0.1:9/x"}
    _, row, _ = await running.call("GET", "/websocket/find/inst3")
    assert row["enabled"] is True
    assert row["events"] == ["CONNECTION_UPDATE", "INSTANCE_CREATE"]


async def test_create_with_qrcode_true(make_sim: MakeSim) -> None:
    """§3.1: ``qrcode: true`` connects at once and the reply carries a ``qrcode`` object."""
    running = await make_sim(connect_wait=0.1)
    body = await running.create("inst1", qrcode=True)
    assert body["qrcode"]["count"] >= 1
    assert body["qrcode"]["base64"].startswith("data:image/png;base64,")


async def test_fetch_instances_rows(running: Running) -> None:
    """§3.6: an array of rows with the documented keys; ``Webhook`` is not included."""
    await running.create("inst1", token="inst1-token")
    status, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert status == 200
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "inst1"
    assert row["connectionStatus"] == "close"
    assert row["token"] == "inst1-token"
    assert "Webhook" not in row
    assert row["_count"] == {"Message": 0, "Contact": 0, "Chat": 0}


async def test_fetch_instances_unknown_name(running: Running) -> None:
    """§3.6: ``?instanceName=`` for an unknown name → 404 ["Instance \"x\" not found"]."""
    status, body, _ = await running.call(
        "GET", "/instance/fetchInstances", params={"instanceName": "nope"}
    )
    assert status == 404
    assert body["response"]["message"] == ['Instance "nope" not found']


async def test_connection_state(running: Running) -> None:
    """§3: connectionState answers ``{"instance":{"instanceName","state"}}``."""
    await running.create("inst1")
    status, body, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert (status, body) == (200, {"instance": {"instanceName": "inst1", "state": "close"}})


async def test_connect_from_close_returns_count_zero(running: Running) -> None:
    """§3.2: connect on a closed instance before any QR answers ``{"count": 0}``."""
    await running.create("inst1")
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (status, body) == (200, {"count": 0})
    _, state, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert state["instance"]["state"] == "connecting"


async def test_connect_while_connecting_returns_qr_object(running: Running) -> None:
    """§3.2: in ``connecting`` the answer is the QR object {pairingCode, code, base64, count}."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: running.sim.store.instances["inst1"].qr.count >= 1)
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert list(body) == ["pairingCode", "code", "base64", "count"]
    assert body["pairingCode"] is None
    assert body["code"].startswith("2@")


async def test_connect_with_number_gives_pairing_code(running: Running) -> None:
    """§3.2 / §7.2: ``?number=`` asks for a pairing code such as ``ABCD1234``."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1", params={"number": "5511999999999"})
    await eventually(lambda: running.sim.store.instances["inst1"].qr.count >= 1)
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert len(body["pairingCode"]) == 8
    assert body["pairingCode"].isalnum()


async def test_connect_when_open(make_sim: MakeSim) -> None:
    """§3.2: connect on an open instance answers its state."""
    running = await make_sim([PresetInstance("inst1", state="open")])
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert body == {"instance": {"instanceName": "inst1", "state": "open"}}


async def test_restart_on_close_is_disguised_error(running: Running) -> None:
    """§3.3: restart of a closed instance → 200 {"error":true,"message":"[object Object]"}."""
    await running.create("inst1")
    status, body, _ = await running.call("POST", "/instance/restart/inst1")
    assert (status, body) == (200, {"error": True, "message": "[object Object]"})


async def test_restart_while_connecting(running: Running) -> None:
    """§3.3: restart of a connecting instance answers like connect (``{"count": 0}``)."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    status, body, _ = await running.call("POST", "/instance/restart/inst1")
    assert (status, body) == (200, {"count": 0})


async def test_restart_with_put_is_unknown_route(running: Running) -> None:
    """§1 / §3.3: PUT restart is an unknown route: 404 ["Cannot PUT /instance/restart/x"]."""
    await running.create("inst1")
    for key in (KEY, None):
        status, body, _ = await running.call("PUT", "/instance/restart/inst1", key=key)
        assert status == 404
        assert body == {
            "status": 404,
            "error": "Not Found",
            "response": {"message": ["Cannot PUT /instance/restart/inst1"]},
        }


async def test_logout_on_close_is_400(running: Running) -> None:
    """§3.4: logout of a closed instance → 400 ["The \"x\" instance is not connected"]."""
    await running.create("inst1")
    status, body, _ = await running.call("DELETE", "/instance/logout/inst1")
    assert status == 400
    assert body["response"]["message"] == ['The "inst1" instance is not connected']


async def test_logout_when_connecting(running: Running) -> None:
    """§3.4: logout of a connecting instance → 200 SUCCESS; the instance stays, closed."""
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    status, body, _ = await running.call("DELETE", "/instance/logout/inst1")
    assert status == 200
    assert body == {
        "status": "SUCCESS",
        "error": False,
        "response": {"message": "Instance logged out"},
    }
    await eventually(lambda: running.sim.store.instances["inst1"].state == "close")
    status, _, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert status == 200


async def test_delete_is_asynchronous(running: Running) -> None:
    """§3.5: 200 SUCCESS; fetchInstances still lists it for a while, create with the same
    name is 403 meanwhile, then the name gives 404."""
    await running.create("inst1")
    status, body, _ = await running.call("DELETE", "/instance/delete/inst1")
    assert status == 200
    assert body == {
        "status": "SUCCESS",
        "error": False,
        "response": {"message": "Instance deleted"},
    }
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert [r["name"] for r in rows] == ["inst1"]
    status, _, _ = await running.call(
        "POST",
        "/instance/create",
        json_body={"instanceName": "inst1", "integration": "WHATSAPP-BAILEYS"},
    )
    assert status == 403

    async def gone() -> bool:
        status, _, _ = await running.call("GET", "/instance/connectionState/inst1")
        return status == 404

    await eventually(lambda: running.sim.store.get("inst1") is None)
    assert await gone()


async def test_server_info(running: Running) -> None:
    """§3 ``GET /``: no auth, version 2.3.6, the documented keys."""
    status, body, _ = await running.call("GET", "/", key=None)
    assert status == 200
    assert list(body) == [
        "status",
        "message",
        "version",
        "clientName",
        "manager",
        "documentation",
        "whatsappWebVersion",
    ]
    assert body["version"] == "2.3.6"


async def test_invalid_json_body(running: Running) -> None:
    """§1: a malformed JSON body with the JSON content type is rejected before routing."""
    status, body, _ = await running.call(
        "POST",
        "/instance/create",
        data=b"{nope",
        headers={"apikey": KEY, "Content-Type": "application/json"},
        key=None,
    )
    assert status == 400
    assert isinstance(body["response"]["message"], str)
