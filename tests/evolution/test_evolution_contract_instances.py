"""Contract tests: the client against the simulator, instance routes (docs/upstream.md §2, §3).

Each test drives the real client against ``simulator`` listening on 127.0.0.1 and checks
both the typed result and, from the simulator's call log, what actually reached "Evolution".
"""

from __future__ import annotations

import logging
import uuid

import pytest

from relay.errors import UpstreamInstanceNotFound, UpstreamNameTaken, UpstreamRejected
from relay.evolution.names import EVENTS_2_3
from simulator import PresetInstance
from tests.support import eventually

from .conftest import Upstream, UpstreamFactory
from .fakes import SIM_APIKEY


async def test_server_info(upstream: Upstream) -> None:
    """docs/upstream.md §3 (``GET /``) and §10: the version decides body shapes and event names."""
    info = await upstream.client.server_info()
    assert (info.version, info.version_tuple, info.upstream_status) == ("2.3.6", (2, 3, 6), 200)
    assert info.nested_event_config
    await upstream.client.server_info()
    assert len(upstream.calls("GET", "/")) == 1


async def test_create(upstream: Upstream) -> None:
    """docs/upstream.md §3.1: 201 with ``instance.instanceId``; integration WHATSAPP-BAILEYS; the
    JSON body is read (Content-Type set), so the given token is stored."""
    created = await upstream.client.create("inst1", token="inst1-token")
    assert created.name == "inst1"
    assert created.status == "close"
    assert created.upstream_status == 201
    uuid.UUID(created.instance_id)
    [call] = upstream.calls("POST", "/instance/create")
    assert call.body == {
        "instanceName": "inst1",
        "integration": "WHATSAPP-BAILEYS",
        "token": "inst1-token",
    }
    assert upstream.sim.instance("inst1").token == "inst1-token"
    assert "inst1-token" not in repr(created) and "inst1-token" not in created.model_dump_json()


async def test_create_with_events_inline(upstream: Upstream) -> None:
    """docs/upstream.md §3.1, §11.5: inline websocket config always carries an ``events`` array."""
    await upstream.client.create("withws", events=["CONNECTION_UPDATE", "INSTANCE_CREATE"])
    await upstream.client.create("allws", events=[])
    bodies = [c.body for c in upstream.calls("POST", "/instance/create")]
    assert bodies[0]["websocket"] == {
        "enabled": True,
        "events": ["CONNECTION_UPDATE", "INSTANCE_CREATE"],
    }
    assert bodies[1]["websocket"] == {"enabled": True, "events": []}
    stored = await upstream.client.find_websocket("allws")
    assert stored is not None and stored.events == list(EVENTS_2_3)


async def test_create_name_taken(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §2, §3.1: a name in use gives 403 "already in use"; after the grace
    period it is ``UpstreamNameTaken`` carrying the upstream status and message."""
    up = await make_upstream(
        presets=[PresetInstance("taken")], client={"name_taken_grace": 0.2, "retry_delay": 0.05}
    )
    with pytest.raises(UpstreamNameTaken) as caught:
        await up.client.create("taken")
    assert caught.value.upstream_status == 403
    assert caught.value.upstream_message == 'This name "taken" is already in use.'
    assert len(up.calls("POST", "/instance/create")) >= 2


async def test_create_retried_after_delete(upstream: Upstream) -> None:
    """docs/upstream.md §3.5, §11.8: delete is asynchronous, so a create right after it first gets
    403 "already in use"; the client retries until the name is free."""
    await upstream.client.create("again")
    await upstream.client.delete("again")
    created = await upstream.client.create("again")
    assert created.upstream_status == 201
    statuses = [c.status for c in upstream.calls("POST", "/instance/create")]
    assert statuses[0] == 201 and statuses[-1] == 201
    assert 403 in statuses[1:-1]


async def test_fetch_instances(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.6: rows as ``UpstreamInstance``; the token is never kept."""
    up = await make_upstream(
        presets=[
            PresetInstance("a", state="open", token="a-secret-token", profile_name="Ana"),
            PresetInstance("b", websocket_events=None),
        ]
    )
    rows = await up.client.fetch_instances()
    assert [r.name for r in rows] == ["a", "b"]
    a, b = rows
    assert (a.connection_status, a.profile_name, a.upstream_status) == ("open", "Ana", 200)
    assert a.owner_jid is not None and a.owner_jid.endswith("@s.whatsapp.net")
    assert a.websocket_enabled is True and a.websocket_events == list(EVENTS_2_3)
    assert b.websocket_enabled is None and b.connection_status == "close"
    assert "a-secret-token" not in repr(rows) and "a-secret-token" not in a.model_dump_json()
    [only] = await up.client.fetch_instances("b")
    assert only.id == b.id
    assert up.calls("GET", "/instance/fetchInstances")[-1].query == {"instanceName": "b"}


async def test_fetch_instances_unknown_name(upstream: Upstream) -> None:
    """docs/upstream.md §3.6: ``?instanceName=`` of an unknown name is 404; the client: ``[]``."""
    assert await upstream.client.fetch_instances("nope") == []
    assert upstream.calls("GET", "/instance/fetchInstances")[0].status == 404


async def test_connect_closed(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.2: connect on ``close`` starts pairing; the reply may hold only
    ``count``; the live state becomes ``connecting``."""
    up = await make_upstream(presets=[PresetInstance("c")], first_qr_delay=10.0)
    result = await up.client.connect("c")
    assert (result.count, result.state, result.base64, result.upstream_status) == (
        0,
        None,
        None,
        200,
    )
    state = await up.client.connection_state("c")
    assert (state.name, state.state, state.upstream_status) == ("c", "connecting", 200)


async def test_connect_with_qr_and_pairing_code(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.2, §7.2: once a QR exists, connect returns it; ``number`` asks for a
    pairing code."""
    up = await make_upstream(presets=[PresetInstance("q")])
    await up.client.connect("q", number="5511999990000")
    assert up.calls("GET", "/instance/connect/q")[0].query == {"number": "5511999990000"}

    async def qr_ready() -> object:
        result = await up.client.connect("q")
        return result if result.code else None

    result = await eventually(qr_ready)
    assert result.base64.startswith("data:image/png;base64,")
    assert result.count >= 1 and result.pairing_code


async def test_connect_open(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.2: connect on ``open`` answers ``{"instance": {"state": "open"}}``."""
    up = await make_upstream(presets=[PresetInstance("o", state="open")])
    result = await up.client.connect("o")
    assert (result.state, result.count) == ("open", None)


async def test_connection_state_open_after_scan(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3, §9: connectionState is the live state: close → connecting → open."""
    up = await make_upstream(presets=[PresetInstance("s")])
    assert (await up.client.connection_state("s")).state == "close"
    await up.client.connect("s")
    await up.sim.scan("s")
    assert (await up.client.connection_state("s")).state == "open"


async def test_restart_connecting(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.3: restart of a ``connecting`` instance answers like connect."""
    up = await make_upstream(presets=[PresetInstance("r", state="connecting")])
    result = await up.client.restart("r")
    assert result.upstream_status == 200 and result.count == 0
    assert [c.method for c in up.calls(path_prefix="/instance/")] == ["POST"]


async def test_restart_closed_falls_back_to_connect(
    make_upstream: UpstreamFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/upstream.md §3.3, §11.2, §11.4: restart of a closed instance is HTTP 200
    ``{"error": true, "message": "[object Object]"}``; the client connects instead (INFO)."""
    caplog.set_level(logging.INFO, logger="relay.evolution")
    up = await make_upstream(presets=[PresetInstance("z")])
    result = await up.client.restart("z")
    assert result.upstream_status == 200
    assert [(c.method, c.path, c.status) for c in up.calls(path_prefix="/instance/")] == [
        ("POST", "/instance/restart/z", 200),
        ("GET", "/instance/connect/z", 200),
    ]
    assert (await up.client.connection_state("z")).state == "connecting"
    [line] = [r for r in caplog.records if "connecting it instead" in r.getMessage()]
    assert line.levelno == logging.INFO and "z" in line.getMessage()


async def test_logout_connected(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.4: logout of an ``open`` instance is 200; the instance stays, closed."""
    up = await make_upstream(presets=[PresetInstance("l", state="open")])
    result = await up.client.logout("l")
    assert (result.already_logged_out, result.upstream_status) == (False, 200)

    async def closed() -> bool:
        return (await up.client.connection_state("l")).state == "close"

    await eventually(closed)
    assert [i.name for i in await up.client.fetch_instances("l")] == ["l"]


async def test_logout_closed_is_already_logged_out(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.4, §11.4: 400 "is not connected" counts as already logged out."""
    up = await make_upstream(presets=[PresetInstance("lc")])
    result = await up.client.logout("lc")
    assert (result.already_logged_out, result.upstream_status) == (True, 400)


async def test_delete(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §3.5: 200, then (asynchronously) 404, i.e. ``UpstreamInstanceNotFound``."""
    up = await make_upstream(presets=[PresetInstance("d", state="open")])
    result = await up.client.delete("d")
    assert result.upstream_status == 200

    async def gone() -> bool:
        try:
            await up.client.connection_state("d")
        except UpstreamInstanceNotFound:
            return True
        return False

    await eventually(gone)
    with pytest.raises(UpstreamInstanceNotFound) as caught:
        await up.client.delete("d")
    assert caught.value.upstream_status == 404
    assert caught.value.upstream_message == 'The "d" instance does not exist'


@pytest.mark.parametrize(
    "call",
    [
        "connect",
        "connection_state",
        "restart",
        "logout",
        "delete",
        "find_websocket",
        "find_webhook",
    ],
)
async def test_404_means_gone_whatever_the_key(make_upstream: UpstreamFactory, call: str) -> None:
    """docs/upstream.md §2 (guard order), §3, §11.3: an unknown name is 404 even with a wrong key,
    and every ``{name}`` route reports it as ``UpstreamInstanceNotFound``."""
    up = await make_upstream(client={"apikey": "definitely-wrong"})
    with pytest.raises(UpstreamInstanceNotFound) as caught:
        await getattr(up.client, call)("ghost")
    assert caught.value.upstream_status == 404
    [reached] = up.calls(path_prefix="/instance/") or up.calls(path_prefix="/web")
    assert reached.authorized is False


async def test_wrong_key_on_existing_instance(make_upstream: UpstreamFactory) -> None:
    """docs/upstream.md §1, §2: past the existence guard a wrong key is 401 with a *string*
    message; it is a rejection, not "gone"."""
    up = await make_upstream(
        presets=[PresetInstance("k")], client={"apikey": "wrong-" + SIM_APIKEY}
    )
    with pytest.raises(UpstreamRejected) as caught:
        await up.client.connection_state("k")
    assert not isinstance(caught.value, UpstreamInstanceNotFound)
    assert (caught.value.upstream_status, caught.value.upstream_message) == (401, "Unauthorized")
