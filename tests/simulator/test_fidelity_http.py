"""Fidelity of HTTP bodies against ``tests/fixtures/evolution/http-responses.json``
(docs/upstream.md §1–§5).

Error bodies are compared exactly (same instance names as in the samples); success bodies by
shape (keys, key order, JSON types), since ids and timestamps differ.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from simulator import PresetInstance
from tests.simulator.conftest import KEY, MakeSim, Running, eventually, sample
from tests.simulator.shapes import assert_same_shape


def responses() -> dict[str, Any]:
    data: dict[str, Any] = sample("http-responses.json")
    return data


async def test_create_fetch_state_bodies(running: Running) -> None:
    """§3.1, §3.6, §3: create 201, fetchInstances row, connectionState, find null."""
    ref = responses()
    request = ref["POST /instance/create -> 201"]["request"]
    status, created, _ = await running.call("POST", "/instance/create", json_body=request)
    assert status == 201
    assert_same_shape(created, ref["POST /instance/create -> 201"]["response"])
    await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={"websocket": {"enabled": True, "events": ["CONNECTION_UPDATE"]}},
    )
    _, rows, _ = await running.call("GET", "/instance/fetchInstances?instanceName=inst1")
    assert_same_shape(rows, ref["GET /instance/fetchInstances?instanceName=inst1 -> 200"])
    _, state, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert state == ref["GET /instance/connectionState/inst1 -> 200"]
    _, restart, _ = await running.call("POST", "/instance/restart/inst1")
    assert (
        restart
        == ref["POST /instance/restart/inst1 -> 200 while state close (error disguised as 200)"]
    )
    _, logout, _ = await running.call("DELETE", "/instance/logout/inst1")
    assert logout == ref["DELETE /instance/logout/inst1 -> 400 (state close)"]
    _, hook, _ = await running.call("GET", "/webhook/find/inst1")
    assert hook is None


async def test_connect_bodies(make_sim: MakeSim) -> None:
    """§3.2, §3.3: connect {"count":0}, the QR object, the open answer; restart while
    connecting; logout 200."""
    ref = responses()
    running = await make_sim([PresetInstance("inst2", state="open")])
    await running.create("inst1")
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (
        body
        == ref["GET /instance/connect/inst1 -> 200 (state was close; QR not produced within 2 s)"]
    )
    _, body, _ = await running.call("POST", "/instance/restart/inst1")
    assert body == ref["POST /instance/restart/inst1 -> 200 while state connecting"]
    await eventually(lambda: running.sim.store.instances["inst1"].qr.count >= 1)
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert_same_shape(body, ref["GET /instance/connect/inst1 -> 200 (from source: QR ready)"])
    await running.sim.scan("inst1")
    _, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert body == ref["GET /instance/connect/inst1 -> 200 (from source: already open)"]
    _, body, _ = await running.call("DELETE", "/instance/logout/inst2")
    assert body == ref["DELETE /instance/logout/inst2 -> 200 (state connecting/open)"]
    _, body, _ = await running.call("DELETE", "/instance/delete/inst1")
    assert body == ref["DELETE /instance/delete/inst1 -> 200"]


async def test_websocket_webhook_rows(running: Running) -> None:
    """§5.1, §5.3: websocket/set and webhook/set rows."""
    ref = responses()
    await running.create("inst1")
    ws_key = "POST /websocket/set/inst1 {websocket:{enabled:true,events:[...]}} -> 201"
    events = ref[ws_key]["events"]
    _, row, _ = await running.call(
        "POST", "/websocket/set/inst1", json_body={"websocket": {"enabled": True, "events": events}}
    )
    assert_same_shape(row, ref[ws_key])
    hook_ref = ref["POST /webhook/set/inst1 -> 201"]
    body = {
        "webhook": {
            "enabled": True,
            "url": hook_ref["url"],
            "headers": hook_ref["headers"],
            "events": hook_ref["events"],
        }
    }
    _, row, _ = await running.call("POST", "/webhook/set/inst1", json_body=body)
    assert_same_shape(row, hook_ref)


async def test_error_bodies_exactly(running: Running) -> None:
    """§1, §2, §4, §5: every error body in the samples, byte for byte as JSON."""
    errors = responses()["errors"]
    await running.create("inst1")
    cases: list[tuple[str, str, str, str | None, Any]] = [
        ("401 missing or wrong apikey", "GET", "/instance/connectionState/inst1", None, None),
        ("404 unknown instance (checked BEFORE auth)", "GET", "/instance/connect/nope", None, None),
        (
            "404 fetchInstances?instanceName=unknown",
            "GET",
            "/instance/fetchInstances?instanceName=nope",
            KEY,
            None,
        ),
        (
            "403 create with a taken name (checked BEFORE auth)",
            "POST",
            "/instance/create",
            None,
            {"instanceName": "inst1", "integration": "WHATSAPP-BAILEYS"},
        ),
        ("400 create without integration", "POST", "/instance/create", KEY, {"instanceName": "x"}),
        (
            "400 schema violation (note the DOUBLE array)",
            "POST",
            "/websocket/set/inst1",
            KEY,
            {"websocket": {"enabled": True, "events": ["CONNECTION_UPDATE", "NOPE"]}},
        ),
        (
            "400 webhook/set without webhook wrapper",
            "POST",
            "/webhook/set/inst1",
            KEY,
            {"url": "http://x"},
        ),
        (
            "400 webhook/set without url",
            "POST",
            "/webhook/set/inst1",
            KEY,
            {"webhook": {"enabled": True}},
        ),
        (
            "400 websocket/set without enabled",
            "POST",
            "/websocket/set/inst1",
            KEY,
            {"websocket": {"events": []}},
        ),
        (
            "500 websocket/set with FLAT body {enabled,events} (pre-2.1 shape)",
            "POST",
            "/websocket/set/inst1",
            KEY,
            {"enabled": True, "events": ["CONNECTION_UPDATE"]},
        ),
        (
            "500 websocket/set {websocket:{enabled:true}} without events",
            "POST",
            "/websocket/set/inst1",
            KEY,
            {"websocket": {"enabled": True}},
        ),
        ("404 unknown route", "PUT", "/instance/restart/inst1", KEY, None),
    ]
    for label, method, path, key, body in cases:
        expected = errors[label]
        status, got, _ = await running.call(method, path, key=key, json_body=body)
        assert (status, got) == (expected["status"], expected), label


async def test_socket_rejection_bodies(running: Running) -> None:
    """§6.3: handshake rejection bodies as in the samples."""
    ref = responses()["socketio_handshake_rejections"]
    url = running.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        for label, headers in [
            ("polling, no apikey (not from WEBSOCKET_ALLOWED_HOSTS)", {}),
            ("polling, wrong apikey", {"apikey": "wrong"}),
        ]:
            async with http.get(url, headers=headers) as resp:
                assert resp.status == ref[label]["http_status"]
                assert await resp.json() == ref[label]["body"]
