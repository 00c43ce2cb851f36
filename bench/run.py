"""The benchmark driver: ``make bench`` (``python -m bench.run``), or ``--smoke`` for tiny sizes.

It starts the simulator (``bench.common.simproc``), each server under test as a separate process
(evo-relay's ``serve`` and the Node peer), and Node load-client processes, runs the scenarios
(``bench.scenarios``: fanout, tenants, idle, storm against both servers, interleaved;
resubscribe, first-qr, recovery, loop-writes, micro, panel, fleet and cluster against
evo-relay), and writes
``<out>/<date>/<scenario>.json``, ``<out>/<date>/latest.md`` and ``latest.png``, and points
``<out>/latest`` at that folder (:mod:`bench.common.results`).

Postgres: ``--database-url``, else ``BENCH_DATABASE_URL``, else the local server at
``postgresql://postgres@127.0.0.1:5432/test``, else an embedded one (pgserver). Each relay
start gets a schema of its own, dropped afterwards. Child logs go to ``--log-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import plot, report, results
from bench.common.database import database
from bench.common.harness import FULL, SMOKE, Harness
from bench.common.procs import raise_nofile
from bench.common.servers import BENCH_DIR
from bench.scenarios import (
    cluster,
    connections,
    first_qr,
    fleet,
    loop_storm,
    loop_writes,
    micro,
    panel_render,
    recovery,
    resubscribe,
    throughput,
)

log = logging.getLogger("bench")

Scenario = Callable[[Harness], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "fanout": throughput.fanout,
    "tenants": throughput.tenants_scenario,
    "idle": connections.idle,
    "storm": connections.storm,
    "resubscribe": resubscribe.resubscribe,
    "first-qr": first_qr.first_qr,
    "recovery": recovery.recovery,
    "loop-writes": loop_writes.loop_writes,
    "loop-storm": loop_storm.loop_storm,
    "ingest": loop_storm.ingest,
    "micro": micro.micro,
    "panel": panel_render.panel,
    "fleet": fleet.fleet,
    "cluster": cluster.cluster,
}
SCENARIO_TIMEOUT = {"full": 240.0, "smoke": 60.0}
LONGER = {"first-qr": 600.0, "fleet": 360.0, "cluster": 480.0}
"""Full-size scenarios that need more: first-qr is 2 × 50 connects of 2 s, 4 s if missed;
fleet starts two relays and records 1,000 instances; cluster starts seven relays, four of them
with 1,000 clients."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes (about 30 s), for the tests")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list to run")
    p.add_argument("--out", type=Path, help="results root: a run writes into <out>/<date>/ "
                   "(default bench/results, or bench/results/smoke with --smoke)")  # fmt: skip
    p.add_argument("--log-dir", type=Path, help="child logs (default: a temporary directory)")
    p.add_argument("--servers", default="relay,node,pysio",
                   help="any of relay, node, pysio (default: all three)")  # fmt: skip
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                   help="py-spy flame graphs of the Python servers (default: on, off with "
                   "--smoke)")  # fmt: skip
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = p.parse_args(argv)
    unknown = {n.strip() for n in args.scenarios.split(",") if n.strip()} - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    return args


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Node {node}"
    )


async def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    mode = "smoke" if args.smoke else "full"
    root: Path = args.out or (BENCH_DIR / "results" / ("smoke" if args.smoke else ""))
    date = results.today()
    out = results.dated_folder(root, date)
    log_dir: Path = args.log_dir or Path(tempfile.mkdtemp(prefix="evo-relay-bench-"))
    nofile = raise_nofile()
    log.info("%s run; outputs in %s, child logs in %s, fd limit %s", mode, out, log_dir, nofile)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    ran: dict[str, dict[str, Any]] = {}
    async with database(args.database_url, log_dir) as root_dsn:
        servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
        profile = (not args.smoke) if args.profile is None else args.profile
        harness = Harness(
            SMOKE if args.smoke else FULL, root_dsn, log_dir, servers=servers, smoke=args.smoke,
            profile_dir=out / "profiles" if profile else None,
        )  # fmt: skip
        for name in [n.strip() for n in args.scenarios.split(",") if n.strip()]:
            ran[name] = await run_one(name, harness, mode)
            results.write_json(out, name, ran[name])
    elapsed = time.monotonic() - started
    kept = results.earlier(out, mode, skip=set(ran))
    header = (
        f"Benchmark ({mode}) of {date}, {elapsed:.0f} s in all. Machine: {machine()}. "
        f"1-minute load average {load_before:.2f} before the run, {os.getloadavg()[0]:.2f} "
        f"after (other processes share the machine). Child logs: `{log_dir}`."
    )
    if kept:
        header += f" Rows of {', '.join(kept)} are from an earlier run of the same day."
    table = {name: (ran.get(name) or kept[name]) for name in SCENARIOS if name in ran | kept}
    (out / "latest.md").write_text(report.markdown(table, header))
    if plot.has_data(ran):
        title = f"evo-relay vs Node socket.io vs stock python-socketio ({mode}, {date})"
        plot.draw(ran, out / "latest.png", title)
    results.point_latest(root, out)
    log.info("done in %.0fs: %s", elapsed, out / "latest.md")
    return ran


async def run_one(name: str, harness: Harness, mode: str) -> dict[str, Any]:
    t0 = time.monotonic()
    log.info("scenario %s", name)
    try:
        limit = SCENARIO_TIMEOUT[mode]
        if mode == "full":
            limit = LONGER.get(name, limit)
        data = await asyncio.wait_for(SCENARIOS[name](harness), limit)
    except Exception as exc:  # one failing scenario must not lose the others' figures
        log.exception("scenario %s failed", name)
        data = {"error": f"{type(exc).__name__}: {exc}"}
    if harness.profile_dir is not None:
        data["profiles"] = list(harness.profiles)
    harness.profiles.clear()
    data.update(
        scenario=name, mode=mode, seconds=round(time.monotonic() - t0, 1),
        loadavg_after=os.getloadavg()[0],
    )  # fmt: skip
    return data


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    args = parse_args(argv)
    results = asyncio.run(run(args))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
