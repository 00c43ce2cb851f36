"""Input rules (docs/api.md): names are checked before any I/O, bodies list every problem,
malformed JSON is a 400 and a body over 64 KiB a 413; none of them reaches Evolution."""

from __future__ import annotations

import json

import pytest

from .conftest import Api, MakeApi, sim_config

BAD_NAMES = {
    "dot-dot-slash": "../x",
    "encoded-dot-dot": "%2e%2e",
    "encoded-dot-dot-upper": "%2E%2E",
    "encoded-traversal": "%2E%2E%2Fetc%2Fpasswd",
    "single-dot": ".",
    "65-chars": "a" * 65,
    "empty": "",
    "cyrillic-a": "%D0%B0bc",
    "fullwidth": "%EF%BD%89nst1",
    "zero-width-space": "inst%E2%80%8B1",
    "dotless-i": "%C4%B1nst1",
    "sql-quote": "a'%20OR%20'1'='1",
    "sql-comment": "x;DROP%20TABLE%20instances;--",
    "shell-subst": "%24(id)",
    "shell-backticks": "%60id%60",
    "shell-pipe": "a%7Cb",
    "shell-and": "a&b",
    "space": "a%20b",
    "slash": "a/b",
    "encoded-slash": "a%2Fb",
    "newline-suffix": "inst1%0A",
    "nul": "a%00b",
    "question-mark": "a%3Fb",
}
NAMED = [("POST", "restart/{}"), ("GET", "status/{}"), ("DELETE", "delete/{}")]


@pytest.mark.parametrize("raw", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_bad_names_are_400_before_any_io(api: Api, raw: str) -> None:
    await api.seed("inst1")
    before = await api.store.list_instances()
    api.sim.reset()
    for method, path in NAMED:
        reply = await api.call(method, path.format(raw))
        assert reply.status == 400, (method, raw, reply.body)
        assert reply.body["code"] == "VALIDATION_ERROR"
        assert reply.body["success"] is False
    assert api.sim.calls.calls == []
    assert await api.store.list_instances() == before
    entries = await api.audit()
    assert [(e.action, e.outcome, e.instance_name) for e in entries] == [
        ("delete", "failure", None),
        ("restart", "failure", None),
    ]


async def test_a_64_character_name_is_fine(api: Api) -> None:
    name = "A-z_0." + "x" * 58
    await api.seed(name)
    reply = await api.call("GET", f"status/{name}")
    assert reply.status == 200


@pytest.mark.parametrize("raw", ["../x", "a" * 65, "", "ínst", "a b"])
async def test_bad_names_in_a_create_body(api: Api, raw: str) -> None:
    reply = await api.call("POST", "instances", json_body={"instanceName": raw})
    assert reply.status == 400 and reply.body["code"] == "VALIDATION_ERROR"
    assert api.sim.calls.calls == []


async def test_every_body_problem_is_listed(api: Api) -> None:
    await api.seed("inst1")
    body = {"enabled": "yes", "events": ["FOO", "CALL", "messages.upsert", 7]}
    reply = await api.call("POST", "websocket/inst1", json_body=body)
    assert reply.status == 400
    assert reply.body["code"] == "VALIDATION_ERROR"
    problems = reply.body["errors"]
    assert "enabled: deve ser true ou false" in problems
    assert "events.3: deve ser um texto" in problems
    reply = await api.call("POST", "websocket/inst1", json_body={"enabled": True,
                           "events": ["FOO", "CALL", "messages.upsert"]})  # fmt: skip
    assert reply.body["errors"] == [
        'events: evento inválido: "FOO"',
        'events: evento inválido: "messages.upsert"',
    ]
    assert "FOO" in reply.body["message"] and "messages.upsert" in reply.body["message"]
    assert api.upstream_calls("inst1") == []


async def test_missing_fields_are_each_listed(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("POST", "websocket/inst1", json_body={})
    assert reply.status == 400
    assert reply.body["errors"] == ["enabled: campo obrigatório", "events: campo obrigatório"]
    hook = await api.call(
        "POST", "webhook/inst1", json_body={"enabled": True, "url": "ftp://example.com/x"}
    )
    assert hook.status == 400
    assert hook.body["errors"] == ["url: formato inválido"]


@pytest.mark.parametrize(
    "raw",
    [b'{"enabled": tru', b"[1, 2]", b'"text"', b"", b"\xff\xfe", b"{" * 5000 + b"}" * 5000],
    ids=["truncated", "array", "string", "empty", "not-utf8", "deep"],
)
async def test_malformed_json_is_400_never_500(api: Api, raw: bytes) -> None:
    await api.seed("inst1")
    reply = await api.call(
        "POST", "websocket/inst1", data=raw, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400 and reply.body["code"] == "VALIDATION_ERROR"
    assert api.upstream_calls("inst1") == []


async def test_a_body_over_64_kib_is_413(api: Api) -> None:
    await api.seed("inst1")
    body = json.dumps({"enabled": True, "events": ["CALL"], "pad": "x" * 70_000})
    reply = await api.call("POST", "websocket/inst1", data=body,
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert reply.status == 413
    assert reply.body == {
        "success": False,
        "message": "Corpo da requisição grande demais",
        "code": "PAYLOAD_TOO_LARGE",
    }
    assert api.upstream_calls("inst1") == []
    (entry,) = await api.audit()
    assert entry.detail["code"] == "PAYLOAD_TOO_LARGE" and entry.instance_name == "inst1"


async def test_a_big_body_is_413_even_where_no_body_is_read(api: Api) -> None:
    await api.seed("inst1")
    reply = await api.call("POST", "restart/inst1", data=b"x" * 70_000)
    assert reply.status == 413 and reply.body["code"] == "PAYLOAD_TOO_LARGE"
    assert api.upstream_calls("inst1") == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("audit?limit=0", "limit: pequeno demais"),
        ("audit?limit=abc", "limit: deve ser um número inteiro"),
        ("audit?instanceName=..%2Fx", "instanceName: formato inválido"),
    ],
)
async def test_bad_queries(api: Api, path: str, problem: str) -> None:
    reply = await api.call("GET", path)
    assert reply.status == 400 and problem in reply.body["errors"]


async def test_a_bad_pairing_number(api: Api) -> None:
    await api.seed("inst1", state="close")
    reply = await api.call("POST", "connect/inst1", json_body={"number": "+55 11 9999"})
    assert reply.status == 400 and reply.body["errors"] == ["number: formato inválido"]
    assert api.upstream_calls("inst1") == []


async def test_event_names_follow_the_servers_version(make_api: MakeApi) -> None:
    api = await make_api(sim_config(version="2.2.3"))
    await api.seed("inst1")
    body = {"enabled": True, "events": ["INSTANCE_CREATE", "CALL", "STATUS_INSTANCE"]}
    reply = await api.call("POST", "websocket/inst1", json_body=body)
    assert reply.status == 400
    assert reply.body["errors"] == [
        'evento inválido para a Evolution 2.2.3: "INSTANCE_CREATE"',
        'evento inválido para a Evolution 2.2.3: "STATUS_INSTANCE"',
    ]
    assert [c.path for c in api.upstream_calls("inst1")] == []
