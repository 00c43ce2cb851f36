"""The client against a scripted Evolution: versions, odd bodies and failures on the wire.

These cover what the simulator cannot be made to do: a pre-2.1 or 2.2 server, proxy pages,
every message shape on demand, a server that never answers, and a port with nothing on it.
"""

from __future__ import annotations

import json
import logging

import pytest

from relay.errors import (
    UpstreamInstanceNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from relay.evolution import WebhookConfig
from relay.evolution.names import EVENTS_2_2, EVENTS_2_3

from .fakes import APIKEY, Canned, ClientFactory, FakeFactory


def _envelope(status: int, message: object) -> dict[str, object]:
    return {"status": status, "error": "Error", "response": {"message": message}}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Cannot read properties of undefined (reading 'length')",
            "Cannot read properties of undefined (reading 'length')",
        ),
        (['The "x" instance is busy', "try later"], 'The "x" instance is busy; try later'),
        (
            [["websocket.events[1] is not one of enum values: A,B"], ["second"]],
            "websocket.events[1] is not one of enum values: A,B; second",
        ),
    ],
    ids=["string", "array", "array-of-arrays"],
)
async def test_message_shapes(
    fake_evolution: FakeFactory, evolution_client: ClientFactory, message: object, expected: str
) -> None:
    """docs/upstream.md §1, §11.1: ``response.message``: a string, an array, an array of arrays."""
    fake = await fake_evolution()
    fake.reply("POST", "/websocket/set/x", Canned(400, _envelope(400, message)))
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.set_websocket("x", True, ["CONNECTION_UPDATE"])
    assert caught.value.upstream_status == 400
    assert caught.value.upstream_message == expected
    assert expected in str(caught.value)


async def test_non_json_error_body(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §1: a body that is not JSON (a proxy's 502 page) is an error, no crash."""
    fake = await fake_evolution()
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    fake.reply(
        "GET", "/instance/connectionState/x", Canned(502, raw=html, content_type="text/html")
    )
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.connection_state("x")
    assert caught.value.upstream_status == 502
    assert "502 Bad Gateway" in caught.value.upstream_message


async def test_non_json_success_body(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §1: a 200 that is not JSON is reported as a rejected call."""
    fake = await fake_evolution()
    fake.reply("GET", "/instance/connect/x", Canned(200, raw=b"OK", content_type="text/plain"))
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.connect("x")
    assert caught.value.upstream_status == 200


async def test_proxy_404_is_not_instance_gone(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §1, §11.3: only Evolution's envelope 404 means "gone"; a route 404 or an
    HTML 404 from a proxy must not make callers forget an instance."""
    fake = await fake_evolution()
    fake.reply(
        "DELETE", "/instance/delete/x", Canned(404, raw=b"<h1>nginx</h1>", content_type="text/html")
    )
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.delete("x")
    assert not isinstance(caught.value, UpstreamInstanceNotFound)
    # The fake's default is Express's "Cannot POST /..." 404 for an unknown route.
    with pytest.raises(UpstreamRejected) as caught:
        await client.restart("y")
    assert not isinstance(caught.value, UpstreamInstanceNotFound)
    assert caught.value.upstream_message == "Cannot POST /instance/restart/y"


async def test_flat_websocket_body_before_2_1(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §10, §5.1: a 2.0.x server gets the flat ``{enabled, events}`` body."""
    fake = await fake_evolution(version="2.0.10")
    row = {"id": "r1", "enabled": True, "events": ["CONNECTION_UPDATE"], "instanceId": "i"}
    fake.reply("POST", "/websocket/set/x", Canned(201, row))
    client = await evolution_client(fake.url)
    config = await client.set_websocket("x", True, ["CONNECTION_UPDATE"])
    assert (config.enabled, config.events, config.upstream_status) == (
        True,
        ["CONNECTION_UPDATE"],
        201,
    )
    [call] = fake.calls_to("POST", "/websocket/set/x")
    assert call.json() == {"enabled": True, "events": ["CONNECTION_UPDATE"]}
    assert call.headers["Content-Type"] == "application/json"


async def test_flat_webhook_body_before_2_1(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §10, §5.3: a 2.0.x server gets the webhook config flat as well."""
    fake = await fake_evolution(version="2.0.10")
    row = {"url": "http://h/x", "enabled": True, "events": [], "webhookByEvents": False}
    fake.reply("POST", "/webhook/set/x", Canned(201, row))
    client = await evolution_client(fake.url)
    await client.set_webhook("x", WebhookConfig(enabled=True, url="http://h/x"))
    [call] = fake.calls_to("POST", "/webhook/set/x")
    assert call.json() == {
        "enabled": True,
        "url": "http://h/x",
        "events": [],
        "webhookByEvents": False,
        "webhookBase64": False,
    }


async def test_create_with_events_before_2_1(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §10: before 2.1 the inline websocket shape differs, so the client creates
    without it and then sets websocket output with the flat body."""
    fake = await fake_evolution(version="2.0.10")
    created = {"instance": {"instanceName": "x", "instanceId": "id-1", "status": "close"}}
    fake.reply("POST", "/instance/create", Canned(201, created))
    fake.reply("POST", "/websocket/set/x", Canned(201, {"enabled": True, "events": ["CALL"]}))
    client = await evolution_client(fake.url)
    result = await client.create("x", events=["CALL"])
    assert result.instance_id == "id-1"
    [create] = fake.calls_to("POST", "/instance/create")
    assert "websocket" not in create.json()
    [ws] = fake.calls_to("POST", "/websocket/set/x")
    assert ws.json() == {"enabled": True, "events": ["CALL"]}


async def test_event_names_of_2_2(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §4, §10: a 2.2.x server accepts 27 names; the 4 newer ones are refused
    before any set call reaches it, and every invalid name is listed."""
    fake = await fake_evolution(version="2.2.3")
    client = await evolution_client(fake.url)
    assert len(EVENTS_2_2) == 27
    with pytest.raises(ValidationFailed) as caught:
        await client.set_websocket(
            "x", True, ["CONNECTION_UPDATE", "INSTANCE_CREATE", "STATUS_INSTANCE"]
        )
    assert len(caught.value.problems) == 2
    assert "INSTANCE_CREATE" in caught.value.problems[0]
    assert "STATUS_INSTANCE" in caught.value.problems[1]
    with pytest.raises(ValidationFailed):
        await client.set_webhook(
            "x", WebhookConfig(enabled=True, url="http://h", events=["INSTANCE_DELETE"])
        )
    with pytest.raises(ValidationFailed):
        await client.create("x", events=["SEND_MESSAGE_UPDATE"])
    assert [c.path for c in fake.calls] == ["/"]  # only the version probe, and only once
    await client.validate_events(list(EVENTS_2_2))


async def test_unknown_version_probe_falls_back_to_newest(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3 (``GET /`` fetches web.whatsapp.com and may fail offline): the client
    then assumes 2.3 — nested body, 31 names — instead of failing the update."""
    fake = await fake_evolution()
    fake.reply("GET", "/", Canned(500, _envelope(500, "getaddrinfo ENOTFOUND web.whatsapp.com")))
    fake.reply(
        "POST", "/websocket/set/x", Canned(201, {"enabled": True, "events": ["STATUS_INSTANCE"]})
    )
    client = await evolution_client(fake.url)
    await client.set_websocket("x", True, ["STATUS_INSTANCE"])
    [call] = fake.calls_to("POST", "/websocket/set/x")
    assert call.json() == {"websocket": {"enabled": True, "events": ["STATUS_INSTANCE"]}}
    assert len(EVENTS_2_3) == 31


async def test_server_info_is_cached(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3: ``GET /`` is slow on the real server, so it is asked once."""
    fake = await fake_evolution(version="2.3.6")
    client = await evolution_client(fake.url)
    info = await client.server_info()
    again = await client.server_info()
    assert info is again
    assert (info.version, info.version_tuple, info.upstream_status) == ("2.3.6", (2, 3, 6), 200)
    assert len(fake.calls_to("GET", "/")) == 1


async def test_headers_and_encoding(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §1, §2: the ``apikey`` header on every call, JSON content type on bodies,
    and the name as one URL-encoded path segment."""
    fake = await fake_evolution()
    fake.reply(
        "GET", "/instance/connectionState/a b/c", Canned(200, {"instance": {"state": "close"}})
    )
    client = await evolution_client(fake.url)
    state = await client.connection_state("a b/c")
    assert (state.name, state.state, state.upstream_status) == ("a b/c", "close", 200)
    [call] = fake.calls
    assert call.raw_path == "/instance/connectionState/a%20b%2Fc"
    assert call.headers["apikey"] == APIKEY
    assert "Authorization" not in call.headers
    with pytest.raises(UpstreamRejected):  # the fake's route 404
        await client.connect("..")
    assert fake.calls[-1].raw_path == "/instance/connect/%2E%2E"


async def test_connect_pairing_code(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3.2: ``number`` asks for a pairing code; the QR object is read."""
    fake = await fake_evolution()
    qr = {
        "pairingCode": "ABCD1234",
        "code": "2@x",
        "base64": "data:image/png;base64,AA",
        "count": 1,
    }
    fake.reply("GET", "/instance/connect/x", Canned(200, qr))
    client = await evolution_client(fake.url)
    result = await client.connect("x", number="5511999999999")
    assert fake.calls[-1].query == {"number": "5511999999999"}
    assert (result.pairing_code, result.code, result.count, result.state) == (
        "ABCD1234",
        "2@x",
        1,
        None,
    )


async def test_timeout(fake_evolution: FakeFactory, evolution_client: ClientFactory) -> None:
    """docs/api.md 504 / docs/upstream.md §3: a server that does not answer in time →
    ``UpstreamTimeout``."""
    fake = await fake_evolution()
    fake.reply("GET", "/instance/connectionState/x", Canned(hang=True))
    client = await evolution_client(fake.url, request_timeout=0.2)
    with pytest.raises(UpstreamTimeout):
        await client.connection_state("x")


async def test_unreachable(evolution_client: ClientFactory, unused_tcp_port: int) -> None:
    """docs/api.md 503: nothing listening → ``UpstreamUnavailable`` (no upstream status)."""
    client = await evolution_client(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.fetch_instances()
    assert not hasattr(caught.value, "upstream_status")


async def test_not_started() -> None:
    """A client used before ``start()`` says so clearly."""
    from pydantic import SecretStr

    from relay.evolution import EvolutionClient

    client = EvolutionClient("http://127.0.0.1:1", SecretStr(APIKEY), 1.0)
    with pytest.raises(RuntimeError, match="not started"):
        await client.delete("x")


async def test_apikey_never_leaks(
    fake_evolution: FakeFactory,
    evolution_client: ClientFactory,
    unused_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/upstream.md §2 and docs/configuration.md (secrets never in logs or repr): not in
    ``repr``, not in any error's text (nor its cause's), not in any log line of failing calls."""
    caplog.set_level(logging.DEBUG)
    fake = await fake_evolution()
    fake.reply("GET", "/instance/connectionState/x", Canned(hang=True))
    fake.reply("DELETE", "/instance/delete/x", Canned(401, _envelope(401, "Unauthorized")))
    slow = await evolution_client(fake.url, request_timeout=0.2)
    down = await evolution_client(f"http://user:{APIKEY}@127.0.0.1:{unused_tcp_port}")
    errors: list[BaseException] = []
    for attempt in (
        slow.connection_state("x"),
        slow.delete("x"),
        slow.set_websocket("x", True, ["NOPE"]),
        down.connect("x"),
    ):
        try:
            await attempt
        except Exception as exc:
            errors.append(exc)
    assert len(errors) == 4
    texts = [
        repr(slow),
        repr(down),
        caplog.text,
        json.dumps([r.args for r in caplog.records], default=str),
    ]
    for err in errors:
        texts += [str(err), repr(err), str(err.__cause__), repr(err.__cause__)]
    for text in texts:
        assert APIKEY not in text


async def test_connect_error_200(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3.2, §11.2: connect catches its own errors and answers HTTP 200
    ``{"error": true, "message": ...}``; that is a rejection with status 200."""
    fake = await fake_evolution()
    fake.reply(
        "GET", "/instance/connect/x", Canned(200, {"error": True, "message": "[object Object]"})
    )
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.connect("x")
    assert (caught.value.upstream_status, caught.value.upstream_message) == (200, "[object Object]")


async def test_restart_fallback_connect_also_fails(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3.3: when the connect fallback of a refused restart also answers 200
    ``{"error": true}``, the caller gets that rejection, not a fake success."""
    fake = await fake_evolution()
    refused = Canned(200, {"error": True, "message": "[object Object]"})
    fake.reply("POST", "/instance/restart/x", refused)
    fake.reply("GET", "/instance/connect/x", Canned(200, {"error": True, "message": "no socket"}))
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.restart("x")
    assert (caught.value.upstream_status, caught.value.upstream_message) == (200, "no socket")
    assert [c.path for c in fake.calls] == ["/instance/restart/x", "/instance/connect/x"]


async def test_lenient_rows(fake_evolution: FakeFactory, evolution_client: ClientFactory) -> None:
    """docs/upstream.md §5.2, §5.3: stored rows are read leniently: ``events: null`` is ``[]``, and
    header values of any JSON type become strings, instead of failing the whole call."""
    fake = await fake_evolution()
    fake.reply("GET", "/websocket/find/x", Canned(200, {"enabled": False, "events": None}))
    hook = {"url": "https://h/x", "enabled": True, "events": None, "headers": {"n": 1}}
    fake.reply("GET", "/webhook/find/x", Canned(200, {**hook, "webhookByEvents": None}))
    client = await evolution_client(fake.url)
    websocket = await client.find_websocket("x")
    assert websocket is not None and (websocket.enabled, websocket.events) == (False, [])
    webhook = await client.find_webhook("x")
    assert webhook is not None
    assert (webhook.events, webhook.headers, webhook.by_events) == ([], {"n": "1"}, False)


async def test_unexpected_shape_is_rejected(
    fake_evolution: FakeFactory, evolution_client: ClientFactory
) -> None:
    """docs/upstream.md §3: a success body of the wrong shape is an ``UpstreamRejected`` carrying
    the status, not a pydantic error leaking out of the client."""
    fake = await fake_evolution()
    fake.reply("GET", "/instance/fetchInstances", Canned(200, [{"name": "no-id"}]))
    fake.reply("GET", "/instance/connectionState/x", Canned(200, {"instance": {"state": None}}))
    client = await evolution_client(fake.url)
    with pytest.raises(UpstreamRejected) as caught:
        await client.fetch_instances()
    assert caught.value.upstream_status == 200 and "id" in caught.value.upstream_message
    with pytest.raises(UpstreamRejected) as caught:
        await client.connection_state("x")
    assert caught.value.upstream_status == 200
