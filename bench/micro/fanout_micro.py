"""Micro-benchmark of the hub's fan-out: server CPU µs per delivery, stock vs fast path,
per-message deflate on vs off, with N Node socket.io-client connections on loopback.

    .venv/bin/python bench/fanout_micro.py --clients 200 --events 200 --rate 100 [--uvloop]

The relay (``create_app``) runs in this process on 127.0.0.1; the clients run in separate Node
processes (``bench/node_modules``, ``npm ci --prefix bench``), so this process's CPU time is the
server's. For each deflate setting one app is started; then, per emit mode, a warm-up round
and ``--rounds`` measured rounds of ``--events`` 1 KB events to one tenant room:

- ``stock``: ``AsyncServer.emit(event, payload, room=...)`` (python-socketio's own path);
- ``fast``: ``Hub.publish`` (seq, history, encode once; websocket frames written directly to
  each transport, or the engine.io queue where that path does not apply).

A round's CPU is this whole process's CPU time (``time.process_time()``: user + system of all
threads, what ``/proc/<pid>/stat`` gives the harness) from before the first emit until every
client has reported all events received, divided by clients × events, so the writer tasks that
run after ``publish`` returns are counted. Events are paced at ``--rate`` per second, as the
harness's simulator sends them: each event then wakes each recipient's writer on its own.
``--rate 0`` publishes the round as one burst, as this script used to; a burst lets every
engine.io writer drain the whole round in one wake-up, which is how it reported 2.85 µs for
the queued path while the harness measured 18.8 µs. Figures go to stdout as a table.
Postgres: ``RELAY_DATABASE_URL`` (default ``postgresql://127.0.0.1:5432/test``), schema
``bench_micro``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from relay.app import create_app
from relay.appkeys import HUB
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.hub.rooms import tenant_room

BENCH = Path(__file__).resolve().parent
CLIENT = BENCH / "fanout_micro_client.mjs"
SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"
TENANT = "bench"
PAYLOAD: dict[str, Any] = {
    "event": "messages.upsert",
    "instance": "bench-1",
    "data": {"key": {"id": "X" * 24}, "message": {"conversation": "m" * 900}},
    "server_url": "http://127.0.0.1:8080",
    "date_time": "2025-01-01T00:00:00.000Z",
    "sender": "5511999999999@s.whatsapp.net",
}


async def prepare_schema(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_micro")
    finally:
        await conn.close()
    return dsn + ("&" if "?" in dsn else "?") + "search_path=bench_micro"


class Clients:
    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, url: str, token: str, total: int, per_process: int) -> None:
        left = total
        while left > 0:
            n = min(per_process, left)
            left -= n
            proc = await asyncio.create_subprocess_exec(
                "node", str(CLIENT), url, token, str(n), cwd=str(BENCH),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            self.procs.append(proc)
        await self.each_says("ready")

    async def each_says(self, word: str) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            if line.decode().strip() != word:
                raise RuntimeError(f"client said {line!r}, expected {word!r}")

    async def expect(self, events: int) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"expect {events}\n".encode())
            await proc.stdin.drain()

    async def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            await proc.wait()


async def one_round(app: web.Application, clients: Clients, mode: str, events: int,
                    rate: float) -> float:  # fmt: skip
    hub = app[HUB]
    sio = hub._io.sio  # the stock path, for comparison only
    room = tenant_room(TENANT)
    loop = asyncio.get_running_loop()
    await clients.expect(events)
    start = time.process_time()
    due = loop.time()
    for _ in range(events):
        if rate > 0:
            due += 1 / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
        if mode == "stock":
            await sio.emit("bench", PAYLOAD, room=room)
        else:
            await hub.publish(TENANT, "bench-1", "bench", PAYLOAD)
    await clients.each_says("done")
    return time.process_time() - start


async def measure(args: argparse.Namespace, dsn: str, compression: bool) -> dict[str, float]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=dsn, jwt_secret=SECRET, port=0, ws_compression=compression,
        evolution_url="http://127.0.0.1:9", evolution_apikey="bench", history_size=1000,
    )  # fmt: skip
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    token = mint_token(settings, tenant=TENANT, role=Role.ADMIN, user="bench", ttl=3600)
    clients = Clients()
    results: dict[str, float] = {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        await clients.start(f"http://127.0.0.1:{port}", token, args.clients, args.per_process)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results["max RSS growth KB/client"] = (rss_after - rss_before) / args.clients
        for mode in ("stock", "fast"):
            await one_round(app, clients, mode, args.events, args.rate)  # warm-up
            cpu = [
                await one_round(app, clients, mode, args.events, args.rate)
                for _ in range(args.rounds)
            ]
            results[mode] = statistics.median(cpu) / (args.clients * args.events) * 1e6
    finally:
        await clients.close()
        await runner.cleanup()
    return results


async def main(args: argparse.Namespace) -> None:
    dsn = await prepare_schema(os.environ.get("RELAY_DATABASE_URL",
                                              "postgresql://127.0.0.1:5432/test"))  # fmt: skip
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    python = sys.version.split()[0]
    pace = f"{args.rate:g} events/s" if args.rate > 0 else "one burst"
    print(f"# fan-out micro-benchmark: {args.clients} Node clients, {args.events} events/round "
          f"({pace}), median of {args.rounds} rounds, loop={loop}, python {python}")  # fmt: skip
    print("| deflate | emit path | server CPU µs / delivery |")
    print("|---|---|---|")
    for compression in (True, False):
        results = await measure(args, dsn, compression)
        for mode in ("stock", "fast"):
            label = "on" if compression else "off (default)"
            print(f"| {label} | {mode} | {results[mode]:.2f} |", flush=True)
        print(
            f"<!-- deflate {compression}: startup RSS growth "
            f"{results['max RSS growth KB/client']:.1f} KB/client -->",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-process", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="events/s; 0 = one burst")
    parser.add_argument("--uvloop", action="store_true")
    arguments = parser.parse_args()
    if arguments.uvloop:
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
