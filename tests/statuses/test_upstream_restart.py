"""Evolution restarts (docs/upstream.md §12): it stops answering for a while, forgets its
namespaces, and every stored instance reconnects by itself. Clients hear ``upstream.status``
down and up, and statuses become true again soon after it answers (how soon is a benchmark
figure; the deadline here is generous)."""

from __future__ import annotations

import pytest

from relay.store import Status
from simulator import PresetInstance
from tests.hub.conftest import Recorder
from tests.statuses.conftest import RelayFor
from tests.support import eventually, wait_stored

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("mode", ["instance", "global"])
async def test_statuses_are_true_again_after_evolution_restarts(
    relay_for: RelayFor, mode: str
) -> None:
    stage = await relay_for(
        [PresetInstance("s1", state="open"), PresetInstance("s2")],
        tenants={"s1": "a", "s2": "a"}, mode=mode, sim={"qr_interval": 0.3, "qr_first_ttl": 0.3},
    )  # fmt: skip
    panel = await stage.client("a")

    def upstream_states(r: Recorder) -> list[str]:
        """What the panel was told: the snapshot's state, then every upstream.status."""
        (snapshot,) = r.named("instances.snapshot")
        told = [u["state"] for u in snapshot["upstream"]]
        return told + [u["state"] for u in r.named("upstream.status")]

    await wait_stored(stage.store, "s1", Status.WORKING)
    assert await stage.status("s2") is Status.STOPPED
    await panel.wait(lambda r: upstream_states(r)[-1:] == ["up"], "upstream up")
    before = len(panel.named("upstream.status"))

    await stage.sim.restart(down_for=2.0)
    # s1 had a session: open again; s2 had none: pairing, with a QR.
    await wait_stored(stage.store, "s1", Status.WORKING, within=20)
    await wait_stored(stage.store, "s2", Status.SCAN_QR_CODE, within=20)
    await panel.wait(
        lambda r: [u["state"] for u in r.named("upstream.status")[before:]] == ["down", "up"],
        "upstream.status down, then up",
    )
    (down, up) = panel.named("upstream.status")[before:]
    assert down["server"] == up["server"] == "default" and down["since"] < up["since"]
    s2 = [s for s in panel.named("instance.status") if s["instanceName"] == "s2"]
    assert s2[-1]["status"] == "SCAN_QR_CODE" and s2[-1]["qrcode"]["base64"]


@pytest.mark.parametrize("mode", ["instance", "global"])
async def test_a_qr_shown_while_the_relay_was_away_is_read_from_evolution(
    relay_for: RelayFor, mode: str
) -> None:
    """After a restart Evolution reconnects every instance at once, and an instance without a
    session shows its first QR before the relay is back; the next one would come 60 s later.
    The reconciliation reads the QR Evolution shows (connect on a connecting instance)."""
    stage = await relay_for(
        [PresetInstance("late")], tenants={"late": "a"}, mode=mode,
        sim={"first_qr_delay": 0.3, "qr_first_ttl": 60.0, "qr_interval": 60.0},
    )  # fmt: skip
    panel = await stage.client("a")
    await stage.sim.restart(down_for=1.0)
    await eventually(lambda: stage.sim.instance("late").qr.code, within=20)
    shown = stage.sim.instance("late").qr.code
    row = await wait_stored(stage.store, "late", Status.SCAN_QR_CODE, within=20)
    assert row.qr_code == shown  # the QR on Evolution's screen now, not an older one
    await panel.wait(
        lambda r: any(s["instanceName"] == "late" and (s.get("qrcode") or {}).get("code") == shown
                      for s in r.named("instance.status")),
        "instance.status with the QR",
    )  # fmt: skip
