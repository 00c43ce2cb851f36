"""CORS (``RELAY_CORS_ORIGINS``): preflights answered before auth, headers on every answer to
an allowed origin (errors included), none for any other origin."""

from __future__ import annotations

from .conftest import Api, MakeApi

PANEL = "https://panel.example.com"


async def test_preflight_from_an_allowed_origin(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=[PANEL])
    reply = await api.call("OPTIONS", "restart/inst1", as_=None, headers={
        "Origin": PANEL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })  # fmt: skip
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == PANEL
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in reply.headers["Access-Control-Allow-Headers"]
    assert api.sim.calls.calls == []


async def test_answers_and_errors_carry_the_headers(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=[PANEL])
    await api.seed("inst1")
    ok = await api.call("GET", "status/inst1", headers={"Origin": PANEL})
    assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == PANEL
    assert ok.headers["Access-Control-Expose-Headers"] == "X-Request-Id"
    refused = await api.call("GET", "status/inst1", as_=None, headers={"Origin": PANEL})
    assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == PANEL


async def test_other_origins_get_no_headers(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=[PANEL])
    evil = {"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    preflight = await api.call("OPTIONS", "restart/inst1", as_=None, headers=evil)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status != 204
    plain = await api.call("GET", "instances", headers={"Origin": "https://evil.example.com"})
    assert plain.status == 200 and "Access-Control-Allow-Origin" not in plain.headers


async def test_no_cors_by_default(api: Api) -> None:
    reply = await api.call("GET", "instances", headers={"Origin": PANEL})
    assert reply.status == 200 and "Access-Control-Allow-Origin" not in reply.headers
