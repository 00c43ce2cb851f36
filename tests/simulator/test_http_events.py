"""The simulator's ``/websocket/*`` and ``/webhook/*`` routes against docs/upstream.md §4–§5."""

from __future__ import annotations

from relay.evolution.names import EVENTS_2_3
from tests.simulator.conftest import MakeSim, Running

ROW_KEYS = ["id", "enabled", "events", "createdAt", "updatedAt", "instanceId"]
HOOK_KEYS = [
    "id",
    "url",
    "headers",
    "enabled",
    "events",
    "webhookByEvents",
    "webhookBase64",
    "createdAt",
    "updatedAt",
    "instanceId",
]


async def test_websocket_find_before_set_is_null(running: Running) -> None:
    """§5.2: find answers the JSON literal ``null`` when never set."""
    await running.create("inst1")
    status, body, resp = await running.call("GET", "/websocket/find/inst1")
    assert (status, body) == (200, None)
    assert resp.content_type == "application/json"


async def test_websocket_set_nested_201_and_update(running: Running) -> None:
    """§5.1: the nested body → 201 with the saved row; a second call updates the same row."""
    created = await running.create("inst1")
    events = ["CONNECTION_UPDATE", "QRCODE_UPDATED"]
    status, row, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"websocket": {"enabled": True, "events": events}}
    )
    assert status == 201
    assert list(row) == ROW_KEYS
    assert row["events"] == events
    assert row["instanceId"] == created["instance"]["instanceId"]
    status, again, _ = await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={"websocket": {"enabled": True, "events": ["MESSAGES_UPSERT"]}},
    )
    assert again["id"] == row["id"]
    assert again["events"] == ["MESSAGES_UPSERT"]
    _, found, _ = await running.call("GET", "/websocket/find/inst1")
    assert found == again


async def test_websocket_set_empty_events(running: Running) -> None:
    """§4: ``events: []`` with enabled:true stores all 31; enabled:false stores ``[]``."""
    await running.create("inst1")
    _, row, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"websocket": {"enabled": True, "events": []}}
    )
    assert row["events"] == list(EVENTS_2_3)
    assert len(row["events"]) == 31
    _, row, _ = await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={"websocket": {"enabled": False, "events": ["CONNECTION_UPDATE"]}},
    )
    assert (row["enabled"], row["events"]) == (False, [])


async def test_websocket_set_flat_body_is_500(running: Running) -> None:
    """§5.1: the pre-2.1 flat body passes the schema and crashes with 500 (string message)."""
    await running.create("inst1")
    status, body, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"enabled": True, "events": ["CONNECTION_UPDATE"]}
    )
    assert status == 500
    assert body == {
        "status": 500,
        "error": "Internal Server Error",
        "response": {"message": "Cannot set properties of undefined (setting 'events')"},
    }


async def test_websocket_set_enabled_without_events_is_500(running: Running) -> None:
    """§5.1: {websocket:{enabled:true}} without events → 500 reading 'length'."""
    await running.create("inst1")
    status, body, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"websocket": {"enabled": True}}
    )
    assert status == 500
    assert body["response"]["message"] == "Cannot read properties of undefined (reading 'length')"


async def test_websocket_set_without_enabled_is_400_nested(running: Running) -> None:
    """§5.1: no ``enabled`` → 400 with an array of arrays."""
    await running.create("inst1")
    status, body, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"websocket": {"events": ["CONNECTION_UPDATE"]}}
    )
    assert status == 400
    assert body["response"]["message"] == [['websocket requires property "enabled"']]


async def test_invalid_event_name_is_400_enum(running: Running) -> None:
    """§4: an invalid name → 400 [["websocket.events[1] is not one of enum values: ..."]]."""
    await running.create("inst1")
    status, body, _ = await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={
            "websocket": {"enabled": True, "events": ["CONNECTION_UPDATE", "GROUPS_UPDATE"]}
        },
    )
    assert status == 400
    assert body["response"]["message"] == [
        ["websocket.events[1] is not one of enum values: " + ",".join(EVENTS_2_3)]
    ]


async def test_websocket_routes_when_output_disabled(make_sim: MakeSim) -> None:
    """§5.1: WEBSOCKET_ENABLED=false → set 201 and find 200 with a zero-byte JSON body;
    nothing is stored; and /socket.io/ is the Express 404 (§6.1)."""
    running = await make_sim(websocket_enabled=False)
    await running.create("inst1")
    status, body, resp = await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={"websocket": {"enabled": True, "events": ["CONNECTION_UPDATE"]}},
    )
    assert (status, body, resp.content_type) == (201, b"", "application/json")
    status, body, resp = await running.call("GET", "/websocket/find/inst1")
    assert (status, body, resp.content_type) == (200, b"", "application/json")
    assert running.sim.store.instances["inst1"].websocket is None
    status, body, _ = await running.call("GET", "/socket.io/?EIO=4&transport=polling", key=None)
    assert status == 404
    assert body["response"]["message"] == ["Cannot GET /socket.io/?EIO=4&transport=polling"]


async def test_webhook_set_and_find(running: Running) -> None:
    """§5.3: 201 with the saved row; find returns it, or ``null`` before any set."""
    await running.create("inst1")
    _, before, _ = await running.call("GET", "/webhook/find/inst1")
    assert before is None
    status, row, _ = await running.call(
        "POST",
        "/webhook/set/inst1",
        json_body={
            "webhook": {
                "enabled": True,
                "url": "http://127.0.0.1:9/hook",
                "headers": {"x-test": "1"},
                "events": ["CONNECTION_UPDATE", "QRCODE_UPDATED"],
            }
        },
    )
    assert status == 201
    assert list(row) == HOOK_KEYS
    assert (row["webhookByEvents"], row["webhookBase64"]) == (False, False)
    _, found, _ = await running.call("GET", "/webhook/find/inst1")
    assert found == row


async def test_webhook_set_validation(running: Running) -> None:
    """§5.3: missing wrapper / missing url → 400 with an array of arrays; enabled without
    events → 500."""
    await running.create("inst1")
    status, body, _ = await running.call(
        "POST", "/webhook/set/inst1", json_body={"enabled": True, "url": "http://x"}
    )
    assert status == 400
    assert body["response"]["message"] == [['instance requires property "webhook"']]
    status, body, _ = await running.call(
        "POST", "/webhook/set/inst1", json_body={"webhook": {"enabled": True}}
    )
    assert status == 400
    assert body["response"]["message"] == [['webhook requires property "url"']]
    status, body, _ = await running.call(
        "POST", "/webhook/set/inst1", json_body={"webhook": {"enabled": True, "url": "http://x"}}
    )
    assert status == 500


async def test_webhook_routes_need_key(running: Running) -> None:
    """§2 / §5: set and find are keyed like every instance route."""
    await running.create("inst1")
    for method, path in [("POST", "/webhook/set/inst1"), ("GET", "/webhook/find/inst1")]:
        status, _, _ = await running.call(method, path, key=None)
        assert status == 401
