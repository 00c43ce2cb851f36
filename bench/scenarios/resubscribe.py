"""Scenario 5: the simulator restarts with N instances; time until every stored status is true.

evo-relay only, in instance mode (one lazy namespace per instance, the default and the hard
case: after a restart Evolution refuses ``/{name}`` until that instance emits again).

Setup: N open instances, stored WORKING; the relay subscribes every namespace. Then the
simulator stops, a seeded share of the instances lose their WhatsApp session while it is down
(their phones were unlinked), and it starts again. Every stored instance auto-connects
(docs/upstream.md §8): those with a session emit ``connecting`` at once and ``open`` after
``reconnect_delay``; the others go into a QR cycle (a ``qrcode.updated`` every
``qr_interval``). The truth is therefore WORKING, or SCAN_QR_CODE for the lost ones, and the
lost ones guarantee that some stored statuses are wrong after the restart. The harness polls
the relay's database every 0.2 s; the figure is the time from the restart until every stored
status equals the truth (and stays so), with every namespace subscribed again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from bench.common.harness import Harness, names, spread, tenant_ids
from bench.common.servers import RelayServer

log = logging.getLogger(__name__)

POLL = 0.2
NAMESPACES = "relay_upstream_namespaces"


async def resubscribe(h: Harness) -> dict[str, Any]:
    s = h.sizes
    if "relay" not in h.servers:
        return {"skipped": "evo-relay only", "servers": {}}
    instances = names(s.resub_instances)
    mapping = spread(instances, tenant_ids(max(1, len(instances) // 2)))
    lost = sorted(
        random.Random(h.seed).sample(instances, int(len(instances) * s.resub_lost_fraction))
    )
    truth = {n: ("SCAN_QR_CODE" if n in set(lost) else "WORKING") for n in instances}
    out: dict[str, Any] = {
        "instances": len(instances), "lost_sessions": len(lost),
        "reconnect_delay_s": s.reconnect_delay, "qr_interval_s": s.qr_interval,
    }  # fmt: skip
    sim_options = {
        "global_events": False, "reconnect_delay": s.reconnect_delay, "qr_interval": s.qr_interval,
    }  # fmt: skip
    async with (
        h.simulator(len(instances), **sim_options) as sim,
        h.server("relay", sim, mapping, "resubscribe-relay", mode="instance") as server,
    ):
        assert isinstance(server, RelayServer)
        out["initial_subscribe_s"] = await server.wait_metric(
            NAMESPACES, len(instances), s.resub_deadline
        )
        store = await server.store()
        try:
            reply = await sim.call("restart", lose_sessions=lost, down_seconds=1.0)
            restarted = reply["restarted_at"]
            out.update(await _watch(server, store, truth, restarted, s.resub_deadline, s))
        finally:
            await store.close()
    log.info(
        "resubscribe: statuses true after %ss, namespaces after %ss (%s wrong at the end)",
        out.get("statuses_true_s"), out.get("namespaces_s"), out.get("wrong_at_end"),
    )  # fmt: skip
    return {"servers": {"evo-relay": out}}


async def _watch(
    server: RelayServer, store: Any, truth: dict[str, str], t0: float, deadline: float, s: Any
) -> dict[str, Any]:
    want = len(truth)
    samples: list[dict[str, float]] = []
    true_since: float | None = None
    ns_low_seen = False
    ns_back: float | None = None
    while time.time() - t0 < deadline:
        rows = await store.list_instances()
        wrong = sum(1 for row in rows if truth.get(row.name) != row.status.value)
        metrics = await server.metrics()
        t = round(time.time() - t0, 2)
        ns = metrics.get(NAMESPACES, 0.0)
        samples.append({
            "t": t, "wrong": wrong, "namespaces": ns,
            "writes": metrics.get("relay_status_writes_total", 0.0),
            "backlog": metrics.get("relay_status_backlog", 0.0),
        })  # fmt: skip
        if ns < want:
            ns_low_seen, ns_back = True, None
        elif ns_low_seen and ns_back is None:
            ns_back = t
        true_since = (true_since if true_since is not None else t) if wrong == 0 else None
        settled = t >= s.reconnect_delay + 1.0 and (ns_back is not None or not ns_low_seen)
        if true_since is not None and settled and ns >= want:
            break
        await asyncio.sleep(POLL)
    writes = [x["writes"] for x in samples]
    span = samples[-1]["t"] - samples[0]["t"] if len(samples) > 1 else 0
    return {
        "statuses_true_s": true_since,
        "namespaces_s": ns_back,
        "namespaces_dropped": ns_low_seen,
        "wrong_at_end": samples[-1]["wrong"] if samples else None,
        "db_status_writes_per_s": round((writes[-1] - writes[0]) / span, 1) if span else None,
        "db_backlog_max": max((x["backlog"] for x in samples), default=None),
        "samples": samples,
    }
