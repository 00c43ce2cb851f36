"""``/api/openapi.json`` is valid OpenAPI 3.1 and covers every route; the audit log holds one
row per mutating call with the right fields."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from relay.api.schemas import WebsocketSetRequest

from .conftest import BASE, TENANT_A, Api
from .routes_table import ALL_ROUTES, SUPERADMIN_ROUTES

EXPECTED_PATHS = {
    f"{BASE}/{route.path}": route.method.lower() for route in ALL_ROUTES + SUPERADMIN_ROUTES
} | {"/healthz": "get", "/readyz": "get", "/metrics": "get", "/api/events": "get",
     "/api/openapi.json": "get"}  # fmt: skip


async def test_openapi_is_valid_3_1_and_covers_every_route(api: Api) -> None:
    reply = await api.call("GET", "/api/openapi.json", as_=None)
    assert reply.status == 200
    spec = reply.body
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema
    assert spec["openapi"].startswith("3.1")
    for path, method in EXPECTED_PATHS.items():
        assert method in spec["paths"][path], path
    documented = sum(len(methods) for methods in spec["paths"].values())
    assert documented == len(ALL_ROUTES) + len(SUPERADMIN_ROUTES) + 5
    assert spec["paths"]["/healthz"]["get"]["security"] == []


async def test_openapi_schemas_are_the_validating_models(api: Api) -> None:
    spec = (await api.call("GET", "/api/openapi.json", as_=None)).body
    op = spec["paths"][f"{BASE}/websocket/{{name}}"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/WebsocketSetRequest"
    schema = spec["components"]["schemas"]["WebsocketSetRequest"]
    assert schema["required"] == ["enabled", "events"]
    assert schema["properties"] == WebsocketSetRequest.model_json_schema()["properties"]
    name = op["parameters"][0]
    assert (name["name"], name["in"], name["schema"]["maxLength"]) == ("name", "path", 64)
    assert set(op["responses"]) >= {"200", "400", "401", "403", "404", "413", "502", "503"}
    change = spec["components"]["schemas"]["StatusChangeOut"]
    assert set(change["properties"]) == {"at", "from", "to", "reason"}


async def test_every_mutating_call_writes_one_row_with_its_fields(api: Api) -> None:
    await api.seed("inst1")
    calls = [
        ("POST", "restart/inst1", None, "restart", "success"),
        ("POST", "websocket/inst1", {"enabled": True, "events": []}, "websocket.set", "success"),
        ("POST", "connect/inst1", {}, "connect", "success"),
        ("POST", "logout/inst1", None, "logout", "success"),
        ("POST", "restart/nope", None, "restart", "failure"),
        ("DELETE", "delete/inst1", None, "delete", "success"),
        ("POST", "instances", {"instanceName": "new1"}, "create", "success"),
    ]
    for method, path, body, _, _ in calls:
        await api.call(method, path, json_body=body)
    await api.call("GET", "status/new1")  # reads are not audited
    await api.call("GET", "instances")
    entries = list(reversed(await api.audit()))
    assert [(e.action, e.outcome) for e in entries] == [(c[3], c[4]) for c in calls]
    for entry in entries:
        assert (entry.actor, entry.role, entry.tenant_id) == ("alice", "ADMIN", TENANT_A)
        assert entry.duration_ms >= 0 and entry.at is not None
    by_action = {e.action: e for e in entries if e.outcome == "success"}
    assert by_action["restart"].upstream_status == 200
    assert by_action["websocket.set"].upstream_status == 201
    assert by_action["websocket.set"].detail == {"enabled": True, "events": 2}
    assert by_action["logout"].upstream_status == 200
    assert by_action["delete"].upstream_status == 200
    assert by_action["create"].upstream_status == 201
    assert by_action["create"].instance_name == "new1"
    missing = entries[4]
    assert (missing.instance_name, missing.upstream_status) == ("nope", None)
    assert missing.detail == {"code": "INSTANCE_NOT_FOUND", "status": 404}


@pytest.mark.parametrize("who", ["A", "SUPER"])
async def test_audit_endpoint_shape(api: Api, who: str) -> None:
    await api.seed("inst1")
    await api.call("POST", "restart/inst1")
    reply = await api.call("GET", "audit?instanceName=inst1", as_=who)
    assert reply.status == 200
    (entry,) = reply.body["entries"]
    assert set(entry) == {"id", "at", "actor", "role", "tenantId", "instanceName", "action",
                          "outcome", "upstreamStatus", "durationMs", "detail"}  # fmt: skip
    assert (entry["actor"], entry["action"], entry["outcome"]) == ("alice", "restart", "success")
