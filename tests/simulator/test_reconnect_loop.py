"""Baileys' reconnect loop with WhatsApp unreachable (docs/upstream.md §12), with real clients."""

from __future__ import annotations

from typing import Any

from simulator import PresetInstance
from tests.simulator.conftest import Listen, Listener, MakeSim, Running, eventually

CONNECTING = {"state": "connecting", "statusReason": 200}


def connecting_of(listener: Listener, name: str) -> list[dict[str, Any]]:
    return [
        payload
        for event, payload in listener.events
        if event == "connection.update"
        and payload["instance"] == name
        and {k: payload["data"].get(k) for k in CONNECTING} == CONNECTING
    ]


async def state_of(running: Running, name: str) -> tuple[str, str]:
    """(connectionState's state, fetchInstances' connectionStatus)."""
    _, state, _ = await running.call("GET", f"/instance/connectionState/{name}")
    _, rows, _ = await running.call(
        "GET", "/instance/fetchInstances", params={"instanceName": name}
    )
    return state["instance"]["state"], rows[0]["connectionStatus"]


async def looping(make_sim: MakeSim, listen: Listen, **config: Any) -> tuple[Running, Listener]:
    """A global-mode simulator, a client on "/", and instance ``inst1`` in the loop."""
    running = await make_sim(global_events=True, **config)
    await running.create("inst1", websocket={"enabled": True, "events": []})
    listener = await listen(running.url, "/")
    status, body, _ = await running.call("POST", "/_sim/loop/inst1?rate=100", key=None)
    assert (status, body) == (200, {"instance": "inst1", "looping": True, "rate": 100.0})
    return running, listener


async def test_loop_emits_connecting_while_the_read_api_says_close(
    make_sim: MakeSim, listen: Listen
) -> None:
    """§12: ``connecting`` over and over, never a QR, while connectionState and
    fetchInstances read ``close``: the event stream and the read API disagree."""
    running, listener = await looping(make_sim, listen)
    await eventually(lambda: len(connecting_of(listener, "inst1")) >= 10)
    assert await state_of(running, "inst1") == ("close", "close")
    assert "qrcode.updated" not in listener.names()
    assert connecting_of(listener, "inst1")[0]["data"] == {"instance": "inst1", **CONNECTING}
    _, loops, _ = await running.call("GET", "/_sim/loops", key=None)
    assert loops == [{"instance": "inst1", "rate": 100.0, "zombie": False}]


async def test_logout_restart_connect_leave_it_looping(make_sim: MakeSim, listen: Listen) -> None:
    """§12: logout → 400 "not connected", restart → 200 ``[object Object]`` error, connect →
    ``{"count": 0}``; the loop goes on after each, and no QR ever shows."""
    running, listener = await looping(make_sim, listen)
    await eventually(lambda: connecting_of(listener, "inst1"))

    status, body, _ = await running.call("DELETE", "/instance/logout/inst1")
    assert (status, body["response"]["message"]) == (400, ['The "inst1" instance is not connected'])
    status, body, _ = await running.call("POST", "/instance/restart/inst1")
    assert (status, body) == (200, {"error": True, "message": "[object Object]"})
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (status, body) == (200, {"count": 0})

    after = len(connecting_of(listener, "inst1"))
    await eventually(lambda: len(connecting_of(listener, "inst1")) >= after + 5)
    assert await state_of(running, "inst1") == ("close", "close")
    assert "qrcode.updated" not in listener.names()


async def test_connect_waits_like_the_real_one_and_answers_count_zero(
    make_sim: MakeSim, listen: Listen
) -> None:
    """§3.2, §12: even with a connect wait longer than the first QR delay, a looping
    instance answers ``{"count": 0}``: no QR is ever produced."""
    running, _ = await looping(make_sim, listen, connect_wait=0.2)
    status, body, _ = await running.call("GET", "/instance/connect/inst1")
    assert (status, body) == (200, {"count": 0})


async def test_stop_loop_leaves_it_closed_and_quiet(make_sim: MakeSim, listen: Listen) -> None:
    """Control: ``DELETE /_sim/loop/{name}`` stops the loop; the instance stays ``close`` with
    no event, and a later connect pairs normally (QR cycle)."""
    running, listener = await looping(make_sim, listen)
    await eventually(lambda: connecting_of(listener, "inst1"))
    status, body, _ = await running.call("DELETE", "/_sim/loop/inst1", key=None)
    assert (status, body) == (200, {"instance": "inst1", "looping": False})
    # Markers travel behind anything already in flight on the same socket.
    await running.sim.emit("inst1", "chats.upsert", ["first"])
    await eventually(lambda: listener.names()[-1:] == ["chats.upsert"])
    assert await state_of(running, "inst1") == ("close", "close")
    assert running.sim.loops() == []
    await running.sim.emit("inst1", "chats.upsert", ["second"])
    await eventually(lambda: listener.events[-1][1]["data"] == ["second"])
    assert [e for e, _ in listener.events[-2:]] == ["chats.upsert", "chats.upsert"]
    await running.call("GET", "/instance/connect/inst1")
    await listener.wait_for("qrcode.updated")


async def test_zombie_after_delete(make_sim: MakeSim, listen: Listen) -> None:
    """§6.4, §12: deleting a looping instance succeeds, but its loop goes on: "/" keeps getting
    ``connection.update`` for the deleted name, its own namespace gets nothing after
    ``remove.instance``; a simulator restart ends the zombie."""
    running, listener = await looping(make_sim, listen, delete_delay=0.05)
    await eventually(lambda: "/inst1" in running.sim.namespaces)
    own = await listen(running.url, "/inst1")
    await eventually(lambda: connecting_of(own, "inst1"))

    status, _, _ = await running.call("DELETE", "/instance/delete/inst1")
    assert status == 200
    await eventually(lambda: running.sim.store.get("inst1") is None)
    status, _, _ = await running.call("GET", "/instance/connectionState/inst1")
    assert status == 404
    after = len(connecting_of(listener, "inst1"))
    await eventually(lambda: len(connecting_of(listener, "inst1")) >= after + 5)
    names = own.names()
    deleted_at, removed_at = names.index("instance.delete"), names.index("remove.instance")
    assert removed_at == len(names) - 1  # nothing on its own namespace after remove.instance
    # the loop runs on while the delete's events go out (each emit awaits its sends), so one
    # of its connection.update may come between them (seen once in CI)
    assert set(names[deleted_at + 1 : removed_at]) <= {"connection.update"}
    assert running.sim.loops() == [{"instance": "inst1", "rate": 100.0, "zombie": True}]

    await running.sim.restart()
    assert running.sim.loops() == []


async def test_zombie_loop_can_be_stopped_by_name(make_sim: MakeSim, listen: Listen) -> None:
    """Control: ``DELETE /_sim/loop/{name}`` also ends a deleted instance's zombie loop;
    an unknown name is 404."""
    running, _ = await looping(make_sim, listen, delete_delay=0.01)
    await running.call("DELETE", "/instance/delete/inst1")
    await eventually(lambda: running.sim.loops() == [{**running.sim.loops()[0], "zombie": True}])
    status, _, _ = await running.call("DELETE", "/_sim/loop/inst1", key=None)
    assert status == 200
    assert running.sim.loops() == []
    status, _, _ = await running.call("DELETE", "/_sim/loop/inst1", key=None)
    assert status == 404
    status, _, _ = await running.call("POST", "/_sim/loop/nope", key=None)
    assert status == 404
    status, _, _ = await running.call("POST", "/_sim/loop/nope?rate=x", key=None)
    assert status == 400


async def test_preset_starts_looping(make_sim: MakeSim, listen: Listen) -> None:
    """``PresetInstance(looping=True)`` is in the loop from the first start; the Python API
    starts and stops loops too."""
    running = await make_sim(
        [PresetInstance("l", looping=True), PresetInstance("o", state="open")],
        global_events=True,
        loop_rate=100.0,
    )
    listener = await listen(running.url, "/")
    await eventually(lambda: len(connecting_of(listener, "l")) >= 3)
    assert await state_of(running, "l") == ("close", "close")
    await running.sim.start_loop("o")
    assert await state_of(running, "o") == ("close", "close")
    await eventually(lambda: len(connecting_of(listener, "o")) >= 3)
    await running.sim.stop_loop("l")
    assert [loop["instance"] for loop in running.sim.loops()] == ["o"]
