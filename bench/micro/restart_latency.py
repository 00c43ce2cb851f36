"""p50/p99 latency of ``POST /api/instance-management/restart/{name}`` against the simulator.

Run by hand (not a test, nothing is asserted):

    .venv/bin/python -m bench.restart_latency [--calls 300] [--database-url DSN]

A real ``evo-relay serve`` subprocess sits between this process (the HTTP client, plus the
Evolution simulator on a loopback port) and Postgres (``--database-url``, default the local
test server; a fresh schema is made and dropped). Each call is one Evolution restart plus one
status write and one audit row, sent one after another on a kept-alive connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

from relay.auth import Role, mint_token
from relay.config import Settings
from relay.simulator import SimConfig, Simulator
from relay.store import Store
from relay.store.models import Status

SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"
SIM_KEY = "bench-sim-key"
NAME = "bench-inst"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(dsn: str, sim: Simulator) -> None:
    from relay.simulator.state import Instance

    instance = Instance(name=NAME, token="bench-token", integration="WHATSAPP-BAILEYS")
    sim.store.add(instance)
    await sim.machine.become_open(instance)
    store = await Store.open(dsn)
    try:
        await store.create_instance("bench", NAME, status=Status.WORKING, reason="bench")
    finally:
        await store.close()


async def _wait_healthy(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            await asyncio.sleep(0.05)
    raise SystemExit("evo-relay serve did not come up")


async def main(calls: int, root_dsn: str) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(root_dsn)
    await conn.execute(f"CREATE SCHEMA {schema}")
    dsn = root_dsn + ("&" if "?" in root_dsn else "?") + f"search_path={schema}"
    sim = Simulator(SimConfig(apikey=SIM_KEY, qr_interval=3600, first_qr_delay=3600,
                              reconnect_delay=3600))  # fmt: skip
    sim_url = await sim.start("127.0.0.1", 0)
    await _seed(dsn, sim)
    port = _free_port()
    env = {**os.environ, "RELAY_PORT": str(port), "RELAY_DATABASE_URL": dsn,
           "RELAY_EVOLUTION_URL": sim_url, "RELAY_EVOLUTION_APIKEY": SIM_KEY,
           "RELAY_JWT_SECRET": SECRET, "RELAY_LOG_LEVEL": "WARNING"}  # fmt: skip
    binary = shutil.which("evo-relay") or str(Path(sys.executable).parent / "evo-relay")
    proc = await asyncio.create_subprocess_exec(binary, "serve", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(base)
        settings = Settings(_env_file=None, jwt_secret=SECRET)  # type: ignore[call-arg]
        token = mint_token(settings, tenant="bench", role=Role.ADMIN, user="bench")
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{base}/api/instance-management/restart/{NAME}"
        timings: list[float] = []
        async with aiohttp.ClientSession(headers=headers) as session:
            for i in range(calls + 20):
                started = time.perf_counter()
                async with session.post(url) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                if i >= 20:  # the first 20 warm connections, caches and the JIT-less paths
                    timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
        print(f"POST /restart x{len(timings)}: p50 {statistics.median(timings):.2f} ms, "
              f"p99 {p99:.2f} ms, max {timings[-1]:.2f} ms")  # fmt: skip
    finally:
        proc.terminate()
        await proc.wait()
        await sim.stop()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "RELAY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.database_url))
