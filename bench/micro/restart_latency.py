"""p50/p99 latency of ``POST /api/instance-management/restart/{name}`` against the simulator.

    .venv/bin/python -m bench.micro.restart_latency [--calls 300] [--warmup 20] [--json]

A real ``python -m relay serve`` child (a scratch schema) sits between this process (the HTTP
client, plus the Evolution simulator on a loopback port, through its Python API) and
Postgres. Each call is one Evolution restart plus one status write and one audit row, sent one
after another on a kept-alive connection; the first ``--warmup`` calls (connections, caches)
are not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.common.servers import RelayServer
from bench.common.tenant import RelayApi, token
from bench.micro import cli
from relay.store.models import Status
from simulator import PresetInstance, SimConfig, Simulator

SIM_KEY = "bench-sim-key"
NAME = "bench-inst"
TENANT = "bench"
NEVER = 3600.0
"""No QR and no reconnect during the run: each restart leaves the instance connecting."""


async def measure(opts: argparse.Namespace, root_dsn: str, log_dir: Path) -> cli.Figures:
    preset = PresetInstance(NAME, state="open", token="bench-token")
    sim = Simulator(SimConfig(apikey=SIM_KEY, presets=[preset], qr_interval=NEVER,
                              first_qr_delay=NEVER, reconnect_delay=NEVER))  # fmt: skip
    relay = RelayServer(root_dsn, log_dir)
    timings: list[float] = []
    try:
        sim_url = await sim.start("127.0.0.1", 0)
        await relay.prepare({NAME: TENANT}, Status.WORKING)
        await relay.start(sim_url, SIM_KEY, "instance", "restart-latency")
        async with RelayApi(relay.url, token(TENANT)) as api:
            for i in range(opts.calls + opts.warmup):
                started = time.perf_counter()
                await api.call("POST", f"/restart/{NAME}")
                if i >= opts.warmup:
                    timings.append((time.perf_counter() - started) * 1000)
    finally:
        await relay.stop()
        await sim.stop()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return {
        "calls": len(timings), "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(p99, 2), "max_ms": round(timings[-1], 2),
    }  # fmt: skip


def render(f: cli.Figures) -> str:
    return (
        f"POST /restart x{f['calls']}: p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, "
        f"max {f['max_ms']:.2f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(__doc__ or "", "python -m bench.micro.restart_latency")
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    cli.run(measure, p.parse_args(argv), render)


if __name__ == "__main__":
    main()
