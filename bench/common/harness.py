"""What every scenario uses: sizes, the simulator process, server start-up and load pools."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import profiling, simfeatures
from bench.common.loadpool import LoadPool
from bench.common.procs import LineProcess
from bench.common.servers import NodePeer, RelayServer, make_server
from bench.common.stats import cpu_seconds
from relay.store.models import Status

SERVERS = ("relay", "node", "pysio")
LABELS = {"relay": "evo-relay", "node": "node-peer", "pysio": "python-socketio"}
PROFILED = ("relay", "pysio")
"""The Python servers: py-spy records each of them for the whole of its run in a scenario."""


@dataclass(frozen=True)
class Sizes:
    load_procs: int = 4
    fanout_clients: int = 1000
    fanout_instances: int = 10
    fanout_start_rate: float = 22.5  # 15 × 1.5: the same steps from 22.5 on, one fewer
    fanout_start_rates: tuple[tuple[str, float], ...] = (("pysio", 4.0),)
    """Servers whose ramp starts lower: stock python-socketio falls behind below 15 ev/s."""
    fanout_step: float = 1.5
    fanout_max_steps: int = 9
    step_warm: float = 1.0
    step_window: float = 3.0
    half_window: float = 5.0
    tenants_tenants: int = 500
    tenants_clients_per: int = 2
    tenants_instances: int = 1000
    tenants_rate: float = 2000.0
    tenants_warm: float = 2.0
    tenants_window: float = 6.0
    idle_clients: int = 10_000
    idle_tenants: int = 100
    idle_settle: float = 1.0
    idle_window: float = 26.0  # more than one ping interval (25 s): every client is pinged in it
    storm_clients: int = 2000
    storm_tenants: int = 100
    storm_instances: int = 200
    resub_instances: int = 1000
    resub_lost_fraction: float = 0.1
    resub_deadline: float = 30.0
    reconnect_delay: float = 1.0
    qr_interval: float = 3.0
    connect_concurrency: int = 32
    first_qr_instances: int = 50
    first_qr_lanes: int = 5
    first_qr_delay: float = 1.0
    connect_wait: float = 2.0
    qr_first_ttl: float = 60.0
    pairing_qr_interval: float = 20.0
    first_qr_deadline: float = 4.0
    recovery_instances: int = 50
    recovery_sim_down: float = 10.0
    """Evolution answers HTTP again 9–13 s after a restart (docs/upstream.md §12)."""
    recovery_pg_down: float = 8.0
    recovery_deadline: float = 30.0
    loop_instances: int = 6
    loop_rate: float = 20.0
    loop_seconds: float = 12.0
    loop_reconcile: float = 5.0
    storm_loop_instances: int = 500
    storm_loop_tenants: int = 50
    storm_loop_other_rate: float = 20.0
    storm_loop_warm: float = 3.0
    storm_loop_seconds: float = 10.0
    ingest_instances: int = 100
    ingest_tenants: int = 10
    ingest_rates: tuple[float, ...] = (2000.0, 4000.0, 8000.0, 12000.0, 16000.0)
    ingest_warm: float = 1.5
    ingest_window: float = 4.0
    micro_fanout: str = "--rounds 1"
    micro_e2e: str = "--seconds 6"
    micro_restart: str = ""
    """Options of each micro-benchmark (empty: its own defaults)."""
    micro_wait: float = 150.0
    panel_instances: int = 1000
    panel_tenants: int = 10
    panel_rate: float = 100.0
    """``instance.status`` events per second while the panel is watched."""
    panel_window: float = 15.0
    panel_settle: float = 1.0
    panel_catch_up: float = 15.0


FULL = Sizes()
SMOKE = replace(
    FULL,
    load_procs=1,
    fanout_clients=20,
    fanout_instances=2,
    fanout_start_rate=20.0,
    fanout_max_steps=2,
    step_warm=0.5,
    step_window=1.0,
    half_window=1.5,
    tenants_tenants=5,
    tenants_instances=10,
    tenants_rate=100.0,
    tenants_warm=0.5,
    tenants_window=2.0,
    idle_clients=100,
    idle_tenants=10,
    idle_settle=0.5,
    idle_window=1.0,
    storm_clients=50,
    storm_tenants=10,
    storm_instances=10,
    resub_instances=20,
    resub_deadline=15.0,
    first_qr_instances=2,
    recovery_instances=6,
    recovery_sim_down=1.0,
    recovery_pg_down=2.0,
    recovery_deadline=10.0,
    loop_instances=2,
    loop_seconds=3.0,
    storm_loop_instances=10,
    storm_loop_tenants=2,
    storm_loop_warm=1.0,
    storm_loop_seconds=2.0,
    ingest_instances=10,
    ingest_tenants=2,
    ingest_rates=(100.0, 200.0),
    ingest_warm=0.5,
    ingest_window=1.0,
    micro_fanout="--clients 4 --events 10 --rounds 1 --per-process 4",
    micro_e2e="--rate 20 --clients 2 --tenants 1 --instances 1 --seconds 1 --warmup 0.5",
    micro_restart="--calls 10 --warmup 2",
    micro_wait=40.0,
    panel_instances=50,
    panel_tenants=5,
    panel_rate=20.0,
    panel_window=2.0,
    panel_settle=0.5,
    panel_catch_up=5.0,
)

MIX_TENANTS = {"messages.upsert": 0.90, "qrcode.updated": 0.08, "connection.update": 0.02}
MIX_FANOUT = {"messages.upsert": 1.0}


def names(count: int) -> list[str]:
    """The simulator's preset names (``simulator.config.load_presets``)."""
    return [f"sim-{i:04d}" for i in range(1, count + 1)]


def tenant_ids(count: int) -> list[str]:
    return [f"t{i:04d}" for i in range(1, count + 1)]


def spread(instances: list[str], tenants: list[str]) -> dict[str, str]:
    """Consecutive instances per tenant: with 1000 and 500, two each."""
    per = max(1, len(instances) // len(tenants))
    return {name: tenants[min(i // per, len(tenants) - 1)] for i, name in enumerate(instances)}


class Sim:
    """The simulator child process (``python -m bench.common.simproc``)."""

    def __init__(self, proc: LineProcess) -> None:
        self.proc = proc
        self.url = ""
        self.apikey = ""

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def call(self, cmd: str, wait: float = 60.0, **args: Any) -> dict[str, Any]:
        return await self.proc.request({"cmd": cmd, **args}, wait)

    async def http(self, method: str, path: str) -> Any:
        """One HTTP call to the simulator (Evolution's routes, or its ``/_sim`` controls)."""
        async with (
            aiohttp.ClientSession(headers={"apikey": self.apikey}) as session,
            session.request(method, self.url + path, timeout=aiohttp.ClientTimeout(10)) as resp,
        ):
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"simulator {method} {path}: {resp.status} {body}")
            return body


@dataclass
class Harness:
    sizes: Sizes
    root_dsn: str
    log_dir: Path
    seed: int = 20240607
    servers: tuple[str, ...] = SERVERS
    smoke: bool = False
    profile_dir: Path | None = None
    """Where py-spy's flame graphs go (None: no profiling)."""
    profiles: list[dict[str, Any]] = field(default_factory=list)
    """The current scenario's recordings (:func:`bench.common.profiling.record`); run.py takes
    and empties it after each scenario."""

    def gate(self, needs: tuple[str, ...], *, relay_only: bool = False) -> dict[str, Any] | None:
        """None when the scenario can run: evo-relay is among the servers (``relay_only``) and
        the simulator has ``needs``; else what the scenario (or part) returns: skipped without
        evo-relay; skipped under ``--smoke``, an error otherwise, for a simulator that lacks
        something (:mod:`bench.common.simfeatures`)."""
        if relay_only and "relay" not in self.servers:
            return {"skipped": "evo-relay only"}
        lacking = simfeatures.missing(needs)
        if not lacking:
            return None
        return {"skipped" if self.smoke else "error": simfeatures.message(lacking)}

    @contextlib.asynccontextmanager
    async def simulator(self, instances: int, **options: Any) -> AsyncIterator[Sim]:
        argv = [sys.executable, "-m", "bench.common.simproc"]
        proc = await LineProcess.spawn("simulator", argv, self.log_dir, stdin=True)
        sim = Sim(proc)
        try:
            reply = await sim.call("start", instances=instances, **options)
            sim.url, sim.apikey = reply["url"], reply["apikey"]
            yield sim
        finally:
            await proc.stop()

    @contextlib.asynccontextmanager
    async def server(
        self,
        kind: str,
        sim: Sim,
        tenants: dict[str, str],
        tag: str,
        mode: str = "global",
        status: Status = Status.WORKING,
        env: dict[str, str] | None = None,
        root_dsn: str | None = None,
    ) -> AsyncIterator[RelayServer | NodePeer]:
        """A started server; ``env`` adds settings, ``root_dsn`` replaces the run's Postgres."""
        server = make_server(kind, root_dsn or self.root_dsn, self.log_dir)
        try:
            await server.prepare(tenants, status)
            await server.start(sim.url, sim.apikey, mode, tag, env)
            if self.profile_dir is not None and kind in PROFILED:
                async with profiling.record(server.pid, self.profile_dir, tag) as entry:
                    self.profiles.append(entry)
                    yield server
            else:
                yield server
        finally:
            await server.stop()

    @contextlib.asynccontextmanager
    async def pool(
        self, url: str, clients: int, tenants: list[str], tag: str
    ) -> AsyncIterator[LoadPool]:
        procs = self.sizes.load_procs if clients >= 200 else 1
        pool = LoadPool(
            url, clients, tenants, procs, self.log_dir, tag, self.sizes.connect_concurrency
        )
        try:
            await pool.start()
            yield pool
        finally:
            await pool.stop()


async def sample_cpu(pid: int, seconds: float) -> float:
    """CPU seconds ``pid`` used during the next ``seconds``."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(pid) - before


def now() -> float:
    return time.monotonic()
