"""first-qr: from ``POST /connect/{name}`` to the first QR a tenant's client receives.

For each events mode (``instance``: one lazy namespace per instance; ``global``: the
simulator's ``/`` with ``RELAY_EVOLUTION_EVENTS_MODE=global``) the scenario starts a simulator
(its own process) that pairs like Evolution does: the first QR ``first_qr_delay`` (1 s) after
connecting, the connect reply only after ``connect_wait`` (2 s), and a fresh relay. It creates
N closed instances through the relay (``POST /instances``), then connects them, a few at a
time (``first_qr_lanes``, 5: several people pressing "Conectar" at once; it also keeps the
scenario short). Each connect is timed from just before its POST until the tenant's Socket.IO client
(python-socketio, connected before any of it) receives, for that instance, the first
``instance.status`` carrying a ``qrcode`` or the first ``qrcode.updated``, whichever comes
first; a lane's next connect starts once both that QR and the POST's reply are in. A QR that has
not arrived within ``first_qr_deadline`` (4 s; the next one would come 20 s later) counts as
missed. The figures are p50 and p99 (nearest rank) per mode and the missed connects. Target:
p50 ≤ 1.2 s and p99 ≤ 1.5 s in both modes, none missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common.harness import Harness
from bench.common.simfeatures import optional_config
from bench.common.stats import percentile
from bench.common.tenant import EventLog, Received, RelayApi, token
from relay.auth import Role

log = logging.getLogger(__name__)

NEEDS = ("SimConfig.first_qr_delay", "SimConfig.connect_wait", "SimConfig.qr_interval")
MODES = ("instance", "global")
TENANT = "t-first-qr"
EVENTS = ("instance.status", "qrcode.updated")
TARGET_P50_S, TARGET_P99_S = 1.2, 1.5


def first_qr_of(name: str) -> Callable[[Received], bool]:
    def match(received: Received) -> bool:
        if received.instance != name:
            return False
        if received.event == "qrcode.updated":
            return True
        return isinstance(received.data, dict) and bool(received.data.get("qrcode"))

    return match


async def one_mode(h: Harness, mode: str) -> dict[str, Any]:
    s = h.sizes
    config = {
        "first_qr_delay": s.first_qr_delay, "connect_wait": s.connect_wait,
        "qr_interval": s.pairing_qr_interval, **optional_config(qr_first_ttl=s.qr_first_ttl),
    }  # fmt: skip
    names = [f"fq-{mode}-{i:03d}" for i in range(1, s.first_qr_instances + 1)]
    seconds: list[float] = []
    via: Counter[str] = Counter()
    missed: list[str] = []
    async with (
        h.simulator(0, global_events=mode == "global", config=config) as sim,
        h.server("relay", sim, {}, f"first-qr-{mode}", mode=mode) as server,
        RelayApi(server.url, token(TENANT)) as api,
        EventLog(server.url, token(TENANT, Role.USER), EVENTS) as events,
    ):
        for name in names:
            await api.create(name)
        lanes = asyncio.Semaphore(s.first_qr_lanes)

        async def one(name: str) -> None:
            async with lanes:
                since = len(events.received)
                started = time.monotonic()
                _, qr = await asyncio.gather(
                    api.connect(name), events.first(first_qr_of(name), since, s.first_qr_deadline)
                )
            if qr is None:
                missed.append(name)
                return
            seconds.append(qr.at - started)
            via[qr.event] += 1

        await asyncio.gather(*(one(name) for name in names))
    p50, p99 = percentile(seconds, 50), percentile(seconds, 99)
    log.info("first-qr %s: p50 %s s, p99 %s s, missed %s", mode, p50, p99, len(missed))
    return {
        "connects": len(names), "received": len(seconds), "missed": missed,
        "p50_s": _round(p50), "p99_s": _round(p99), "max_s": _round(max(seconds, default=None)),
        "first_via": dict(via), "seconds": [round(x, 4) for x in seconds],
        "met": p50 is not None and p99 is not None and not missed
        and p50 <= TARGET_P50_S and p99 <= TARGET_P99_S,
    }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def first_qr(h: Harness) -> dict[str, Any]:
    blocked = h.gate(NEEDS, relay_only=True)
    if blocked is not None:
        return blocked
    s = h.sizes
    modes = {mode: await one_mode(h, mode) for mode in MODES}
    return {
        "instances": s.first_qr_instances, "first_qr_delay_s": s.first_qr_delay,
        "connect_wait_s": s.connect_wait, "deadline_s": s.first_qr_deadline,
        "lanes": s.first_qr_lanes,
        "target": {"p50_s": TARGET_P50_S, "p99_s": TARGET_P99_S},
        "servers": {"evo-relay": modes},
    }  # fmt: skip
