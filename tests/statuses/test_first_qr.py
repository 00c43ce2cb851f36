"""After "Conectar", the panel gets the *first* QR Evolution produces, in both events modes.

In instance mode the instance's namespace exists only from its first emit (docs/upstream.md
§6.4), so the relay joins it quickly once a connect is under way. When Evolution's connect reply
carries the QR (it waits up to 2 s for it, §3.2), the relay shows that one at once.
How fast is a benchmark figure (``bench``'s first-qr scenario), not asserted here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hub.conftest import Recorder
from tests.statuses.conftest import RelayFor, Stage

pytestmark = pytest.mark.timeout(60)


def first_qr_emitted(stage: Stage, name: str) -> str:
    for emitted in stage.sim.machine.emitted:
        if emitted.event == "qrcode.updated" and emitted.payload["instance"] == name:
            return str(emitted.payload["data"]["qrcode"]["code"])
    raise AssertionError(f"the simulator produced no QR for {name}")


def qrs_seen(panel: Recorder, name: str) -> list[str]:
    """Every QR code the panel was shown for ``name``, in arrival order."""
    seen: list[str] = []
    for event, data in panel.events:
        code: Any = None
        if event == "instance.status" and data["instanceName"] == name:
            code = (data.get("qrcode") or {}).get("code")
        elif event == "qrcode.updated" and data["instance"] == name:
            code = data["data"]["qrcode"]["code"]
        if code and code not in seen:
            seen.append(code)
    return seen


@pytest.mark.parametrize("mode", ["instance", "global"])
@pytest.mark.parametrize(
    ("timing", "in_reply"),
    [
        ({"first_qr_delay": 0.5, "connect_wait": 0.0}, False),  # the QR comes as an event
        ({"first_qr_delay": 0.3, "connect_wait": 2.0}, True),  # connect's reply carries it
    ],
)
async def test_the_first_qr_reaches_the_panel(
    relay_for: RelayFor, mode: str, timing: dict[str, float], in_reply: bool
) -> None:
    stage = await relay_for([], mode=mode, sim={**timing, "qr_first_ttl": 60.0})
    panel = await stage.client("a")
    status, body = await stage.call("POST", "instances", "a", {"instanceName": "pair1"})
    assert status == 201, body
    status, body = await stage.call("POST", "connect/pair1", "a", {})
    assert status == 200, body
    await panel.wait(lambda r: bool(qrs_seen(r, "pair1")), "a QR for pair1")
    first = first_qr_emitted(stage, "pair1")
    assert qrs_seen(panel, "pair1")[0] == first
    if in_reply:
        assert body["instance"]["status"] == "SCAN_QR_CODE"
        assert body["instance"]["qrcode"]["code"] == first
