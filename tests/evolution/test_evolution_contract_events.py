"""Contract tests: websocket/webhook config, event names and failures on the wire
(docs/upstream.md §1, §4, §5, §11), the client against the simulator on 127.0.0.1."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from relay.errors import (
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
    WebsocketOutputDisabled,
)
from relay.evolution import WebhookConfig
from relay.evolution.names import EVENTS_2_3
from simulator import Fault, PresetInstance

from .conftest import Upstream, UpstreamFactory
from .fakes import SIM_APIKEY

ONE = [PresetInstance("w", websocket_events=None)]


async def test_set_websocket_nested_body(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §5.1, §10: on 2.3.6 the body is ``{"websocket": {enabled, events}}``;
    201 returns the saved row."""
    up = await make_upstream(presets=ONE)
    config = await up.client.set_websocket("w", True, ["CONNECTION_UPDATE", "QRCODE_UPDATED"])
    assert (config.enabled, config.events, config.upstream_status) == (
        True,
        ["CONNECTION_UPDATE", "QRCODE_UPDATED"],
        201,
    )
    [call] = up.calls("POST", "/websocket/set/w")
    assert call.body == {
        "websocket": {"enabled": True, "events": ["CONNECTION_UPDATE", "QRCODE_UPDATED"]}
    }
    assert call.status == 201


async def test_set_websocket_events_always_an_array(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §4, §5.1, §11.5: ``events`` is sent as an array even when empty or when
    disabling; ``[]`` with ``enabled:true`` stores all 31, ``enabled:false`` stores ``[]``."""
    up = await make_upstream(presets=ONE)
    everything = await up.client.set_websocket("w", True, [])
    assert everything.events == list(EVENTS_2_3)
    off = await up.client.set_websocket("w", False, [])
    assert (off.enabled, off.events) == (False, [])
    bodies = [c.body for c in up.calls("POST", "/websocket/set/w")]
    assert bodies == [
        {"websocket": {"enabled": True, "events": []}},
        {"websocket": {"enabled": False, "events": []}},
    ]
    assert all(c.status == 201 for c in up.calls("POST", "/websocket/set/w"))


async def test_find_websocket(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §5.2: ``null`` before any set (None), then the saved row."""
    up = await make_upstream(presets=ONE)
    assert await up.client.find_websocket("w") is None
    await up.client.set_websocket("w", True, ["CALL"])
    found = await up.client.find_websocket("w")
    assert found is not None
    assert (found.enabled, found.events, found.upstream_status) == (True, ["CALL"], 200)


async def test_websocket_output_disabled(
    make_upstream: UpstreamFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/upstream.md §5.1, §11.2: with ``WEBSOCKET_ENABLED=false`` set and find answer an empty
    body; the client raises ``WebsocketOutputDisabled`` and says so in the log."""
    caplog.set_level(logging.INFO, logger="relay.evolution")
    up = await make_upstream(presets=ONE, websocket_enabled=False)
    with pytest.raises(WebsocketOutputDisabled) as caught:
        await up.client.set_websocket("w", True, ["CONNECTION_UPDATE"])
    assert str(caught.value) == WebsocketOutputDisabled.default_message
    with pytest.raises(WebsocketOutputDisabled):
        await up.client.find_websocket("w")
    assert [c.status for c in up.calls(path_prefix="/websocket/")] == [201, 200]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("websocket output is disabled on the Evolution server" in m for m in lines)
    assert all("w" in m for m in lines)


async def test_set_and_find_webhook(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §5.3: nested ``{"webhook": {...}}`` body with ``byEvents``/``base64``;
    find returns ``null`` before a set, then the row."""
    up = await make_upstream(presets=ONE)
    assert await up.client.find_webhook("w") is None
    wanted = WebhookConfig(
        enabled=True,
        url="http://127.0.0.1:9/hook",
        events=["CONNECTION_UPDATE"],
        headers={"x-test": "1"},
        by_events=True,
    )
    saved = await up.client.set_webhook("w", wanted)
    assert saved.upstream_status == 201
    assert saved.model_dump(exclude={"upstream_status"}) == wanted.model_dump(
        exclude={"upstream_status"}
    )
    [call] = up.calls("POST", "/webhook/set/w")
    assert call.body == {
        "webhook": {
            "enabled": True,
            "url": "http://127.0.0.1:9/hook",
            "events": ["CONNECTION_UPDATE"],
            "headers": {"x-test": "1"},
            "byEvents": True,
            "base64": False,
        }
    }
    found = await up.client.find_webhook("w")
    assert found is not None and found.url == wanted.url and found.upstream_status == 200
    assert "x-test" not in repr(found)  # headers may hold a receiver's secret


async def test_webhook_events_array_when_empty(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §5.3, §11.5: webhook ``events`` is an array too; ``[]`` means all."""
    up = await make_upstream(presets=ONE)
    saved = await up.client.set_webhook("w", WebhookConfig(enabled=True, url="https://h/x"))
    assert saved.events == list(EVENTS_2_3)
    [call] = up.calls("POST", "/webhook/set/w")
    assert call.body["webhook"]["events"] == []


async def test_event_names_validated_before_any_call(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §4, §10: names are checked against the server version's 31 before the set
    call; every invalid one is listed (``GROUPS_UPDATE`` is the classic trap) and no set,
    create or webhook call reaches the server."""
    up = await make_upstream(presets=ONE)
    with pytest.raises(ValidationFailed) as caught:
        await up.client.set_websocket("w", True, ["CONNECTION_UPDATE", "GROUPS_UPDATE", "nope"])
    assert len(caught.value.problems) == 2
    assert '"GROUPS_UPDATE"' in caught.value.problems[0] and '"nope"' in caught.value.problems[1]
    with pytest.raises(ValidationFailed):
        await up.client.set_webhook("w", WebhookConfig(enabled=True, url="http://h", events=["X"]))
    with pytest.raises(ValidationFailed):
        await up.client.create("new", events=["connection.update"])
    assert [(c.method, c.path) for c in up.calls()] == [("GET", "/")]
    await up.client.validate_events(list(EVENTS_2_3))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Cannot read properties of undefined", "Cannot read properties of undefined"),
        (['The "w" instance is busy'], 'The "w" instance is busy'),
        ([['websocket requires property "enabled"']], 'websocket requires property "enabled"'),
    ],
    ids=["string", "array", "array-of-arrays"],
)
async def test_message_shapes(make_upstream: UpstreamFactory, message: Any, expected: str) -> None:
    """docs/upstream.md §1, §11.1: ``response.message`` as a string, array or array of arrays
    becomes one readable ``upstream_message``."""
    up = await make_upstream(presets=ONE)
    up.sim.faults.add(Fault(status=400, message=message, path_prefix="/websocket/set/"))
    with pytest.raises(UpstreamRejected) as caught:
        await up.client.set_websocket("w", True, ["CALL"])
    assert (caught.value.upstream_status, caught.value.upstream_message) == (400, expected)


async def test_500_is_rejected(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §1: a thrown error is 500 with a string message → ``UpstreamRejected``."""
    up = await make_upstream(presets=ONE)
    up.sim.faults.add(Fault(status=500, message="boom", path_prefix="/instance/connectionState/"))
    with pytest.raises(UpstreamRejected) as caught:
        await up.client.connection_state("w")
    assert (caught.value.upstream_status, caught.value.upstream_message) == (500, "boom")


async def test_slow_server_times_out(make_upstream: UpstreamFactory) -> None:
    """docs/api.md 504 (``RELAY_EVOLUTION_TIMEOUT``): a reply after the timeout is
    ``UpstreamTimeout``."""
    up = await make_upstream(presets=ONE, client={"request_timeout": 0.2})
    up.sim.faults.add(Fault(status=None, delay=0.6, path_prefix="/instance/connect/"))
    with pytest.raises(UpstreamTimeout):
        await up.client.connect("w")


async def test_unreachable(make_upstream: UpstreamFactory) -> None:
    """docs/api.md 503: once nothing listens on the port, every call is ``UpstreamUnavailable``."""
    up = await make_upstream(presets=ONE)
    await up.sim.stop()
    with pytest.raises(UpstreamUnavailable):
        await up.client.connection_state("w")
    with pytest.raises(UpstreamUnavailable):
        await up.client.fetch_instances()


async def test_apikey_never_leaks(
    make_upstream: UpstreamFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/upstream.md §2, docs/configuration.md (secrets never in logs or repr): over a run with
    failing calls, the key is in no log line, error text or ``repr``."""
    caplog.set_level(logging.DEBUG)
    up: Upstream = await make_upstream(presets=ONE, client={"request_timeout": 0.2})
    up.sim.faults.add(Fault(status=500, message="boom", path_prefix="/instance/restart/"))
    up.sim.faults.add(Fault(status=None, delay=0.5, path_prefix="/instance/connect/"))
    errors: list[Exception] = []
    for attempt in (
        up.client.restart("w"),
        up.client.connect("w"),
        up.client.delete("ghost"),
        up.client.set_websocket("w", True, ["BAD"]),
    ):
        try:
            await attempt
        except Exception as exc:
            errors.append(exc)
    await up.client.create("fine", events=["CALL"])
    await up.client.fetch_instances()
    await up.sim.stop()
    try:
        await up.client.fetch_instances()
    except UpstreamUnavailable as exc:
        errors.append(exc)
    assert len(errors) == 5
    texts = [repr(up.client), caplog.text]
    for err in errors:
        texts += [str(err), repr(err), str(err.__cause__), repr(err.__cause__)]
    assert all(SIM_APIKEY not in text for text in texts)
    assert all(c.authorized for c in up.calls() if c.path != "/instance/delete/ghost")
