"""Where the memory of an idle Socket.IO connection goes: RSS, tracemalloc and objects per
connection, with N Node socket.io-client connections on loopback.

    .venv/bin/python -m bench.micro.conn_memory --clients 2000 --tenants 100 \
        [--trace 25] [--top 25] [--no-uvloop] [--json]

The relay (``create_app``, uvloop as ``relay serve`` runs it) serves in this process on
127.0.0.1; the clients are the benchmark's load generator (``bench/load/client.js`` through
:class:`bench.common.loadpool.LoadPool`: websocket transport, one JWT per client, client ``i``
in tenant ``i % tenants``), so everything measured here is the server's. After a settle, the
figures are taken once with no client and once with every client connected and welcomed:

- **RSS** (VmRSS) growth per connection: what ``bench.run --scenarios idle`` reports; with
  ``--trace`` tracemalloc's own bookkeeping inflates it, so take RSS from a run without it;
- **tracemalloc** (``--trace FRAMES``): the growth of Python-allocated bytes per connection,
  grouped by allocation site (file:line) and by whole traceback (``--top`` of each). Memory
  that C code gets from ``malloc`` (uvloop's handles and buffers, llhttp) is not seen here: the
  gap between the RSS and the traced growth is that, plus allocator overhead;
- **objects**: the growth of live objects per connection by type (``gc.get_objects()``, which
  lists only objects the collector tracks: no str, bytes or int), and asyncio tasks.

The relay's database is a scratch schema (no instances: every welcome is an empty snapshot),
dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import linecache
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common.database import scratch_schema
from bench.common.harness import tenant_ids
from bench.common.loadpool import LoadPool
from bench.common.servers import JWT_SECRET
from bench.common.stats import rss_kb
from bench.micro import cli
from relay.app import create_app
from relay.config import Settings

SETTLE = 2.0  # seconds after the last connect (and before the first reading)


def objects_by_type() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def site(frame: tracemalloc.Frame) -> str:
    parts = Path(frame.filename).parts
    short = "/".join(parts[parts.index("site-packages") + 1 :] if "site-packages" in parts
                     else parts[-3:])  # fmt: skip
    return f"{short}:{frame.lineno}"


def by_site(diff: list[tracemalloc.StatisticDiff], n: int, top: int) -> list[dict[str, Any]]:
    return [
        {"bytes": round(s.size_diff / n, 1), "count": round(s.count_diff / n, 2),
         "site": site(s.traceback[0]),
         "line": linecache.getline(s.traceback[0].filename, s.traceback[0].lineno).strip()}
        for s in diff[:top]
    ]  # fmt: skip


def by_traceback(diff: list[tracemalloc.StatisticDiff], n: int, top: int) -> list[dict[str, Any]]:
    return [
        {"bytes": round(s.size_diff / n, 1), "count": round(s.count_diff / n, 2),
         "frames": [site(f) for f in reversed(s.traceback)][:12]}
        for s in diff[:top]
    ]  # fmt: skip


async def measure(args: argparse.Namespace, root_dsn: str, log_dir: Path) -> cli.Figures:
    async with scratch_schema(root_dsn, "bench_micro") as dsn:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=dsn, jwt_secret=JWT_SECRET, port=0,
            evolution_url="http://127.0.0.1:9", evolution_apikey="bench",
        )  # fmt: skip
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site_ = web.TCPSite(runner, "127.0.0.1", 0)
        await site_.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        pool = LoadPool(url, args.clients, tenant_ids(args.tenants), args.processes, log_dir,
                        "conn-memory")  # fmt: skip
        try:
            await pool.start()
            await asyncio.sleep(SETTLE)
            return await readings(args, pool)
        finally:
            await pool.stop()
            await runner.cleanup()


async def readings(args: argparse.Namespace, pool: LoadPool) -> cli.Figures:
    import os

    pid = os.getpid()
    n = args.clients
    objects0 = objects_by_type()
    tasks0 = len(asyncio.all_tasks())
    snap0 = tracemalloc.take_snapshot() if args.trace else None
    rss0 = rss_kb(pid)
    connected = await pool.connect()
    await asyncio.sleep(SETTLE)
    rss1 = rss_kb(pid)
    n = max(1, connected["connected"])
    figures: cli.Figures = {
        "clients": connected["connected"], "failed": connected["failed"],
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "python": sys.version.split()[0],
        "rss_kb_per_connection": round((rss1 - rss0) / n, 2),
        "tasks_per_connection": round((len(asyncio.all_tasks()) - tasks0) / n, 2),
    }  # fmt: skip
    if snap0 is not None:
        snap1 = tracemalloc.take_snapshot()
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snap0, snap1 = snap0.filter_traces(filters), snap1.filter_traces(filters)
        lines = snap1.compare_to(snap0, "lineno")
        figures["traced_kb_per_connection"] = round(sum(s.size_diff for s in lines) / n / 1024, 2)
        figures["by_site"] = by_site(lines, n, args.top)
        figures["by_traceback"] = by_traceback(snap1.compare_to(snap0, "traceback"), n, args.top)
    objects1 = objects_by_type()
    grown = {k: round((objects1[k] - objects0[k]) / n, 2) for k in objects1}
    figures["objects_per_connection"] = dict(
        sorted(((k, v) for k, v in grown.items() if v >= 0.05), key=lambda kv: -kv[1])
    )
    return figures


def render(f: cli.Figures) -> str:
    lines = [
        f"# idle connection memory: {f['clients']} Node clients ({f['failed']} failed), "
        f"loop={f['loop']}, python {f['python']}",
        f"RSS growth: {f['rss_kb_per_connection']:.2f} KB per connection; "
        f"asyncio tasks: {f['tasks_per_connection']:.2f} per connection",
    ]
    if "by_site" in f:
        lines += [
            f"traced (Python allocators): {f['traced_kb_per_connection']:.2f} KB per connection",
            "", "## by allocation site (bytes per connection, blocks per connection)",
        ]  # fmt: skip
        lines += [f"{s['bytes']:8.1f} {s['count']:6.2f}  {s['site']}  {s['line']}"
                  for s in f["by_site"]]  # fmt: skip
        lines += ["", "## by traceback (innermost first)"]
        for t in f["by_traceback"]:
            lines.append(f"{t['bytes']:8.1f} {t['count']:6.2f}")
            lines += [f"             {frame}" for frame in t["frames"]]
    lines += ["", "## live objects per connection (gc-tracked types)"]
    lines += [f"{v:8.2f}  {k}" for k, v in f["objects_per_connection"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__ or "", "python -m bench.micro.conn_memory")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="Node load processes")
    parser.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                        help="tracemalloc with this many frames (0: off, RSS only)")  # fmt: skip
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.trace:
        tracemalloc.start(args.trace)
    cli.run(measure, args, render, use_uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
