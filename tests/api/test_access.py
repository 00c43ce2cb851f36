"""Tenants and roles (docs/api.md): another tenant's instance is exactly a missing one and
Evolution never hears of it; USER reads, ADMIN manages its tenant, SUPERADMIN everything."""

from __future__ import annotations

import pytest

from .conftest import TENANT_A, TENANT_B, Api
from .routes_table import ALL_ROUTES, NAMED_ROUTES, Route, body_for

NOT_FOUND = {"success": False, "message": "Instância não encontrada", "code": "INSTANCE_NOT_FOUND"}


async def _snapshot(api: Api) -> list[tuple[object, ...]]:
    rows = await api.store.list_instances()
    return [(r.name, r.tenant_id, r.status, r.updated_at, r.websocket_events) for r in rows]


@pytest.mark.parametrize("route", NAMED_ROUTES, ids=str)
async def test_another_tenants_instance_is_a_404_like_a_missing_one(api: Api, route: Route) -> None:
    await api.seed("a-inst", TENANT_A)
    before = await _snapshot(api)
    api.sim.reset()
    foreign = await api.call(route.method, route.url("a-inst"), as_="B",
                             json_body=body_for(route, "a-inst"))  # fmt: skip
    missing = await api.call(route.method, route.url("nobody"), as_="B",
                             json_body=body_for(route, "nobody"))  # fmt: skip
    assert foreign.status == 404
    assert foreign.body == NOT_FOUND
    assert (missing.status, missing.body) == (foreign.status, foreign.body)
    assert await _snapshot(api) == before
    assert api.upstream_calls("a-inst") == []
    assert api.live.calls == []
    for entry in await api.audit():  # a mutation is audited under the caller's tenant only
        assert entry.tenant_id == TENANT_B and entry.outcome == "failure"


async def test_another_tenants_instances_are_not_listed_nor_audited(api: Api) -> None:
    await api.seed("a-inst", TENANT_A)
    await api.call("POST", "restart/a-inst")
    api.sim.reset()
    listed = await api.call("GET", "instances", as_="B")
    assert listed.status == 200 and listed.body["instances"] == []
    audit = await api.call("GET", "audit?instanceName=a-inst", as_="B")
    assert audit.status == 200 and audit.body["entries"] == []
    widened = await api.call("GET", f"instances?tenantId={TENANT_A}", as_="B")
    assert widened.status == 403 and widened.body["code"] == "FORBIDDEN"
    assert api.upstream_calls("a-inst") == []


async def test_creating_another_tenants_name_is_a_conflict_without_upstream_call(api: Api) -> None:
    await api.seed("a-inst", TENANT_A)
    before = await _snapshot(api)
    api.sim.reset()
    reply = await api.call("POST", "instances", as_="B", json_body={"instanceName": "a-inst"})
    assert reply.status == 409 and reply.body["code"] == "CONFLICT"
    assert await _snapshot(api) == before
    assert api.upstream_calls("a-inst") == []


async def test_an_admin_cannot_create_for_another_tenant(api: Api) -> None:
    reply = await api.call("POST", "instances", json_body={"instanceName": "x1", "tenantId": "t2"})
    assert reply.status == 403 and reply.body["code"] == "FORBIDDEN"
    assert api.upstream_calls("x1") == []


async def test_a_superadmin_without_tenant_must_name_one_to_create(api: Api) -> None:
    reply = await api.call("POST", "instances", as_="SUPER", json_body={"instanceName": "x1"})
    assert reply.status == 400 and reply.body["code"] == "VALIDATION_ERROR"
    assert api.upstream_calls("x1") == []


@pytest.mark.parametrize("role", ["USER", "ADMIN", "SUPERADMIN"])
@pytest.mark.parametrize("route", ALL_ROUTES, ids=str)
async def test_role_matrix(api: Api, route: Route, role: str) -> None:
    token = {"USER": "A_USER", "ADMIN": "A", "SUPERADMIN": "SUPER"}[role]
    name = "new-inst" if route.path == "instances" and route.method == "POST" else "a-inst"
    await api.seed("a-inst", TENANT_A)
    before = await _snapshot(api)
    api.sim.reset()
    body = body_for(route, name)
    if route.path == "instances" and route.method == "POST" and role == "SUPERADMIN":
        body = {**body, "tenantId": TENANT_A}
    reply = await api.call(route.method, route.url(name), as_=token, json_body=body)
    if role == "USER" and route.mutating:
        assert reply.status == 403
        assert reply.body == {
            "success": False,
            "message": "Sem permissão para esta ação",
            "code": "FORBIDDEN",
        }
        assert await _snapshot(api) == before
        assert api.upstream_calls(name) == []
        (entry,) = await api.audit()
        assert entry.outcome == "failure" and entry.detail["code"] == "FORBIDDEN"
        return
    assert reply.status == route.ok, reply.body
    assert reply.body["success"] is True
    audit = await api.audit()
    if route.mutating:
        (entry,) = audit
        assert (entry.outcome, entry.role, entry.tenant_id) == ("success", role, TENANT_A)
    else:
        assert audit == [] or route.path == "audit"


async def test_a_non_evolution_instance_is_unsupported(api: Api) -> None:
    await api.seed("wpp", provider="wppconnect", upstream=False)
    for method, path in [("POST", "restart/wpp"), ("GET", "status/wpp")]:
        reply = await api.call(method, path)
        assert reply.status == 422
        assert reply.body["code"] == "UNSUPPORTED_PROVIDER"
    foreign = await api.call("POST", "restart/wpp", as_="B")
    assert foreign.status == 404  # the tenant check comes first: nothing leaks
    assert api.upstream_calls("wpp") == []
