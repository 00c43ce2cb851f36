"""Reconciliation: after subscribing, periodically (drift), and after an Evolution restart."""

from __future__ import annotations

import pytest

from relay.store import Status
from simulator import PresetInstance, Simulator
from tests.support import eventually, true_status, wait_stored
from tests.upstream.conftest import LiveEnv, MakeLive, both_upstream_paths


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_upstream_paths(metafunc)  # one multiplexed connection, and one per namespace


async def statuses_true(env: LiveEnv, sim: Simulator, names: list[str]) -> bool:
    for name in names:
        if await env.status(name) is not true_status(sim.store.get(name)):
            return False
    return True


async def test_reconciled_after_subscribe(live_env: MakeLive) -> None:
    presets = [PresetInstance("was-open", state="open"), PresetInstance("was-closed")]
    # The records say the opposite of the truth; nothing will be emitted for "was-closed".
    env = await live_env(presets, {"was-open": "t", "was-closed": "t"}, initial=Status.WORKING)
    await eventually(lambda: statuses_true(env, env.sim, ["was-open", "was-closed"]))
    row = await env.store.get_instance("was-closed")
    assert row is not None and row.status is Status.STOPPED
    assert row.status_reason == "reconciled: close"
    assert any(c.instance_name == "was-closed" for c in env.hub.changes)  # broadcast


async def test_periodic_drift_marks_missing_upstream_failed(live_env: MakeLive) -> None:
    env = await live_env(
        [PresetInstance("kept", state="open")],
        {"kept": "t", "ghost": "t"},  # "ghost" is recorded here, unknown to Evolution
        reconcile_interval=0.2,
    )
    row = await wait_stored(env.store, "ghost", Status.FAILED)
    assert row.status_reason == "missing upstream"
    # Evolution loses "kept" later: the periodic pass catches it, and the row stays.
    env.sim.store.remove(env.sim.instance("kept"))
    row = await wait_stored(env.store, "kept", Status.FAILED)
    assert row.status_reason == "missing upstream"
    assert {i.name for i in await env.store.list_instances()} == {"kept", "ghost"}


async def test_upstream_restart_converges_to_truth(live_env: MakeLive) -> None:
    names = [f"r{i}" for i in range(6)]
    presets = [PresetInstance(name, state="open") for name in names]
    env = await live_env(presets, dict.fromkeys(names, "t"), config={"first_qr_delay": 0.5})
    await eventually(lambda: statuses_true(env, env.sim, names))
    sim = env.sim

    await sim.stop()
    await eventually(lambda: not env.live.upstream.connected)
    # While it is down: two phones log out (no session: QR pairing at restart), one instance
    # is deleted on the server, and the rest keep their sessions.
    sim.instance("r1").has_session = False
    sim.instance("r2").has_session = False
    sim.store.remove(sim.instance("r3"))
    await sim.restart()  # lazy namespaces again; every instance reconnects (loadInstance)

    await eventually(lambda: env.live.upstream.connected)
    await eventually(lambda: sim.instance("r1").qr.code and sim.instance("r2").qr.code)
    try:
        await eventually(lambda: statuses_true(env, sim, names), within=5)
    except AssertionError:
        for n in names:
            print(
                n,
                await env.status(n),
                true_status(sim.store.get(n)),
                [
                    (p.event, p.payload.get("status") or (p.payload.get("data") or {}).get("state"))
                    for p in env.hub.events(n)
                ],
            )
            print(
                "   sim",
                [
                    (e.event, e.per_instance, (e.payload.get("data") or {}).get("state"))
                    for e in sim.machine.emitted
                    if e.payload["instance"] == n
                ],
            )
        raise
    assert await env.status("r1") is Status.SCAN_QR_CODE
    assert await env.status("r0") is Status.WORKING
    row = await env.store.get_instance("r3")
    assert row is not None and row.status_reason == "missing upstream"
    for name in ("r0", "r1", "r2", "r4", "r5"):
        await eventually(lambda name=name: env.live.upstream.subscribed(name))
    env.assert_no_secrets()
