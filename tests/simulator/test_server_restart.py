"""A slow Evolution restart (docs/upstream.md §6.4, §8, §12): down for a while, then every stored
instance reconnects by itself and per-instance namespaces are lazy again."""

from __future__ import annotations

import aiohttp
import pytest

from simulator import PresetInstance, SimulatorError
from tests.simulator.conftest import Listen, MakeSim, eventually
from tests.simulator.test_sockets import refused

EVENTS = ("MESSAGES_UPSERT", "CONNECTION_UPDATE")


async def answers(url: str) -> bool:
    """Whether ``GET /`` gets an HTTP answer (a fresh connection each time)."""
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/") as resp:
            return resp.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_restart_control_answers_first_then_refuses_while_down(make_sim: MakeSim) -> None:
    """``POST /_sim/restart?down=S`` answers 202, then the port refuses connections until
    the server listens again on the same address."""
    running = await make_sim()
    status, body, _ = await running.call("POST", "/_sim/restart?down=1", key=None)
    assert (status, body) == (202, {"restarting": True, "down": 1.0})
    await eventually(lambda: _refused_now(running.url))
    await eventually(lambda: answers(running.url))
    assert not running.sim.restarting


async def _refused_now(url: str) -> bool:
    return not await answers(url)


async def test_one_restart_at_a_time_and_stop_cancels_it(make_sim: MakeSim) -> None:
    """Control: a second restart while one is pending is refused; stopping the simulator
    cancels the pending one, which then never listens again."""
    running = await make_sim()
    status, _, _ = await running.call("POST", "/_sim/restart?down=30", key=None)
    assert status == 202
    await eventually(lambda: _refused_now(running.url))
    assert running.sim.restarting
    with pytest.raises(SimulatorError):
        running.sim.restart_soon(0)
    await running.sim.stop()
    assert not running.sim.restarting
    assert not await answers(running.url)


async def test_restart_reconnects_every_instance_and_namespaces_are_lazy(
    make_sim: MakeSim, listen: Listen
) -> None:
    """§8, §12: after the restart, an instance with a session goes back to ``open``, one
    without starts a QR cycle, a looping one loops again; ``/{name}`` is refused with
    "Invalid namespace" until that instance's first per-instance emit."""
    running = await make_sim(
        [
            PresetInstance("working", state="open", websocket_events=("MESSAGES_UPSERT",)),
            PresetInstance("stopped"),
            PresetInstance("looping", looping=True, websocket_events=EVENTS),
        ],
        loop_rate=100.0,
    )
    await running.sim.emit("working", "messages.upsert", {"n": 1})
    before = await listen(running.url, "/working")
    assert before.client.connected

    await running.sim.restart(down_for=0.05)

    await eventually(lambda: not before.client.connected)
    assert await refused(running.url, "/working") == [{"message": "Invalid namespace"}]
    await eventually(lambda: running.sim.store.instances["working"].state == "open")
    await eventually(lambda: running.sim.store.instances["stopped"].qr.code is not None)
    assert [loop["instance"] for loop in running.sim.loops()] == ["looping"]
    await eventually(lambda: "/looping" in running.sim.namespaces)
    looping = await listen(running.url, "/looping")
    await looping.wait_for("connection.update", state="connecting")

    await running.sim.emit("working", "messages.upsert", {"n": 2})
    after = await listen(running.url, "/working")
    await running.sim.emit("working", "messages.upsert", {"n": 3})
    await after.wait_for("messages.upsert", n=3)
