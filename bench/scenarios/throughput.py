"""Scenarios 1 and 2: fanout (one room, maximum sustained rate) and tenants (a mixed stream).

Both servers run in global mode on one simulator stream; a scenario runs against evo-relay,
then against the Node peer, in the same run. A measurement window is: load running, counters
reset, ``window`` seconds, then the clients' report and the server's CPU delta.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bench.common.harness import (
    LABELS,
    MIX_FANOUT,
    MIX_TENANTS,
    Harness,
    Sim,
    names,
    spread,
    tenant_ids,
)
from bench.common.loadpool import LoadPool
from bench.common.servers import Server
from bench.common.stats import Histogram, machine_busy

log = logging.getLogger(__name__)

SUSTAINED_SHARE = 0.97
"""A rate is sustained when clients received this share of the deliveries it implies..."""
SUSTAINED_P99_MS = 500.0
"""...with a p99 below this (a backlog shows as latency growing through the window)."""


async def window(
    sim: Sim, server: Server, pool: LoadPool, seconds: float, fan: int
) -> dict[str, Any]:
    """One measurement window at whatever load is running; ``fan`` = clients per event."""
    await pool.reset()
    sent0 = (await sim.call("sent"))["total"]
    cpu0, sim_cpu0, load_cpu0, (busy0, total0) = server.cpu(), sim.cpu(), pool.cpu(), machine_busy()
    kernel0 = server.kernel_cpu()
    metrics0 = await server.metrics()
    await asyncio.sleep(seconds)
    cpu1, sim_cpu1, load_cpu1, (busy1, total1) = server.cpu(), sim.cpu(), pool.cpu(), machine_busy()
    kernel = server.kernel_cpu() - kernel0
    sent = (await sim.call("sent"))["total"] - sent0
    report = await pool.report()
    metrics1 = await server.metrics()
    hist: Histogram = report["histogram"]
    upstream = sum(n for e, n in report["by_event"].items() if e != "instance.status")
    cpu = cpu1 - cpu0
    result: dict[str, Any] = {
        "seconds": seconds,
        "events_sent": sent,
        "events_per_s": round(sent / seconds, 1),
        "deliveries": report["deliveries"],
        "deliveries_per_s": round(report["deliveries"] / seconds, 1),
        "expected_deliveries": sent * fan,
        "delivered_share": round(upstream / (sent * fan), 4) if sent else None,
        "server_cpu_s": round(cpu, 3),
        "server_cpu_share": round(cpu / seconds, 3),
        "deliveries_per_cpu_s": round(report["deliveries"] / cpu, 1) if cpu > 0 else None,
        "cpu_us_per_delivery": round(cpu / report["deliveries"] * 1e6, 2)
        if report["deliveries"]
        else None,
        "kernel_us_per_delivery": round(kernel / report["deliveries"] * 1e6, 2)
        if report["deliveries"]
        else None,
        "simulator_cpu_share": round((sim_cpu1 - sim_cpu0) / seconds, 3),
        "load_clients_cpu_share": round((load_cpu1 - load_cpu0) / seconds, 3),
        "machine_busy_share": round((busy1 - busy0) / (total1 - total0), 3),
        "latency": hist.summary(),
        "by_event": report["by_event"],
        "disconnects": report["disconnects"],
        "per_second": report["per_second"],
        "max_latency_per_second": report["max_latency_per_second"],
        "_hist": hist,
    }
    if metrics0 or metrics1:
        writes = metrics1.get("relay_status_writes_total", 0) - metrics0.get(
            "relay_status_writes_total", 0
        )
        result["db_status_writes_per_s"] = round(writes / seconds, 1)
        result["db_backlog_end"] = metrics1.get("relay_status_backlog")
    return result


def _sustained(step: dict[str, Any], rate: float) -> bool:
    share = step["delivered_share"] or 0.0
    p99 = step["latency"]["p99_ms"]
    sim_kept_up = step["events_per_s"] >= 0.9 * rate
    return sim_kept_up and share >= SUSTAINED_SHARE and p99 is not None and p99 <= SUSTAINED_P99_MS


async def _drain(pool: LoadPool, quiet: float = 1.0, limit: float = 10.0) -> None:
    """After the load stops, wait until the clients stop receiving (queues drained)."""
    waited = 0.0
    last = -1
    while waited < limit:
        await pool.reset()
        await asyncio.sleep(quiet)
        waited += quiet
        got = (await pool.report())["deliveries"]
        if got == 0 or got == last:
            return
        last = got


async def fanout_one(h: Harness, kind: str, sim: Sim, tenants: dict[str, str]) -> dict[str, Any]:
    s = h.sizes
    async with (
        h.server(kind, sim, tenants, f"fanout-{kind}") as server,
        h.pool(server.url, s.fanout_clients, ["t0001"], f"fanout-{kind}") as pool,
    ):
        connected = await pool.connect()
        log.info("fanout %s: %s", LABELS[kind], connected)
        steps: list[dict[str, Any]] = []
        timeline: dict[int, int] = {}
        rate = dict(s.fanout_start_rates).get(kind, s.fanout_start_rate)
        first = rate
        best: dict[str, Any] | None = None
        for _ in range(s.fanout_max_steps):
            await sim.call("load", rate=rate, mix=MIX_FANOUT, payload_bytes=1024, seed=h.seed)
            await asyncio.sleep(s.step_warm)
            step = await window(sim, server, pool, s.step_window, s.fanout_clients)
            step["rate"] = rate
            step["sustained"] = _sustained(step, rate)
            timeline.update(step.pop("per_second"))
            steps.append(step)
            log.info(
                "fanout %s: %.0f ev/s -> %.0f deliveries/s, p99 %s ms, share %s, %s us/delivery",
                LABELS[kind], rate, step["deliveries_per_s"], step["latency"]["p99_ms"],
                step["delivered_share"], step["cpu_us_per_delivery"],
            )  # fmt: skip
            if not step["sustained"]:
                break
            best = step
            rate *= s.fanout_step
        await sim.call("stop_load")
        await _drain(pool, quiet=s.step_warm)
        max_rate = best["rate"] if best else first / 2
        half_rate = max_rate / 2
        await sim.call("load", rate=half_rate, mix=MIX_FANOUT, payload_bytes=1024, seed=h.seed)
        await asyncio.sleep(s.step_warm)
        half = await window(sim, server, pool, s.half_window, s.fanout_clients)
        half["rate"] = half_rate
        timeline.update(half.pop("per_second"))
        await sim.call("stop_load")
        log.info(
            "fanout %s: max %.0f ev/s; at 50%%: p50 %s p99 %s ms, %s us/delivery",
            LABELS[kind], max_rate, half["latency"]["p50_ms"], half["latency"]["p99_ms"],
            half["cpu_us_per_delivery"],
        )  # fmt: skip
        return {
            "connect": connected,
            "max_sustained_rate": max_rate,
            "max_sustained_deliveries_per_s": best["deliveries_per_s"] if best else None,
            "at_max": best,
            "at_half": half,
            "steps": steps,
            "timeline": timeline,
        }


async def fanout(h: Harness) -> dict[str, Any]:
    s = h.sizes
    instances = names(s.fanout_instances)
    tenants = dict.fromkeys(instances, "t0001")
    out: dict[str, Any] = {"clients": s.fanout_clients, "instances": len(instances), "servers": {}}
    async with h.simulator(len(instances), global_events=True) as sim:
        for kind in h.servers:
            out["servers"][LABELS[kind]] = await fanout_one(h, kind, sim, tenants)
    return out


async def tenants_scenario(h: Harness) -> dict[str, Any]:
    s = h.sizes
    instances = names(s.tenants_instances)
    tids = tenant_ids(s.tenants_tenants)
    mapping = spread(instances, tids)
    clients = s.tenants_tenants * s.tenants_clients_per
    out: dict[str, Any] = {
        "tenants": len(tids), "clients": clients, "instances": len(instances),
        "rate": s.tenants_rate, "mix": MIX_TENANTS, "servers": {},
    }  # fmt: skip
    async with h.simulator(len(instances), global_events=True) as sim:
        for kind in h.servers:
            async with (
                h.server(kind, sim, mapping, f"tenants-{kind}") as server,
                h.pool(server.url, clients, tids, f"tenants-{kind}") as pool,
            ):
                connected = await pool.connect()
                await sim.call(
                    "load", rate=s.tenants_rate, mix=MIX_TENANTS, payload_bytes=1024, seed=h.seed
                )
                await asyncio.sleep(s.tenants_warm)
                backlog = _BacklogSampler(server)
                sampler = asyncio.create_task(backlog.run())
                result = await window(sim, server, pool, s.tenants_window, s.tenants_clients_per)
                sampler.cancel()
                await sim.call("stop_load")
                result["connect"] = connected
                result["backlog_samples"] = backlog.samples
                result["timeline"] = result.pop("per_second")
                out["servers"][LABELS[kind]] = result
                log.info(
                    "tenants %s: %.0f deliveries/s, p99 %s ms, writes/s %s, backlog %s",
                    LABELS[kind], result["deliveries_per_s"], result["latency"]["p99_ms"],
                    result.get("db_status_writes_per_s"), backlog.samples[-3:],
                )  # fmt: skip
    return out


class _BacklogSampler:
    """``relay_status_backlog`` once a second (evo-relay only; the peer has no database)."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            metrics = await self._server.metrics()
            if "relay_status_backlog" in metrics:
                self.samples.append(metrics["relay_status_backlog"])
            await asyncio.sleep(1.0)
