"""End-to-end latency: simulator emit → evo-relay → python-socketio client receipt.

    .venv/bin/python bench/e2e_latency.py [--rate 100] [--clients 100] [--tenants 10]
                                           [--instances 10] [--seconds 20]

The simulator (``evo-relay simulate``) and the relay (``evo-relay serve``, instance mode)
run as child processes on loopback; the clients run in this process, spread evenly over the
tenants, each instance belonging to one tenant (so each event reaches clients/tenants clients).
The simulator stamps its send time into every ``messages.upsert`` (``sent_at_ms``); the figure
is receipt time minus that, over every delivery in the window, after a warm-up.
Postgres: ``RELAY_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``); a
fresh schema is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import socketio

from relay.auth import Role, mint_token
from relay.config import Settings
from relay.simulator import sent_at_ms
from relay.store import Status, Store

SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"
KEY = "bench-apikey"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def child(args: list[str], env: dict[str, str], ready_url: str) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(ready_url) as reply:
                        if reply.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args[1:3]} not ready at {ready_url}")
                await asyncio.sleep(0.1)
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def main(opts: argparse.Namespace) -> None:
    root = os.environ.get("RELAY_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"bench_e2e_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(root)
    await conn.execute(f"CREATE SCHEMA {schema}")
    dsn = f"{root}{'&' if '?' in root else '?'}search_path={schema}"
    names = [f"sim-{i:04d}" for i in range(1, opts.instances + 1)]
    tenants = [f"tenant-{i}" for i in range(opts.tenants)]
    store = await Store.open(dsn)
    for i, name in enumerate(names):
        await store.create_instance(
            tenants[i % len(tenants)], name, status=Status.WORKING, reason="bench",
            websocket_enabled=True, websocket_events=["MESSAGES_UPSERT"],
        )  # fmt: skip
    await store.close()
    sim_port, relay_port = free_port(), free_port()
    exe = sys.executable
    sim_args = [exe, "-m", "relay", "simulate", "--port", str(sim_port), "--apikey", KEY,
                "--instances", str(opts.instances), "--event-rate", str(opts.rate)]  # fmt: skip
    relay_env = {
        "RELAY_PORT": str(relay_port), "RELAY_DATABASE_URL": dsn,
        "RELAY_EVOLUTION_URL": f"http://127.0.0.1:{sim_port}", "RELAY_EVOLUTION_APIKEY": KEY,
        "RELAY_JWT_SECRET": SECRET, "RELAY_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    settings = Settings(_env_file=None, jwt_secret=SECRET)  # type: ignore[call-arg]
    latencies: list[float] = []
    measuring = False
    try:
        async with (
            child(sim_args, {}, f"http://127.0.0.1:{sim_port}/"),
            child(
                [exe, "-m", "relay", "serve"], relay_env, f"http://127.0.0.1:{relay_port}/readyz"
            ),
        ):
            clients = []
            for i in range(opts.clients):
                tenant = tenants[i % len(tenants)]
                token = mint_token(settings, tenant=tenant, role=Role.USER, user=f"u{i}", ttl=3600)
                client = socketio.AsyncClient(reconnection=False)

                async def on_message(data: Any) -> None:
                    sent = sent_at_ms(data.get("data") or {})
                    if measuring and sent is not None:
                        latencies.append(time.time() * 1000 - sent)

                client.on("messages.upsert", on_message)
                await client.connect(
                    f"http://127.0.0.1:{relay_port}", auth={"token": token},
                    transports=["websocket"],
                )  # fmt: skip
                clients.append(client)
            await asyncio.sleep(opts.warmup)
            measuring = True
            await asyncio.sleep(opts.seconds)
            measuring = False
            for client in clients:
                await client.disconnect()
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    if not latencies:
        raise SystemExit("no deliveries measured")
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    expected = opts.rate * opts.seconds * opts.clients / opts.tenants
    print(
        f"rate {opts.rate}/s, {opts.clients} clients over {opts.tenants} tenants, "
        f"{opts.seconds:.0f} s: {len(latencies)} deliveries (~{expected:.0f} expected); "
        f"latency p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {latencies[-1]:.1f} ms"
    )


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--instances", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
