"""loop-writes: what Baileys' reconnect loop costs the relay's database and its clients.

evo-relay only, instance mode, ``RELAY_RECONCILE_INTERVAL=5``. N open instances (6) of one
tenant go into the reconnect loop of docs/upstream.md §12 (``Simulator.start_loop(name, 20)``:
``connecting`` 20 times a second each, while ``connectionState`` reads ``close``) for 12 s.
Counted over the window:

- row writes to the relay's ``instances`` table: ``relay_status_writes_total`` (the relay's
  own count, read at both ends), and ``n_tup_upd`` of ``pg_stat_user_tables`` for the relay's
  schema (Postgres's count, read again after the relay has stopped, since a backend publishes
  its counts only when idle for a while or when it exits);
- the ``instance.status`` events the tenant's Socket.IO client receives (and the
  ``connection.update`` events of the loop it receives, for scale).

Target: no flapping. Each looping instance changes status once (WORKING → STARTING), so at
most one write and one ``instance.status`` per instance over the window; a reconciliation that
trusted ``close`` would add two per instance every 5 s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from bench.common.harness import Harness, names
from bench.common.servers import RelayServer
from bench.common.tenant import EventLog, token
from relay.auth import Role

log = logging.getLogger(__name__)

NEEDS = ("Simulator.start_loop", "Simulator.stop_loop", "SimConfig.loop_rate")
TENANT = "t-loop"
EVENTS = ("instance.status", "connection.update")
NAMESPACES = "relay_upstream_namespaces"
WRITES = "relay_status_writes_total"
STATS_SETTLE = 1.0
"""After the relay stops, time for its backends to exit and publish their counts."""


async def _writes_per_second(server: RelayServer, seconds: float) -> list[float]:
    """``relay_status_writes_total`` once a second for ``seconds``: the writes of each second."""
    samples = [(await server.metrics()).get(WRITES, 0.0)]
    for _ in range(max(1, round(seconds))):
        await asyncio.sleep(seconds / max(1, round(seconds)))
        samples.append((await server.metrics()).get(WRITES, 0.0))
    return [b - a for a, b in itertools.pairwise(samples)]


async def loop_writes(h: Harness) -> dict[str, Any]:
    blocked = h.gate(NEEDS, relay_only=True)
    if blocked is not None:
        return blocked
    s = h.sizes
    instances = names(s.loop_instances)
    options = {"global_events": False, "config": {"loop_rate": s.loop_rate}}
    env = {"RELAY_RECONCILE_INTERVAL": f"{s.loop_reconcile:g}"}
    async with (
        h.simulator(len(instances), **options) as sim,
        h.server("relay", sim, dict.fromkeys(instances, TENANT), "loop-writes",
                 mode="instance", env=env) as server,
    ):  # fmt: skip
        assert isinstance(server, RelayServer)
        await server.wait_metric(NAMESPACES, len(instances), 30.0)
        async with EventLog(server.url, token(TENANT, Role.USER), EVENTS) as events:
            updates0 = await server.row_updates()
            writes0 = (await server.metrics()).get(WRITES, 0.0)
            started = time.monotonic()
            for name in instances:
                await sim.call("loop", name=name, rate=s.loop_rate)
            per_second = await _writes_per_second(server, s.loop_seconds)
            for name in instances:
                await sim.call("loop_stop", name=name)
            ended = time.monotonic()
            writes = (await server.metrics()).get(WRITES, 0.0) - writes0
        await server.stop_process()  # its backends publish their counts as they exit
        await asyncio.sleep(STATS_SETTLE)
        updates = await server.row_updates() - updates0
    window = ended - started
    statuses = events.events("instance.status", started, ended)
    loop_events = events.events("connection.update", started, ended)
    out = {
        "instances": len(instances), "rate_per_instance": s.loop_rate,
        "reconcile_interval_s": s.loop_reconcile, "window_s": round(window, 2),
        "status_writes": writes, "status_writes_per_s": round(writes / window, 2),
        "row_updates": updates, "row_updates_per_s": round(updates / window, 2),
        "instance_status_events": len(statuses),
        "instance_status_per_s": round(len(statuses) / window, 2),
        "loop_events_received": len(loop_events),
        "loop_events_expected": round(len(instances) * s.loop_rate * s.loop_seconds),
        "writes_timeline": per_second, "target_per_instance": 1,
        "writes_met": writes <= len(instances), "statuses_met": len(statuses) <= len(instances),
    }  # fmt: skip
    log.info("loop-writes: %s", {k: v for k, v in out.items() if k != "writes_timeline"})
    return {"servers": {"evo-relay": out}}
