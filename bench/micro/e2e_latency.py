"""End-to-end latency: simulator emit → evo-relay → python-socketio client receipt.

    .venv/bin/python -m bench.micro.e2e_latency [--rate 100] [--clients 100] [--tenants 10]
                                                [--instances 10] [--seconds 20] [--json]

The simulator (``evo-relay simulate``, its own ``messages.upsert`` load) and the relay
(``python -m relay serve``, instance mode, a scratch schema) run as child processes on
loopback; the clients run in this process, spread evenly over the tenants, each instance
belonging to one tenant (so each event reaches clients/tenants clients). The simulator stamps
its send time into every ``messages.upsert`` (``sent_at_ms``); the figure is receipt time
minus that, over every delivery in the window, after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import socketio

from bench.common.procs import Child, free_port, wait_healthy
from bench.common.servers import RelayServer
from bench.common.tenant import token
from bench.micro import cli
from relay.auth import Role
from simulator import sent_at_ms

KEY = "bench-apikey"


class Latencies:
    def __init__(self) -> None:
        self.measuring = False
        self.ms: list[float] = []

    def on_message(self, data: Any) -> None:
        sent = sent_at_ms(data.get("data") or {}) if isinstance(data, dict) else None
        if self.measuring and sent is not None:
            self.ms.append(time.time() * 1000 - sent)


async def _clients(url: str, tenants: list[str], count: int, sink: Latencies) -> list[Any]:
    clients = []
    for i in range(count):
        client = socketio.AsyncClient(reconnection=False)
        client.on("messages.upsert", sink.on_message)
        bearer = token(tenants[i % len(tenants)], Role.USER, user=f"u{i}")
        await client.connect(url, auth={"token": bearer}, transports=["websocket"])
        clients.append(client)
    return clients


async def measure(opts: argparse.Namespace, root_dsn: str, log_dir: Path) -> cli.Figures:
    names = [f"sim-{i:04d}" for i in range(1, opts.instances + 1)]
    tenants = [f"tenant-{i}" for i in range(opts.tenants)]
    sim_port = free_port()
    sim_args = [sys.executable, "-m", "relay", "simulate", "--port", str(sim_port),
                "--apikey", KEY, "--instances", str(opts.instances),
                "--event-rate", str(opts.rate)]  # fmt: skip
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = await Child.spawn("e2e-simulator", sim_args, log_dir)
    relay = RelayServer(root_dsn, log_dir)
    sink = Latencies()
    try:
        await wait_healthy(sim_url + "/", sim, within=30)
        await relay.prepare({name: tenants[i % len(tenants)] for i, name in enumerate(names)})
        await relay.start(sim_url, KEY, "instance", "e2e")
        clients = await _clients(relay.url, tenants, opts.clients, sink)
        await asyncio.sleep(opts.warmup)
        sink.measuring = True
        await asyncio.sleep(opts.seconds)
        sink.measuring = False
        for client in clients:
            await client.disconnect()
    finally:
        await relay.stop()
        await sim.stop()
    if not sink.ms:
        raise SystemExit("no deliveries measured")
    ms = sorted(sink.ms)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "rate": opts.rate, "clients": opts.clients, "tenants": opts.tenants,
        "seconds": opts.seconds, "deliveries": len(ms),
        "expected_deliveries": round(opts.rate * opts.seconds * opts.clients / opts.tenants),
        "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "max_ms": round(ms[-1], 2),
    }  # fmt: skip


def render(f: cli.Figures) -> str:
    return (
        f"rate {f['rate']}/s, {f['clients']} clients over {f['tenants']} tenants, "
        f"{f['seconds']:.0f} s: {f['deliveries']} deliveries (~{f['expected_deliveries']} "
        f"expected); latency p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
        f"max {f['max_ms']:.1f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(__doc__ or "", "python -m bench.micro.e2e_latency")
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--instances", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    cli.run(measure, p.parse_args(argv), render)


if __name__ == "__main__":
    main()
