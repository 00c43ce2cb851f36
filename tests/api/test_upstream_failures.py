"""When Evolution fails the row is unchanged, the error maps to 502/503/504, and the audit
row says so (docs/api.md "Errors", "Evolution first, database second")."""

from __future__ import annotations

from typing import Any

import pytest

from simulator import Fault

from .conftest import Api, MakeApi
from .routes_table import NAMED_ROUTES, Route, body_for

FAILURES = {
    "stopped": (503, "UPSTREAM_UNAVAILABLE"),
    "slow": (504, "UPSTREAM_TIMEOUT"),
    "error-500": (502, "UPSTREAM_ERROR"),
}
MUTATIONS = [r for r in NAMED_ROUTES if r.mutating]
UPSTREAM_PATH = {
    "logout/{name}": "/instance/logout/",
    "delete/{name}": "/instance/delete/",
    "restart/{name}": "/instance/restart/",
    "websocket/{name}": "/websocket/set/",
    "connect/{name}": "/instance/connect/",
    "webhook/{name}": "/webhook/set/",
}


async def _snapshot(api: Api) -> list[Any]:
    return [r.model_dump() for r in await api.store.list_instances()]


async def _break(api: Api, failure: str, route: Route) -> None:
    if failure == "stopped":
        await api.sim.stop()
        return
    prefix = UPSTREAM_PATH[route.path]
    if failure == "slow":
        api.sim.faults.add(Fault(status=None, delay=0.6, path_prefix=prefix))
    else:
        api.sim.faults.add(Fault(status=500, message="Boom inside Evolution", path_prefix=prefix))


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("route", MUTATIONS, ids=str)
async def test_a_failing_evolution_changes_nothing(
    make_api: MakeApi, route: Route, failure: str
) -> None:
    api = await make_api(evolution_timeout=0.25)
    await api.seed("inst1", state="connecting")
    await api.call("GET", "status/inst1")  # warm the client's server-version cache
    before = await _snapshot(api)
    await _break(api, failure, route)
    reply = await api.call(route.method, route.url("inst1"), json_body=body_for(route, "inst1"))
    status, code = FAILURES[failure]
    assert (reply.status, reply.body["code"]) == (status, code), reply.body
    assert reply.body["success"] is False
    assert await _snapshot(api) == before
    assert api.live.names() == []
    (entry,) = await api.audit()
    assert (entry.action, entry.outcome, entry.instance_name) == (
        route.path.split("/")[0].replace("websocket", "websocket.set")
        .replace("webhook", "webhook.set"),
        "failure",
        "inst1",
    )  # fmt: skip
    assert entry.detail["code"] == code and entry.detail["status"] == status
    assert entry.upstream_status == (500 if failure == "error-500" else None)
    assert entry.tenant_id == "tenant-a" and entry.duration_ms > 0


async def test_the_evolution_message_is_passed_on_and_its_key_never(api: Api) -> None:
    await api.seed("inst1")
    api.sim.faults.add(Fault(status=500, message="Boom inside Evolution", path_prefix="/instance/"))
    reply = await api.call("POST", "restart/inst1")
    assert reply.status == 502
    assert "Boom inside Evolution" in reply.body["message"]
    assert "sim-global-apikey" not in str(reply.body)


async def test_create_failing_on_evolution_records_nothing(api: Api) -> None:
    api.sim.faults.add(Fault(status=500, path_prefix="/instance/create"))
    reply = await api.call("POST", "instances", json_body={"instanceName": "fresh"})
    assert reply.status == 502
    assert await api.store.get_instance("fresh") is None
    assert api.live.names() == []
    (entry,) = await api.audit()
    assert (entry.action, entry.outcome, entry.upstream_status) == ("create", "failure", 500)


async def test_an_instance_missing_on_evolution_is_a_404_and_keeps_its_row(api: Api) -> None:
    await api.seed("ghost", upstream=False)
    reply = await api.call("POST", "restart/ghost")
    assert reply.status == 404 and reply.body["code"] == "INSTANCE_NOT_FOUND"
    row = await api.store.get_instance("ghost")
    assert row is not None and row.status.value == "WORKING" and row.status_reason == "seed"


async def test_status_still_answers_when_evolution_is_down(api: Api) -> None:
    await api.seed("inst1")
    await api.sim.stop()
    reply = await api.call("GET", "status/inst1")
    assert reply.status == 200
    assert reply.body["connectionState"] is None
    assert reply.body["upstreamError"] == "UPSTREAM_UNAVAILABLE"
    assert reply.body["instance"]["status"] == "WORKING"
