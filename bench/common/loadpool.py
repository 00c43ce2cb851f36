"""Node load-generator processes (bench/load/client.js), driven together and merged.

Clients are numbered globally; client ``i`` belongs to ``tenants[i % len(tenants)]``, so a
scenario spreads clients over tenants by the order of that list.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.common.procs import LineProcess
from bench.common.servers import BENCH_DIR, JWT_SECRET
from bench.common.stats import Histogram, cpu_seconds, merge_per_second

CLIENT_JS = BENCH_DIR / "load" / "client.js"


class LoadPool:
    def __init__(
        self,
        url: str,
        clients: int,
        tenants: list[str],
        processes: int,
        log_dir: Path,
        tag: str,
        concurrency: int = 32,
    ) -> None:
        self._url = url
        self._clients = clients
        self._tenants = tenants
        self._processes = max(1, min(processes, clients))
        self._log_dir = log_dir
        self._tag = tag
        self._concurrency = concurrency
        self.procs: list[LineProcess] = []

    async def start(self) -> None:
        share, extra = divmod(self._clients, self._processes)
        first = 0
        for k in range(self._processes):
            count = share + (1 if k < extra else 0)
            cfg = {
                "url": self._url,
                "secret": JWT_SECRET,
                "tenants": self._tenants,
                "clients": count,
                "first": first,
                "concurrency": self._concurrency,
            }
            first += count
            argv = ["node", "--max-old-space-size=4096", str(CLIENT_JS), json.dumps(cfg)]
            proc = await LineProcess.spawn(f"{self._tag}-load{k}", argv, self._log_dir, stdin=True)
            self.procs.append(proc)
            await proc.read_reply(30)  # "hello"

    async def _all(self, cmd: str, wait: float = 180.0) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(p.request({"cmd": cmd}, wait) for p in self.procs)))

    async def connect(self) -> dict[str, Any]:
        started = time.monotonic()
        replies = await self._all("connect")
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "seconds": round(time.monotonic() - started, 2),
        }

    def cpu(self) -> float:
        """CPU seconds used so far by all the load processes."""
        return sum(cpu_seconds(p.pid) for p in self.procs)

    async def reset(self) -> None:
        await self._all("reset")

    async def report(self) -> dict[str, Any]:
        replies = await self._all("report")
        hist = Histogram()
        by_event: dict[str, int] = {}
        for r in replies:
            hist.add_sparse(r["histogram"], r["max_ms"])
            for event, n in r["by_event"].items():
                by_event[event] = by_event.get(event, 0) + n
        return {
            "deliveries": sum(r["deliveries"] for r in replies),
            "by_event": by_event,
            "per_second": merge_per_second(r["per_second"] for r in replies),
            "max_latency_per_second": _max_per_second(r["max_per_second"] for r in replies),
            "histogram": hist,
            "connected": sum(r["connected"] for r in replies),
            "disconnects": sum(r["disconnects"] for r in replies),
            "connect_errors": sum(r["connect_errors"] for r in replies),
        }

    async def storm(self) -> dict[str, Any]:
        """Every client reconnects at once; seconds from the command until the last snapshot."""
        sent_at = time.time() * 1000
        replies = await self._all("storm")
        last = [r["last_at"] for r in replies if r["last_at"] is not None]
        medians = sorted(r["p50_ms"] for r in replies if r["p50_ms"] is not None)
        return {
            "clients": self._clients,
            "snapshots": sum(r["got"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "last_snapshot_s": round((max(last) - sent_at) / 1000, 3) if last else None,
            "median_snapshot_s": round(medians[len(medians) // 2] / 1000, 3) if medians else None,
        }

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs))
        self.procs = []


def _max_per_second(reports: Iterable[dict[str, float]]) -> dict[int, float]:
    merged: dict[int, float] = {}
    for report in reports:
        for second, ms in report.items():
            merged[int(second)] = round(max(merged.get(int(second), 0.0), float(ms)), 2)
    return dict(sorted(merged.items()))
