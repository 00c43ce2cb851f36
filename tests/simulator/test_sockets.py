"""Socket.IO output with a real python-socketio client (docs/upstream.md §6)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import socketio

from simulator import PresetInstance
from tests.simulator.conftest import KEY, Listen, MakeSim, Running, eventually

WS_EVENTS = ["CONNECTION_UPDATE", "QRCODE_UPDATED", "INSTANCE_DELETE", "REMOVE_INSTANCE"]


async def refused(url: str, namespace: str, key: str | None = KEY) -> list[Any]:
    """Connect to ``namespace`` and return the connect_error payloads it got."""
    errors: list[Any] = []

    async def on_error(data: Any) -> None:
        errors.append(data)

    async with aiohttp.ClientSession() as http:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        client.on("connect_error", on_error, namespace=namespace)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                url,
                headers={"apikey": key} if key else {},
                namespaces=[namespace],
                transports=["websocket"],
                wait_timeout=5,
            )
        if client.connected:
            await client.disconnect()
    return errors


async def rejected(url: str, **kwargs: Any) -> None:
    """The python-socketio client only reports a connection error."""
    async with aiohttp.ClientSession() as http:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(url, wait_timeout=5, **kwargs)


async def test_namespace_is_lazy(running: Running, listen: Listen) -> None:
    """§6.4: connecting to /{name} before its first per-instance emit fails with
    "Invalid namespace"; after an emit the same connect works and gets events."""
    await running.create("inst1", websocket={"enabled": True, "events": ["QRCODE_UPDATED"]})
    assert await refused(running.url, "/inst1") == [{"message": "Invalid namespace"}]
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    listener = await listen(running.url, "/inst1")
    payload = await listener.wait_for("qrcode.updated")
    assert payload["instance"] == "inst1"


async def test_instance_create_opens_namespace_when_listed(running: Running) -> None:
    """§7.3: instance.create reaches /{name} only if the inline config lists INSTANCE_CREATE."""
    await running.create("with", websocket={"enabled": True, "events": ["INSTANCE_CREATE"]})
    await running.create("without", websocket={"enabled": True, "events": ["CONNECTION_UPDATE"]})
    assert running.sim.namespaces == {"/with"}


async def test_restart_forgets_namespaces(make_sim: MakeSim, listen: Listen) -> None:
    """§6.4: after a server restart per-instance namespaces are invalid until their next
    event (issue 3 "Restart test")."""
    running = await make_sim(
        [PresetInstance("inst1", state="connecting", websocket_events=tuple(WS_EVENTS))],
        autoconnect_on_restart=False,
    )
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    first = await listen(running.url, "/inst1")
    await running.sim.restart()
    await eventually(lambda: not first.client.connected)
    assert await refused(running.url, "/inst1") == [{"message": "Invalid namespace"}]
    await running.call("GET", "/instance/connect/inst1")
    second = await listen(running.url, "/inst1")
    await second.wait_for("qrcode.updated")


async def test_per_instance_delivery_follows_config(running: Running, listen: Listen) -> None:
    """§6.4: /{name} gets only the events its stored config lists."""
    await running.create("inst1")
    await running.call(
        "POST",
        "/websocket/set/inst1",
        json_body={"websocket": {"enabled": True, "events": ["CONNECTION_UPDATE"]}},
    )
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    listener = await listen(running.url, "/inst1")
    await eventually(lambda: any(e.event == "qrcode.updated" for e in running.sim.machine.emitted))
    await running.sim.scan("inst1")
    await listener.wait_for("connection.update", state="open")
    assert "qrcode.updated" not in listener.names()


async def test_global_mode_carries_everything(make_sim: MakeSim, listen: Listen) -> None:
    """§6.4: global mode emits every event of every instance on "/", config or not."""
    running = await make_sim(global_events=True)
    listener = await listen(running.url, "/")
    await running.create("inst1")
    await running.call("GET", "/instance/connect/inst1")
    await listener.wait_for("instance.create")
    payload = await listener.wait_for("qrcode.updated")
    assert payload["instance"] == "inst1"
    assert running.sim.namespaces == set()


async def test_delete_events_on_namespace(running: Running, listen: Listen) -> None:
    """§3.5, §6.4: instance.delete then remove.instance reach /{name}."""
    await running.create("inst3", websocket={"enabled": True, "events": WS_EVENTS})
    await running.call("GET", "/instance/connect/inst3")
    await eventually(lambda: "/inst3" in running.sim.namespaces)
    listener = await listen(running.url, "/inst3")
    await running.call("DELETE", "/instance/delete/inst3")
    await listener.wait_for("remove.instance")
    tail = [n for n in listener.names() if n in ("instance.delete", "remove.instance")]
    assert tail == ["instance.delete", "remove.instance"]


async def test_zombie_events_after_delete(make_sim: MakeSim, listen: Listen) -> None:
    """§3.5 caveat: with the zombie option, global mode keeps getting connection.update for
    a deleted name; the deleted instance's namespace does not."""
    running = await make_sim(global_events=True, zombie_events=True, delete_delay=0.05)
    await running.create("inst1")
    listener = await listen(running.url, "/")
    await running.call("DELETE", "/instance/delete/inst1")
    await eventually(lambda: running.sim.store.get("inst1") is None)
    count = len(listener.events)
    await eventually(lambda: len(listener.events) > count)
    assert listener.events[-1][0] == "connection.update"
    assert listener.events[-1][1]["instance"] == "inst1"


@pytest.mark.parametrize("via", ["header", "query"])
async def test_apikey_by_header_or_query(make_sim: MakeSim, listen: Listen, via: str) -> None:
    """§6.3: the handshake apikey is accepted as a query param or an ``apikey`` header."""
    running = await make_sim()
    listener = await listen(running.url, "/", via=via)
    assert listener.client.connected


async def test_any_instance_token_is_accepted(running: Running, listen: Listen) -> None:
    """§6.3: KEY may be any instance's token, whatever namespace it joins."""
    await running.create("inst1", token="tok1")
    listener = await listen(running.url, "/", key="tok1")
    assert listener.client.connected


async def test_handshake_rejections(running: Running) -> None:
    """§6.3: polling handshake without or with a wrong key → 403 {"code":4,...}; the
    python-socketio client only sees a connection error."""
    async with aiohttp.ClientSession() as http:
        async with http.get(running.url + "/socket.io/?EIO=4&transport=polling") as resp:
            assert resp.status == 403
            assert await resp.json() == {"code": 4, "message": "apiKey is required"}
        async with http.get(
            running.url + "/socket.io/?EIO=4&transport=polling", headers={"apikey": "wrong"}
        ) as resp:
            assert resp.status == 403
            assert await resp.json() == {"code": 4, "message": "Invalid global token"}
    await rejected(running.url, transports=["websocket"])
    await rejected(running.url, transports=["polling"])


async def test_websocket_upgrade_rejection_is_plain_400(running: Running) -> None:
    """§6.3: a websocket handshake without a key → HTTP 400 with a plain-text body."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.get(running.url + "/socket.io/?EIO=4&transport=websocket", headers=headers) as resp,
    ):
        assert resp.status == 400
        assert await resp.text() == "apiKey is required"


async def test_allowed_hosts_bypass(make_sim: MakeSim, listen: Listen) -> None:
    """§6.2, §6.3: a peer in WEBSOCKET_ALLOWED_HOSTS connects with no key."""
    running = await make_sim(allowed_hosts=("127.0.0.1",))
    listener = await listen(running.url, "/", key=None)
    assert listener.client.connected


async def test_auth_payload_is_ignored(running: Running) -> None:
    """§6.3: the Socket.IO ``auth`` payload does not count as a key."""
    await rejected(running.url, auth={"apikey": KEY}, transports=["polling"])


async def test_delete_events_reach_clients_before_the_reply(
    make_sim: MakeSim, listen: Listen
) -> None:
    """§12: instance.delete and remove.instance are emitted before the HTTP 200 of the
    delete: a client on "/" and one on "/{name}" hold them when the reply is read."""
    running = await make_sim(global_events=True)
    await running.create("inst1", websocket={"enabled": True, "events": WS_EVENTS})
    await running.call("GET", "/instance/connect/inst1")
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    everything = await listen(running.url, "/")
    own = await listen(running.url, "/inst1")
    status, _, _ = await running.call("DELETE", "/instance/delete/inst1")
    assert status == 200
    for listener in (everything, own):
        names = listener.names()
        assert names[-2:] == ["instance.delete", "remove.instance"]
        # It was pairing, so it was logged out first (§3.5).
        assert names[-3] == "connection.update"
    _, rows, _ = await running.call("GET", "/instance/fetchInstances")
    assert [r["name"] for r in rows] == ["inst1"]  # the row lingers for delete_delay


async def test_engineio_socket_queue_is_still_there(running: Running, listen: Listen) -> None:
    """Guard for the python-engineio internal SocketHub.flush leans on: each server-side
    socket has an asyncio queue whose ``join`` tells when its writer took the packets."""
    await listen(running.url, "/")
    hub = running.sim._hub
    assert hub is not None
    sockets = list(hub._sio.eio.sockets.values())
    assert sockets
    for socket in sockets:
        assert callable(socket.queue.join)


def _both(client: socketio.AsyncClient, seen: list[tuple[str, str, Any]], name: str) -> None:
    for namespace in ("/", "/" + name):

        async def record(event: str, data: Any, namespace: str = namespace) -> None:
            seen.append((namespace, event, data))

        client.on("*", record, namespace=namespace)


async def test_enabled_false_silences_the_namespace(make_sim: MakeSim) -> None:
    """§6.4, §12: websocket/set with ``enabled:false`` stores ``enabled:false, events:[]``;
    "/{name}" then receives nothing, status events included, while global "/" gets all;
    enabling again restores delivery. One client on both namespaces, so what it records is
    in the order the server sent it."""
    running = await make_sim(
        [PresetInstance("inst1", state="connecting")], global_events=True, first_qr_delay=60.0
    )
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    seen: list[tuple[str, str, Any]] = []
    async with aiohttp.ClientSession() as http:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        _both(client, seen, "inst1")
        await client.connect(
            running.url,
            headers={"apikey": KEY},
            namespaces=["/", "/inst1"],
            transports=["websocket"],
            wait_timeout=5,
        )
        try:
            status, row, _ = await running.call(
                "POST",
                "/websocket/set/inst1",
                json_body={"websocket": {"enabled": False, "events": ["CONNECTION_UPDATE"]}},
            )
            assert (status, row["enabled"], row["events"]) == (201, False, [])
            await running.sim.emit("inst1", "chats.upsert", "off")
            await running.sim.scan("inst1")
            await running.sim.drop("inst1", 401)
            await running.sim.emit("inst1", "chats.upsert", "still-off")
            await eventually(lambda: ("/", "chats.upsert") in [(n, e) for n, e, _ in seen[-1:]])

            start = next(i for i, (n, _, d) in enumerate(seen) if d["data"] == "off")
            window = seen[start:]
            assert {n for n, _, _ in window} == {"/"}
            assert [e for _, e, _ in window] == [
                "chats.upsert",
                "connection.update",
                "status.instance",
                "connection.update",
                "chats.upsert",
            ]

            await running.call(
                "POST",
                "/websocket/set/inst1",
                json_body={"websocket": {"enabled": True, "events": []}},
            )
            await running.sim.emit("inst1", "chats.upsert", "on")
            await eventually(lambda: ("/inst1", "chats.upsert") in [(n, e) for n, e, _ in seen])
        finally:
            await client.disconnect()
