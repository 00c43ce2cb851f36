"""The servers under test, each a separate process: evo-relay, the Node peer and the stock
python-socketio peer (``bench/peers/python_sio``).

evo-relay runs as ``python -m relay serve`` (``BENCH_RELAY_CMD`` replaces that command, to
measure another build) on a schema of its own (``?search_path=``) in the
benchmark's Postgres; the harness creates the instances and their tenants in it through
:class:`relay.store.Store` before the relay starts. The Node peer gets the same instance→tenant
mapping as a JSON file.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common.database import create_schema, drop_schema, new_schema_name
from bench.common.procs import Child, free_port, wait_healthy
from bench.common.stats import cpu_seconds, cpu_times, rss_kb
from relay.store import Store
from relay.store.models import Status

BENCH_DIR = Path(__file__).resolve().parents[1]
JWT_SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"
METRIC_POLL = 0.2
STOP_GRACE = 20.0
"""evo-relay needs more than 5 s to close 10,000 connections at shutdown."""
WEBSOCKET_EVENTS = ("CONNECTION_UPDATE", "QRCODE_UPDATED", "MESSAGES_UPSERT")


class Server:
    """What the scenarios need from either server."""

    label: str
    url: str
    child: Child

    @property
    def pid(self) -> int:
        return self.child.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def kernel_cpu(self) -> float:
        return cpu_times(self.pid)[1]

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    async def metrics(self) -> dict[str, float]:
        return {}

    async def stop_process(self) -> None:
        """Stop the process if it was started (safe after a failed start, and twice)."""
        child: Child | None = getattr(self, "child", None)
        if child is not None:
            await child.stop(grace=STOP_GRACE)

    async def stop(self) -> None:
        await self.stop_process()


class RelayServer(Server):
    label = "evo-relay"

    def __init__(self, root_dsn: str, log_dir: Path) -> None:
        self._root_dsn = root_dsn
        self._log_dir = log_dir
        self.schema = new_schema_name()
        self.dsn = ""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def prepare(self, tenants: dict[str, str], status: Status = Status.WORKING) -> None:
        """Create the schema and one row per instance (tenant from ``tenants``)."""
        self.dsn = await create_schema(self._root_dsn, self.schema)
        store = await Store.open(self.dsn, max_size=8)
        try:
            sem = asyncio.Semaphore(8)

            async def create(name: str, tenant: str) -> None:
                async with sem:
                    await store.create_instance(
                        tenant, name, status=status, reason="bench setup",
                        websocket_enabled=True, websocket_events=WEBSOCKET_EVENTS,
                    )  # fmt: skip

            await asyncio.gather(*(create(n, t) for n, t in tenants.items()))
        finally:
            await store.close()

    async def start(
        self, sim_url: str, apikey: str, mode: str, tag: str, env: dict[str, str] | None = None
    ) -> None:
        """``env``: further ``RELAY_*`` settings (e.g. ``RELAY_RECONCILE_INTERVAL``)."""
        env = {
            **os.environ,
            "RELAY_HOST": "127.0.0.1",
            "RELAY_PORT": str(self.port),
            "RELAY_DATABASE_URL": self.dsn,
            "RELAY_DATA_DIR": str(self._log_dir / "relay-data"),
            "RELAY_EVOLUTION_URL": sim_url,
            "RELAY_EVOLUTION_APIKEY": apikey,
            "RELAY_EVOLUTION_EVENTS_MODE": mode,
            "RELAY_JWT_SECRET": JWT_SECRET,
            "RELAY_LOG_LEVEL": os.environ.get("BENCH_RELAY_LOG_LEVEL", "WARNING"),
            **(env or {}),
        }
        argv = shlex.split(os.environ.get("BENCH_RELAY_CMD", "")) or [
            sys.executable, "-m", "relay", "serve"
        ]  # fmt: skip
        self.child = await Child.spawn(f"{tag}-relay", argv, self._log_dir, env)
        await wait_healthy(self.url + "/readyz", self.child)

    async def metrics_text(self) -> str:
        """The relay's ``/metrics`` as Prometheus text."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as resp,
        ):
            return await resp.text()

    async def metrics(self) -> dict[str, float]:
        """Un-labelled sums of the relay's Prometheus samples (``relay_*``)."""
        text = await self.metrics_text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("relay_") and " " in line:
                name, value = line.rsplit(" ", 1)
                key = name.split("{", 1)[0]
                out[key] = out.get(key, 0.0) + float(value)
        return out

    async def wait_metric(self, name: str, at_least: float, within: float) -> float | None:
        """Seconds until the metric ``name`` reaches ``at_least``; None if it did not in time."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if (await self.metrics()).get(name, 0.0) >= at_least:
                return round(time.monotonic() - started, 2)
            await asyncio.sleep(METRIC_POLL)
        return None

    async def store(self) -> Store:
        return await Store.open(self.dsn, max_size=2)

    async def row_updates(self, table: str = "instances") -> int:
        """``n_tup_upd`` of one of the relay's tables (``pg_stat_user_tables``).

        Postgres publishes a backend's counts when it goes idle, at most once a second (and
        only after ~10 s once it stays idle), and when it exits: read it after the relay has
        stopped for a final figure.
        """
        conn = await asyncpg.connect(self._root_dsn)
        try:
            value = await conn.fetchval(
                "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
                self.schema, table,
            )  # fmt: skip
        finally:
            await conn.close()
        return int(value or 0)

    async def table_writes(self, table: str) -> tuple[int, int]:
        """``(n_tup_ins, n_tup_upd)`` of one of the relay's tables (same caveat as
        :meth:`row_updates`: final only after the relay has stopped)."""
        conn = await asyncpg.connect(self._root_dsn)
        try:
            row = await conn.fetchrow(
                "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables "
                "WHERE schemaname = $1 AND relname = $2", self.schema, table,
            )  # fmt: skip
        finally:
            await conn.close()
        return (int(row["n_tup_ins"]), int(row["n_tup_upd"])) if row else (0, 0)

    async def stop(self) -> None:
        await super().stop()
        await drop_schema(self._root_dsn, self.schema)


class NodePeer(Server):
    label = "node-peer"

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def prepare(self, tenants: dict[str, str], status: Status = Status.WORKING) -> None:
        self._tenants_file = self._log_dir / f"tenants-{self.port}.json"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._tenants_file.write_text(json.dumps(tenants))

    def _peer_env(self, sim_url: str, apikey: str) -> dict[str, str]:
        """What both peers read: their port, the upstream, the JWT secret and the tenants."""
        return {
            **os.environ,
            "PORT": str(self.port),
            "UPSTREAM_URL": sim_url,
            "UPSTREAM_APIKEY": apikey,
            "JWT_SECRET": JWT_SECRET,
            "TENANTS_FILE": str(self._tenants_file),
        }

    async def start(
        self, sim_url: str, apikey: str, mode: str, tag: str, env: dict[str, str] | None = None
    ) -> None:
        if mode != "global":
            raise ValueError("the Node peer subscribes in global mode only")
        env = self._peer_env(sim_url, apikey)
        script = BENCH_DIR / "peers" / "node-relay" / "relay.js"
        self.child = await Child.spawn(f"{tag}-node", ["node", str(script)], self._log_dir, env)
        await wait_healthy(self.url + "/readyz", self.child)


class PySioPeer(NodePeer):
    """Stock python-socketio (``AsyncServer.emit(event, data, to=room)``) on aiohttp + uvloop."""

    label = "python-socketio"

    async def start(
        self, sim_url: str, apikey: str, mode: str, tag: str, env: dict[str, str] | None = None
    ) -> None:
        if mode != "global":
            raise ValueError("the python-socketio peer subscribes in global mode only")
        env = self._peer_env(sim_url, apikey)
        argv = [sys.executable, "-m", "bench.peers.python_sio.server"]
        self.child = await Child.spawn(f"{tag}-pysio", argv, self._log_dir, env)
        await wait_healthy(self.url + "/readyz", self.child)


Peer = RelayServer | NodePeer


def make_server(kind: str, root_dsn: str, log_dir: Path) -> Peer:
    if kind == "relay":
        return RelayServer(root_dsn, log_dir)
    return PySioPeer(log_dir) if kind == "pysio" else NodePeer(log_dir)


def summary(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}
