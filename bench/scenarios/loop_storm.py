"""loop-storm and ingest: one relay node under a flood of upstream events.

**loop-storm** (evo-relay only, instance mode): 500 instances of 50 tenants go into Baileys'
reconnect loop at once (docs/upstream.md §12, ``Simulator.start_loop(name, 20)``: a
``connecting`` 20 times a second each, 10,000 events/s in all), as when an Evolution server
loses WhatsApp or restarts with hundreds of stored instances. Meanwhile:

- a separate tenant (``t-other``) has one instance that does not loop; the simulator sends it
  ``messages.upsert`` at 20/s and one Node load client of that tenant times each (simulator
  emit → receipt);
- the management API is asked ``GET /instances`` by an ADMIN of a looping tenant ten times a
  second, one call at a time, each timed.

Figures, over the window (the loops running, after a warm-up): the relay's CPU share; the
events it received per second (``relay_events_received_total``); the other tenant's latency;
the API's latency. And the database: every looping instance changes status once (WORKING →
STARTING), so ``real`` = the looping instances; the relay's ``relay_status_writes_total`` and
``status_history`` inserts (``pg_stat_user_tables``, read after the relay stopped) from the
loops' start to their end may not exceed it.

**ingest** (evo-relay only, global mode, no client connected): the tenants mix (90%
messages.upsert of 1 KB, 8% qrcode.updated, 2% connection.update, each of those a status write)
over 100 instances at rising rates. Per step: the events the relay received per second, its
CPU share and the status backlog. The ceiling is events per relay CPU-second at the highest
step the relay kept up with (what one core parses, routes and records); the highest rate it
kept up with is bounded by what the simulator can send on this machine, or by the machine's
cores (simulator, Postgres, relay and whatever else runs there), and the table says which.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bench.common.harness import MIX_FANOUT, MIX_TENANTS, Harness, names, spread, tenant_ids
from bench.common.servers import RelayServer
from bench.common.stats import machine_busy, percentile
from bench.common.tenant import RelayApi, token

log = logging.getLogger(__name__)

NEEDS = ("Simulator.start_loop", "Simulator.stop_loop")
OTHER = "t-other"
NAMESPACES = "relay_upstream_namespaces"
RECEIVED = "relay_events_received_total"
WRITES = "relay_status_writes_total"
BACKLOG = "relay_status_backlog"
API_INTERVAL = 0.1
STATS_SETTLE = 1.0
KEPT_UP = 0.97
MACHINE_FULL = 0.9
"""A step during which the whole machine was this busy fell behind for want of a core."""
SIM_SHARE = 0.9
"""A step whose simulator sent less than this share of its rate is the sender's limit."""


async def _api_latencies(api: RelayApi, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await api.call("GET", "/instances")
        out.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(API_INTERVAL)


async def _wait_backlog_empty(server: RelayServer, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await server.metrics()).get(BACKLOG, 0.0) == 0:
            return
        await asyncio.sleep(0.2)


async def loop_storm(h: Harness) -> dict[str, Any]:
    blocked = h.gate(NEEDS, relay_only=True)
    if blocked is not None:
        return blocked
    s = h.sizes
    every = names(s.storm_loop_instances + 1)
    looping, other = every[:-1], every[-1]
    tids = tenant_ids(s.storm_loop_tenants)
    mapping = {**spread(looping, tids), other: OTHER}
    api_tenant = mapping[looping[0]]
    async with (
        h.simulator(len(every), global_events=False) as sim,
        h.server("relay", sim, mapping, "loop-storm", mode="instance") as server,
    ):
        assert isinstance(server, RelayServer)
        subscribed = await server.wait_metric(NAMESPACES, len(every), 90.0)
        async with (
            h.pool(server.url, 1, [OTHER], "loop-storm") as pool,
            RelayApi(server.url, token(api_tenant)) as api,
        ):
            await pool.connect()
            await sim.call("load", rate=s.storm_loop_other_rate, mix=MIX_FANOUT,
                           payload_bytes=1024, seed=h.seed, names=[other])  # fmt: skip
            writes0 = (await server.metrics()).get(WRITES, 0.0)
            ins0, _ = await server.table_writes("status_history")
            await sim.call("loop_many", names=looping, rate=s.loop_rate)
            await asyncio.sleep(s.storm_loop_warm)
            await pool.reset()
            metrics0 = await server.metrics()
            cpu0, sim_cpu0, (busy0, total0) = server.cpu(), sim.cpu(), machine_busy()
            stop = asyncio.Event()
            api_ms: list[float] = []
            asker = asyncio.create_task(_api_latencies(api, stop, api_ms))
            t0 = time.monotonic()
            await asyncio.sleep(s.storm_loop_seconds)
            window = time.monotonic() - t0
            cpu, sim_cpu = server.cpu() - cpu0, sim.cpu() - sim_cpu0
            busy1, total1 = machine_busy()
            metrics1 = await server.metrics()
            stop.set()
            await asyncio.wait_for(asker, 30)
            report = await pool.report()
            await sim.call("loop_stop_many", names=looping)
            await sim.call("stop_load")
            await _wait_backlog_empty(server, 10.0)
            writes = (await server.metrics()).get(WRITES, 0.0) - writes0
        await server.stop_process()  # its backends publish their counts as they exit
        await asyncio.sleep(STATS_SETTLE)
        ins1, _ = await server.table_writes("status_history")
    received = metrics1.get(RECEIVED, 0.0) - metrics0.get(RECEIVED, 0.0)
    real = len(looping)
    history = ins1 - ins0
    latency = report["histogram"].summary()
    api_p99 = percentile(api_ms, 99)
    cpu_share = cpu / window
    out = {
        "instances_looping": real, "tenants_looping": len(tids),
        "rate_per_instance": s.loop_rate, "events_per_s_offered": real * s.loop_rate,
        "subscribe_s": subscribed, "window_s": round(window, 2),
        "events_per_s_received": round(received / window, 1),
        "relay_cpu_share": round(cpu_share, 3),
        "simulator_cpu_share": round(sim_cpu / window, 3),
        "machine_busy_share": round((busy1 - busy0) / (total1 - total0), 3),
        "status_writes": writes, "history_rows": history, "real_status_changes": real,
        "extra_writes": max(writes, history) - real,
        "other_tenant_latency": latency,
        "other_tenant_events": report["deliveries"],
        "api_calls": len(api_ms),
        "api_p50_ms": round(percentile(api_ms, 50) or 0, 2) if api_ms else None,
        "api_p99_ms": round(api_p99, 2) if api_p99 is not None else None,
        "api_max_ms": round(max(api_ms), 2) if api_ms else None,
        "cpu_met": cpu_share < 1.0,
        "writes_met": max(writes, history) <= real,
        "other_met": latency["p99_ms"] is not None and latency["p99_ms"] <= 50,
        "api_met": api_p99 is not None and api_p99 <= 50,
    }  # fmt: skip
    log.info("loop-storm: %s", out)
    return {"servers": {"evo-relay": out}}


async def ingest(h: Harness) -> dict[str, Any]:
    blocked = h.gate((), relay_only=True)
    if blocked is not None:
        return blocked
    s = h.sizes
    instances = names(s.ingest_instances)
    mapping = spread(instances, tenant_ids(s.ingest_tenants))
    steps: list[dict[str, Any]] = []
    async with (
        h.simulator(len(instances), global_events=True) as sim,
        h.server("relay", sim, mapping, "ingest") as server,
    ):
        for rate in s.ingest_rates:
            await sim.call("load", rate=rate, mix=MIX_TENANTS, payload_bytes=1024, seed=h.seed)
            await asyncio.sleep(s.ingest_warm)
            m0, cpu0, sim_cpu0 = await server.metrics(), server.cpu(), sim.cpu()
            busy0, total0 = machine_busy()
            sent0 = (await sim.call("sent"))["total"]
            t0 = time.monotonic()
            await asyncio.sleep(s.ingest_window)
            window = time.monotonic() - t0
            m1, cpu1, sim_cpu1 = await server.metrics(), server.cpu(), sim.cpu()
            busy1, total1 = machine_busy()
            sent = (await sim.call("sent"))["total"] - sent0
            received = m1.get(RECEIVED, 0.0) - m0.get(RECEIVED, 0.0)
            cpu = cpu1 - cpu0
            step = {
                "rate": rate, "sent_per_s": round(sent / window, 1),
                "received_per_s": round(received / window, 1),
                "relay_cpu_share": round(cpu / window, 3),
                "events_per_cpu_s": round(received / cpu, 1) if cpu > 0 else None,
                "simulator_cpu_share": round((sim_cpu1 - sim_cpu0) / window, 3),
                "machine_busy_share": round((busy1 - busy0) / (total1 - total0), 3),
                "status_writes_per_s": round(
                    (m1.get(WRITES, 0.0) - m0.get(WRITES, 0.0)) / window, 1),
                "backlog_end": m1.get(BACKLOG, 0.0),
            }  # fmt: skip
            step["simulator_kept_up"] = sent >= SIM_SHARE * rate * window
            step["kept_up"] = (
                sent > 0 and received >= KEPT_UP * sent and step["relay_cpu_share"] < 0.95
            )
            steps.append(step)
            log.info("ingest: %s", step)
            if not (step["kept_up"] and step["simulator_kept_up"]):
                break
        await sim.call("stop_load")
    kept = [st for st in steps if st["kept_up"]]
    best = kept[-1] if kept else None
    last = steps[-1] if steps else {}
    sim_bound = best is not None and best is last  # never fell behind: the sender's limit
    machine_bound = not sim_bound and last.get("machine_busy_share", 0.0) >= MACHINE_FULL
    out = {
        "instances": len(instances), "mix": MIX_TENANTS, "steps": steps,
        "max_kept_up_per_s": best["received_per_s"] if best else None,
        "ceiling_events_per_cpu_s": best["events_per_cpu_s"] if best else None,
        "relay_cpu_at_max": best["relay_cpu_share"] if best else None,
        "limited_by": "the simulator (the relay kept up at every step)" if sim_bound
        else f"the machine (all cores busy at {last.get('rate'):g} events/s)" if machine_bound
        else "the relay",
    }  # fmt: skip
    return {"servers": {"evo-relay": out}}
