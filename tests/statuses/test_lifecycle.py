"""Create and delete as every open panel sees them: ``instance.added`` and ``instance.removed``
reach each client of the tenant and no other tenant's, and the events Evolution emits about an
instance the relay is deleting (before its reply, and a looping zombie after it) never turn it
FAILED (docs/upstream.md §3.5, §12)."""

from __future__ import annotations

import pytest

from simulator import PresetInstance
from tests.statuses.conftest import RelayFor
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

MODES = ["instance", "global"]


@pytest.mark.parametrize("mode", MODES)
async def test_create_and_delete_reach_every_panel_of_the_tenant(
    relay_for: RelayFor, mode: str
) -> None:
    stage = await relay_for([], mode=mode)
    first, second, other = await stage.client("a"), await stage.client("a"), await stage.client("b")

    status, body = await stage.call("POST", "instances", "a", {"instanceName": "new1"})
    assert status == 201, body
    for panel in (first, second):
        await panel.wait_count("instance.added", 1)
        (added,) = panel.named("instance.added")
        assert added["instance"]["instanceName"] == "new1"
        assert added["instance"]["tenantId"] == "a" and isinstance(added["seq"], int)

    status, body = await stage.call("DELETE", "delete/new1", "a")
    assert status == 200, body
    for panel in (first, second):
        await panel.wait_count("instance.removed", 1)
        (removed,) = panel.named("instance.removed")
        assert (removed["instanceName"], removed["reason"]) == ("new1", "api:delete")
        assert removed["seq"] > panel.named("instance.added")[0]["seq"]
        assert not [s for s in panel.named("instance.status") if s["status"] == "FAILED"]
    assert await stage.store.get_instance("new1") is None
    assert not other.named("instance.added") and not other.named("instance.removed")
    assert all(data.get("instance") != "new1" for _, data in other.live())


@pytest.mark.parametrize("mode", MODES)
async def test_deleting_a_looping_instance_never_turns_it_failed(
    relay_for: RelayFor, mode: str
) -> None:
    """Evolution's delete events come before its reply; the loop goes on as a zombie."""
    stage = await relay_for(
        [PresetInstance("z1", looping=True)], tenants={"z1": "a"}, mode=mode,
        sim={"loop_rate": 20.0},
    )  # fmt: skip
    panel = await stage.client("a")
    await panel.wait(
        lambda r: any(s["status"] == "STARTING" for s in r.named("instance.status")), "STARTING"
    )
    status, body = await stage.call("DELETE", "delete/z1", "a")
    assert status == 200, body
    await panel.wait_count("instance.removed", 1)
    if mode == "global":  # the zombie goes on emitting for the deleted name on '/'
        sent = len(stage.sim.machine.emitted)
        await eventually(lambda: len(stage.sim.machine.emitted) >= sent + 20)
        await eventually(
            lambda: stage.sample("relay_events_dropped_total", {"reason": "unknown_instance"})
        )  # seen, and dropped as a zombie
    assert await stage.store.get_instance("z1") is None
    statuses = [s["status"] for s in panel.named("instance.status")]
    assert "FAILED" not in statuses
    removed_at = panel.named("instance.removed")[0]["seq"]
    after = [d for _, d in panel.live() if d["seq"] > removed_at]
    assert after == []  # nothing about it once it is gone


async def test_instance_create_of_an_instance_being_created_is_not_dropped(
    relay_for: RelayFor,
) -> None:
    """Global mode: ``instance.create`` arrives before the create's reply."""
    stage = await relay_for([], mode="global")
    panel = await stage.client("a")
    status, body = await stage.call("POST", "instances", "a", {"instanceName": "fresh"})
    assert status == 201, body
    await panel.wait_count("instance.added", 1)
    emitted = [e.event for e in stage.sim.machine.emitted if e.payload["instance"] == "fresh"]
    assert emitted[0] == "instance.create"
    await panel.wait_count("instance.create", 1)
    assert stage.sample("relay_events_dropped_total", {"reason": "unknown_instance"}) == 0
