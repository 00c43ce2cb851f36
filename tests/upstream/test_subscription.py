"""Namespaces: failure isolation and backoff, global mode filtering, zombies, inventory changes."""

from __future__ import annotations

import pytest

from relay.store import Status
from relay.upstream import Backoff
from simulator import PresetInstance
from tests.support import eventually, wait_stored
from tests.upstream.conftest import MakeLive, both_upstream_paths


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_upstream_paths(metafunc)  # one multiplexed connection, and one per namespace


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    low = Backoff(first=0.5, cap=30.0, rng=lambda: 0.0)
    high = Backoff(first=0.5, cap=30.0, rng=lambda: 0.999999)
    lows = [low.next() for _ in range(12)]
    highs = [high.next() for _ in range(12)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert max(highs) <= 30.0 and highs[-1] > 29.9
    assert all(lo <= hi for lo, hi in zip(lows, highs, strict=True))
    low.reset()
    assert low.next() == 0.25


async def test_refused_namespace_does_not_block_others(live_env: MakeLive) -> None:
    # "idle" never emitted anything, so /idle is refused ("Invalid namespace"); "busy" is open.
    presets = [PresetInstance("idle"), PresetInstance("busy", state="open")]
    env = await live_env(presets, {"idle": "t1", "busy": "t2"})
    await eventually(lambda: env.live.upstream.subscribed("busy"))
    assert not env.live.upstream.subscribed("idle")

    await env.sim.emit("busy", "messages.upsert", {"key": {"id": "m1"}})
    await eventually(lambda: env.hub.events("busy", "messages.upsert"))

    # The first emit creates /idle; the retry (with backoff) then subscribes it.
    await env.sim.emit("idle", "messages.upsert", {"key": {"id": "lost"}})
    await eventually(lambda: env.live.upstream.subscribed("idle"))
    await env.sim.emit("idle", "messages.upsert", {"key": {"id": "m2"}})
    got = await eventually(lambda: env.hub.events("idle", "messages.upsert"))
    assert [p.payload["data"]["key"]["id"] for p in got] == ["m2"]
    assert got[0].tenant_id == "t1"
    env.assert_no_secrets()


async def test_global_mode_keeps_only_recorded_instances(live_env: MakeLive) -> None:
    presets = [PresetInstance("mine", state="open"), PresetInstance("theirs", state="open")]
    env = await live_env(presets, {"mine": "t1"}, mode="global", config={"global_events": True})
    await env.sim.emit("theirs", "messages.upsert", {"key": {"id": "x"}})
    await env.sim.emit("mine", "messages.upsert", {"key": {"id": "y"}})
    await eventually(lambda: env.hub.events("mine", "messages.upsert"))
    assert env.hub.events("theirs") == []
    assert env.dropped("unknown_instance") >= 1
    assert env.sim.namespaces  # per-instance output exists, but global mode never joins it
    assert not env.live.upstream._socket.joined("/mine")


async def test_unconfigured_events_are_not_reemitted(live_env: MakeLive) -> None:
    env = await live_env([PresetInstance("c1", state="open")], {"c1": "t1"})
    await eventually(lambda: env.live.upstream.subscribed("c1"))
    # CHATS_UPSERT is delivered by the simulator (all events enabled upstream) but the
    # relay's record lists only CONNECTION_UPDATE, QRCODE_UPDATED and MESSAGES_UPSERT.
    await env.sim.emit("c1", "chats.upsert", [{"id": "chat"}])
    await env.sim.emit("c1", "messages.upsert", {"key": {"id": "after"}})
    await eventually(lambda: env.hub.events("c1", "messages.upsert"))
    assert env.hub.events("c1", "chats.upsert") == []

    row = await env.store.set_websocket("c1", True, ["CHATS_UPSERT"])
    assert row is not None
    await env.live.instance_updated(row)
    await env.sim.emit("c1", "chats.upsert", [{"id": "chat2"}])
    await eventually(lambda: env.hub.events("c1", "chats.upsert"))


async def test_zombie_events_after_delete_are_ignored_and_counted(live_env: MakeLive) -> None:
    env = await live_env(
        [PresetInstance("z1", state="open")],
        {"z1": "t1"},
        mode="global",
        config={"global_events": True, "zombie_events": True},
    )
    await wait_stored(env.store, "z1", Status.WORKING)
    # The relay's own delete: the row goes first, then Evolution's events are zombies.
    row = await env.store.get_instance("z1")
    assert row is not None and await env.store.delete_instance("z1")
    await env.live.instance_removed(row)
    published = len(env.hub.published)
    await env.evolution.delete("z1")
    await eventually(lambda: env.dropped("unknown_instance") >= 3)
    assert len(env.hub.published) == published
    assert await env.store.get_instance("z1") is None


async def test_instance_added_is_followed_at_once(live_env: MakeLive) -> None:
    env = await live_env([PresetInstance("late", state="open")], {})
    row = await env.store.create_instance("t9", "late", status=Status.STOPPED, reason="adopt")
    await env.live.instance_added(row)
    await wait_stored(env.store, "late", Status.WORKING)  # reconciled at once
    await eventually(lambda: env.live.upstream.subscribed("late"))
    await env.live.instance_removed(row)
    assert not env.live.upstream.subscribed("late")
