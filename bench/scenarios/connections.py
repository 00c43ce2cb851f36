"""Scenarios 3 and 4: idle (many connected clients: RSS and CPU) and storm (all reconnect).

idle: the server's RSS is read once it is ready with no client, then with every client
connected and settled; the difference divided by the clients is the RSS per idle connection.
Idle CPU is the server's CPU share over a window with every client connected and no events.

storm: every client disconnects and reconnects at once; the figure is the time from the
command until the last client has its ``instances.snapshot``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bench.common.harness import LABELS, Harness, names, sample_cpu, spread, tenant_ids
from bench.common.stats import listen_overflows

log = logging.getLogger(__name__)


async def idle(h: Harness) -> dict[str, Any]:
    s = h.sizes
    tids = tenant_ids(s.idle_tenants)
    mapping = spread(names(len(tids)), tids)
    out: dict[str, Any] = {"clients": s.idle_clients, "tenants": len(tids), "servers": {}}
    async with h.simulator(len(mapping), global_events=True) as sim:
        for kind in h.servers:
            async with h.server(kind, sim, mapping, f"idle-{kind}") as server:
                await asyncio.sleep(s.idle_settle)
                rss0 = server.rss_kb()
                async with h.pool(server.url, s.idle_clients, tids, f"idle-{kind}") as pool:
                    cpu0, overflows0 = server.cpu(), listen_overflows()
                    connected = await pool.connect()
                    overflows = listen_overflows() - overflows0
                    connect_cpu = server.cpu() - cpu0
                    await asyncio.sleep(s.idle_settle)
                    rss1 = server.rss_kb()
                    idle_cpu = await sample_cpu(server.pid, s.idle_window)
                    report = await pool.report()
                    still = report["connected"]
                n = max(1, connected["connected"])
                result = {
                    "connect": connected,
                    "connect_cpu_s": round(connect_cpu, 3),
                    "listen_overflows": overflows,
                    "connect_cpu_ms_per_client": round(connect_cpu / n * 1000, 3),
                    "rss_before_kb": rss0,
                    "rss_connected_kb": rss1,
                    "rss_per_client_kb": round((rss1 - rss0) / n, 2),
                    "idle_cpu_share": round(idle_cpu / s.idle_window, 4),
                    "idle_window_s": s.idle_window,
                    "still_connected": still,
                }
                out["servers"][LABELS[kind]] = result
                log.info(
                    "idle %s: %s connected in %ss, %.1f KB/client, idle CPU %.2f%%",
                    LABELS[kind], connected["connected"], connected["seconds"],
                    result["rss_per_client_kb"], result["idle_cpu_share"] * 100,
                )  # fmt: skip
    return out


async def storm(h: Harness) -> dict[str, Any]:
    s = h.sizes
    tids = tenant_ids(s.storm_tenants)
    mapping = spread(names(s.storm_instances), tids)
    out: dict[str, Any] = {
        "clients": s.storm_clients, "tenants": len(tids), "instances": len(mapping), "servers": {}
    }  # fmt: skip
    async with h.simulator(len(mapping), global_events=True) as sim:
        for kind in h.servers:
            async with (
                h.server(kind, sim, mapping, f"storm-{kind}") as server,
                h.pool(server.url, s.storm_clients, tids, f"storm-{kind}") as pool,
            ):
                connected = await pool.connect()
                await asyncio.sleep(1.0)
                cpu0, overflows0 = server.cpu(), listen_overflows()
                result = await pool.storm()
                result["server_cpu_s"] = round(server.cpu() - cpu0, 3)
                result["listen_overflows"] = listen_overflows() - overflows0
                result["connect"] = connected
                out["servers"][LABELS[kind]] = result
                log.info(
                    "storm %s: %s/%s snapshots, last after %ss",
                    LABELS[kind], result["snapshots"], s.storm_clients,
                    result["last_snapshot_s"],
                )  # fmt: skip
    return out
