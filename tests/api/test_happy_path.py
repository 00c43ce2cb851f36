"""Every route once, as a tenant's ADMIN, against the simulator: Evolution, the database, the
live side and the response all agree (docs/api.md, docs/live-events.md "Instance statuses")."""

from __future__ import annotations

from relay.evolution.names import REQUIRED_EVENTS
from relay.store.models import Status

from .conftest import TENANT_A, Api


async def test_logout_stops_on_evolution_and_in_the_database(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("POST", "logout/inst1")
    assert reply.status == 200
    assert reply.body["success"] is True
    assert reply.body["message"] == "Logout realizado com sucesso"
    assert reply.body["instance"]["status"] == "STOPPED"
    assert [(c.method, c.path) for c in api.upstream_calls("inst1")] == [
        ("DELETE", "/instance/logout/inst1")
    ]
    row = await api.store.get_instance("inst1")
    assert row is not None and row.status is Status.STOPPED
    intents = [arg for name, arg in api.live.calls if name == "apply_status"]
    assert [i.status for i in intents] == [Status.STOPPED]
    (change, *_) = await api.store.status_history("inst1")
    assert (change.previous_status, change.status) == (Status.WORKING, Status.STOPPED)


async def test_logout_of_a_closed_instance_is_already_done(api: Api) -> None:
    await api.seed("inst1", state="close")
    reply = await api.call("POST", "logout/inst1")
    assert reply.status == 200
    assert reply.body["message"] == "Logout realizado com sucesso"
    (entry,) = await api.audit()
    assert entry.upstream_status == 400 and entry.detail["alreadyLoggedOut"] is True


async def test_delete_removes_the_row_after_evolution(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("DELETE", "delete/inst1")
    assert reply.status == 200
    assert reply.body == {
        "success": True,
        "message": "Instância deletada com sucesso",
        "instanceName": "inst1",
    }
    assert await api.store.get_instance("inst1") is None
    assert ("DELETE", "/instance/delete/inst1") in [
        (c.method, c.path) for c in api.upstream_calls("inst1")
    ]
    assert api.live.names() == ["instance_removed"]


async def test_delete_of_an_instance_already_gone_on_evolution(api: Api) -> None:
    await api.seed("ghost", upstream=False)
    reply = await api.call("DELETE", "delete/ghost")
    assert reply.status == 200
    assert await api.store.get_instance("ghost") is None
    (entry,) = await api.audit()
    assert entry.outcome == "success" and entry.upstream_status == 404
    assert entry.detail["alreadyGone"] is True


async def test_restart_asks_for_a_new_qr(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("POST", "restart/inst1")
    assert reply.status == 200
    assert reply.body["message"] == "Instância reiniciada com sucesso"
    assert reply.body["instance"]["status"] == "SCAN_QR_CODE"
    assert api.sim.instance("inst1").state == "connecting"
    row = await api.store.get_instance("inst1")
    assert row is not None and row.status is Status.SCAN_QR_CODE
    assert api.live.names() == ["apply_status"]


async def test_restart_of_a_closed_instance_connects_it(api: Api) -> None:
    await api.seed("inst1", state="close")
    reply = await api.call("POST", "restart/inst1")
    assert reply.status == 200
    assert api.sim.instance("inst1").state == "connecting"
    paths = [c.path for c in api.upstream_calls("inst1")]
    assert paths == ["/instance/restart/inst1", "/instance/connect/inst1"]


async def test_websocket_set_merges_the_required_events(api: Api) -> None:
    await api.seed("inst1")
    body = {"enabled": True, "events": ["MESSAGES_UPSERT", "MESSAGES_UPSERT", "CALL"]}
    reply = await api.call("POST", "websocket/inst1", json_body=body)
    assert reply.status == 200
    effective = ["MESSAGES_UPSERT", "CALL", *REQUIRED_EVENTS]
    setting = {"enabled": True, "events": effective}
    assert reply.body == {
        "success": True,
        "message": "WebSocket configurado com sucesso",
        "websocket": {**setting, "evolution": setting},
    }
    stored = api.sim.instance("inst1").websocket
    assert stored is not None and stored.events == effective
    row = await api.store.get_instance("inst1")
    assert row is not None and row.websocket_events == effective
    assert api.live.names() == ["instance_updated"]
    got = await api.call("GET", "websocket/inst1")
    assert got.status == 200
    assert got.body == {"success": True, "websocket": {**setting, "evolution": setting}}


async def test_websocket_disabled_keeps_status_events_on_evolution(api: Api) -> None:
    """enabled:false must not silence Evolution: statuses come from its two events."""
    await api.seed("inst1")
    body = {"enabled": False, "events": ["MESSAGES_UPSERT"]}
    reply = await api.call("POST", "websocket/inst1", json_body=body)
    assert reply.status == 200
    caller = {"enabled": False, "events": ["MESSAGES_UPSERT", *REQUIRED_EVENTS]}
    in_force = {"enabled": True, "events": list(REQUIRED_EVENTS)}
    assert reply.body["websocket"] == {**caller, "evolution": in_force}
    stored = api.sim.instance("inst1").websocket
    assert stored is not None and stored.enabled and stored.events == list(REQUIRED_EVENTS)
    row = await api.store.get_instance("inst1")
    assert row is not None and not row.websocket_enabled
    got = await api.call("GET", "websocket/inst1")
    assert got.body == {"success": True, "websocket": {**caller, "evolution": in_force}}


async def test_websocket_get_is_null_when_never_set(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("GET", "websocket/inst1", as_="A_USER")
    assert reply.status == 200
    assert reply.body == {"success": True, "websocket": None}


async def test_list_instances_shows_only_the_tenant(api: Api) -> None:
    await api.seed("a1")
    await api.seed("a2", state="connecting")
    await api.seed("b1", "tenant-b")
    mine = await api.call("GET", "instances")
    assert mine.status == 200
    assert [i["instanceName"] for i in mine.body["instances"]] == ["a1", "a2"]
    first = mine.body["instances"][0]
    assert set(first) >= {"instanceName", "tenantId", "status", "statusReason", "statusAt",
                          "updatedAt", "qrcode", "profileName", "wuid", "websocket"}  # fmt: skip
    every = await api.call("GET", "instances", as_="SUPER")
    assert [i["instanceName"] for i in every.body["instances"]] == ["a1", "a2", "b1"]
    only_b = await api.call("GET", "instances?tenantId=tenant-b", as_="SUPER")
    assert [i["instanceName"] for i in only_b.body["instances"]] == ["b1"]


async def test_create_makes_the_instance_on_evolution_with_the_events(api: Api) -> None:
    reply = await api.call("POST", "instances", json_body={"instanceName": "fresh"})
    assert reply.status == 201
    assert reply.body["message"] == "Instância criada com sucesso"
    assert reply.body["adopted"] is False
    instance = reply.body["instance"]
    assert instance["tenantId"] == TENANT_A and instance["status"] == "STOPPED"
    upstream = api.sim.instance("fresh")
    assert upstream.websocket is not None and upstream.websocket.enabled
    assert set(REQUIRED_EVENTS) <= set(upstream.websocket.events)
    assert api.live.names() == ["instance_added"]
    row = await api.store.get_instance("fresh")
    assert row is not None and row.tenant_id == TENANT_A


async def test_create_adopts_an_instance_already_on_evolution(api: Api) -> None:
    await api.seed("old", upstream=True)
    await api.store.delete_instance("old")  # on Evolution, not yet in the relay
    api.sim.instance("old").websocket = None
    reply = await api.call(
        "POST", "instances", as_="SUPER", json_body={"instanceName": "old", "tenantId": "t9"}
    )
    assert reply.status == 201
    assert reply.body["message"] == "Instância existente adotada com sucesso"
    assert reply.body["adopted"] is True
    assert reply.body["instance"]["status"] == "WORKING"
    assert reply.body["instance"]["tenantId"] == "t9"
    assert reply.body["instance"]["profileName"] == "Perfil old"
    websocket = api.sim.instance("old").websocket
    assert websocket is not None and set(REQUIRED_EVENTS) <= set(websocket.events)
    assert not [c for c in api.upstream_calls("old") if c.path == "/instance/create"]


async def test_status_has_the_live_state_and_history(api: Api) -> None:
    await api.seed("inst1")
    await api.call("POST", "restart/inst1")
    reply = await api.call("GET", "status/inst1", as_="A_USER")
    assert reply.status == 200
    assert reply.body["instance"]["status"] == "SCAN_QR_CODE"
    assert reply.body["connectionState"] == "connecting"
    assert reply.body["upstreamError"] is None
    history = reply.body["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("WORKING", "SCAN_QR_CODE"),
        (None, "WORKING"),
    ]
    assert history[0]["reason"] == "api:restart" and history[0]["at"]


async def test_connect_starts_pairing_with_a_pairing_code(api: Api) -> None:
    await api.seed("inst1", state="close")
    reply = await api.call("POST", "connect/inst1", json_body={"number": "5511999998888"})
    assert reply.status == 200
    assert reply.body["message"] == "Conexão iniciada com sucesso"
    assert reply.body["instance"]["status"] == "STARTING"
    (call,) = api.upstream_calls("inst1")
    assert call.path == "/instance/connect/inst1" and call.query == {"number": "5511999998888"}
    assert api.sim.instance("inst1").state == "connecting"


async def test_connect_without_a_body(api: Api) -> None:
    await api.seed("inst1", state="close")
    reply = await api.call("POST", "connect/inst1")
    assert reply.status == 200
    assert reply.body["instance"]["status"] == "STARTING"


async def test_connect_of_an_open_instance_changes_nothing(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("POST", "connect/inst1", json_body={})
    assert reply.status == 200
    assert reply.body["message"] == "A instância já está conectada"
    assert reply.body["instance"]["status"] == "WORKING"
    assert api.live.names() == []


async def test_webhook_set_and_get_never_echo_header_values(api: Api) -> None:
    await api.seed("inst1")
    body = {
        "enabled": True,
        "url": "https://hooks.example.com/evo",
        "events": ["MESSAGES_UPSERT"],
        "headers": {"authorization": "Bearer s3cr3t"},
    }
    reply = await api.call("POST", "webhook/inst1", json_body=body)
    assert reply.status == 200
    assert reply.body["message"] == "Webhook configurado com sucesso"
    webhook = reply.body["webhook"]
    assert webhook["url"] == body["url"] and webhook["events"] == ["MESSAGES_UPSERT"]
    assert webhook["headerNames"] == ["authorization"]
    assert "s3cr3t" not in str(reply.body)
    stored = api.sim.instance("inst1").webhook
    assert stored is not None and stored.headers == {"authorization": "Bearer s3cr3t"}
    got = await api.call("GET", "webhook/inst1", as_="A_USER")
    assert got.status == 200 and got.body["webhook"] == webhook
    (entry,) = await api.audit()
    assert "s3cr3t" not in str(entry.detail)


async def test_webhook_get_is_null_when_never_set(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("GET", "webhook/inst1")
    assert reply.status == 200 and reply.body == {"success": True, "webhook": None}


async def test_audit_lists_the_tenant_newest_first(api: Api) -> None:
    await api.seed("a1")
    await api.seed("a2")
    await api.seed("b1", "tenant-b")
    await api.call("POST", "restart/a1")
    await api.call("POST", "restart/a2")
    await api.call("POST", "restart/b1", as_="B")
    reply = await api.call("GET", "audit", as_="A_USER")
    assert reply.status == 200
    assert [e["instanceName"] for e in reply.body["entries"]] == ["a2", "a1"]
    only = await api.call("GET", "audit?instanceName=a1&limit=5")
    assert [e["instanceName"] for e in only.body["entries"]] == ["a1"]
    limited = await api.call("GET", "audit?limit=1", as_="SUPER")
    assert [e["instanceName"] for e in limited.body["entries"]] == ["b1"]
