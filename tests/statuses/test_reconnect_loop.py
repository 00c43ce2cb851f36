"""Baileys' reconnect loop (docs/upstream.md §12): ``connecting`` 20 times a second while the read
API says ``close``. The status must not flap, and identical events must write nothing."""

from __future__ import annotations

import pytest

from relay.store import Status
from simulator import PresetInstance
from tests.statuses.conftest import RelayFor
from tests.support import eventually, wait_stored

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("mode", ["instance", "global"])
async def test_a_looping_instance_does_not_flap(relay_for: RelayFor, mode: str) -> None:
    stage = await relay_for(
        [PresetInstance("loop1", looping=True)], tenants={"loop1": "t"}, mode=mode,
        reconcile_interval=5.0, sim={"loop_rate": 20.0},
    )  # fmt: skip
    client = await stage.client("t")

    await wait_stored(stage.store, "loop1", Status.STARTING)

    def deferred() -> float:  # reconciliations that left the instance to its live events
        return stage.sample("relay_reconciliations_total", {"outcome": "live"})

    # The subscription's reconciliation and two periodic ones, every 5 s: about 12 s of loop.
    await eventually(lambda: deferred() >= 3, within=30)
    assert stage.sample("relay_reconciliations_total", {"outcome": "corrected"}) == 0
    assert stage.sim.instance("loop1").state == "close"  # what connectionState reads
    assert await stage.status("loop1") is Status.STARTING

    changes = [s for s in client.named("instance.status") if s["instanceName"] == "loop1"]
    assert [(s["previousStatus"], s["status"]) for s in changes] == [("STOPPED", "STARTING")]
    # One row write for the one real change; the loop's hundreds of identical events wrote none.
    assert stage.sample("relay_status_writes_total") == 1
    assert stage.sample("relay_status_unchanged_total") >= 100
    history = await stage.store.status_history("loop1")
    assert [(h.previous_status, h.status) for h in history] == [
        (Status.STOPPED, Status.STARTING),
        (None, Status.STOPPED),
    ]
