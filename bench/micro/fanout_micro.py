"""Micro-benchmark of the hub's fan-out: server CPU µs per delivery, stock vs fast path,
per-message deflate on vs off, with N Node socket.io-client connections on loopback.

    .venv/bin/python -m bench.micro.fanout_micro --clients 200 --events 200 --rate 100 \
        [--uvloop] [--json]

The relay (``create_app``) runs in this process on 127.0.0.1; the clients run in separate Node
processes (``fanout_micro_client.mjs``; ``bench/node_modules``, ``npm ci --prefix bench``), so
this process's CPU time is the server's. For each deflate setting one app is started; then, per
emit mode, a warm-up round and ``--rounds`` measured rounds of ``--events`` 1 KB events to one
tenant room:

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
the queued path while the harness measured 18.8 µs. Figures go to stdout as a table (or one
JSON line with ``--json``). The relay's database is a scratch schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common.database import scratch_schema
from bench.common.servers import BENCH_DIR, JWT_SECRET
from bench.micro import cli
from relay.app import create_app
from relay.appkeys import HUB
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.hub.rooms import tenant_room

CLIENT = Path(__file__).resolve().parent / "fanout_micro_client.mjs"
TENANT = "bench"
PAYLOAD: dict[str, Any] = {
    "event": "messages.upsert",
    "instance": "bench-1",
    "data": {"key": {"id": "X" * 24}, "message": {"conversation": "m" * 900}},
    "server_url": "http://127.0.0.1:8080",
    "date_time": "2025-01-01T00:00:00.000Z",
    "sender": "5511999999999@s.whatsapp.net",
}


class Clients:
    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, url: str, token: str, total: int, per_process: int) -> None:
        left = total
        while left > 0:
            n = min(per_process, left)
            left -= n
            proc = await asyncio.create_subprocess_exec(
                "node", str(CLIENT), url, token, str(n), cwd=str(BENCH_DIR),
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
        _env_file=None, database_url=dsn, jwt_secret=JWT_SECRET, port=0, ws_compression=compression,
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


async def measure_all(args: argparse.Namespace, root_dsn: str, log_dir: Path) -> cli.Figures:
    figures: cli.Figures = {
        "clients": args.clients, "events": args.events, "rounds": args.rounds,
        "rate": args.rate, "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "python": sys.version.split()[0], "us_per_delivery": {},
    }  # fmt: skip
    async with scratch_schema(root_dsn, "bench_micro") as dsn:
        for compression in (True, False):
            results = await measure(args, dsn, compression)
            figures["us_per_delivery"]["deflate on" if compression else "deflate off"] = {
                "stock": round(results["stock"], 3), "fast": round(results["fast"], 3),
                "rss_growth_kb_per_client": round(results["max RSS growth KB/client"], 1),
            }  # fmt: skip
    return figures


def render(f: cli.Figures) -> str:
    pace = f"{f['rate']:g} events/s" if f["rate"] > 0 else "one burst"
    lines = [
        f"# fan-out micro-benchmark: {f['clients']} Node clients, {f['events']} events/round "
        f"({pace}), median of {f['rounds']} rounds, loop={f['loop']}, python {f['python']}",
        "| deflate | emit path | server CPU µs / delivery |",
        "|---|---|---|",
    ]
    for setting, figures in f["us_per_delivery"].items():
        label = "on" if setting == "deflate on" else "off (default)"
        lines += [f"| {label} | {mode} | {figures[mode]:.2f} |" for mode in ("stock", "fast")]
        lines.append(f"<!-- {setting}: startup RSS growth "
                     f"{figures['rss_growth_kb_per_client']:.1f} KB/client -->")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__ or "", "python -m bench.micro.fanout_micro")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-process", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="events/s; 0 = one burst")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args(argv)
    cli.run(measure_all, args, render, use_uvloop=args.uvloop)


if __name__ == "__main__":
    main()
