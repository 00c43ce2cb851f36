"""Latency histograms merged from the load processes, and /proc readings of a server process.

The load clients (bench/load/client.js) report sparse histograms: ``[[lower bound ms, count]]``
with 0.1 ms buckets below 1 s and 1 ms buckets above. Percentiles are the bucket's lower bound,
so they are exact to the bucket width.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Histogram:
    counts: Counter[float] = field(default_factory=Counter)
    max_ms: float = 0.0

    def add_sparse(self, sparse: Iterable[list[float]], max_ms: float) -> None:
        for bound, count in sparse:
            self.counts[float(bound)] += int(count)
        self.max_ms = max(self.max_ms, float(max_ms))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percentile(self, p: float) -> float | None:
        total = self.total
        if total == 0:
            return None
        rank = p / 100.0 * total
        seen = 0
        for bound in sorted(self.counts):
            seen += self.counts[bound]
            if seen >= rank:
                return bound
        return self.max_ms

    def summary(self) -> dict[str, float | int | None]:
        return {
            "samples": self.total,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "max_ms": round(self.max_ms, 2) if self.total else None,
        }

    def cdf(self, points: int = 200) -> list[tuple[float, float]]:
        """(latency ms, fraction at or below), thinned to about ``points`` steps."""
        total = self.total
        if total == 0:
            return []
        bounds = sorted(self.counts)
        step = max(1, len(bounds) // points)
        out: list[tuple[float, float]] = []
        seen = 0
        for i, bound in enumerate(bounds):
            seen += self.counts[bound]
            if i % step == 0 or i == len(bounds) - 1:
                out.append((bound, seen / total))
        return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), from /proc/<pid>/stat."""
    user, system = cpu_times(pid)
    return user + system


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` in seconds: its own code, and the kernel working for it (system
    calls; on loopback a send also runs the receiving side's TCP path)."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    # The command name may hold spaces; the fields after its closing parenthesis do not.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def listen_overflows() -> int:
    """The machine's TcpExt ListenOverflows counter: connections dropped by full accept queues."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(fields.get("ListenOverflows", 0))
    return 0


def merge_per_second(reports: Iterable[dict[str, int]]) -> dict[int, int]:
    merged: Counter[int] = Counter()
    for report in reports:
        for second, count in report.items():
            merged[int(second)] += int(count)
    return dict(sorted(merged.items()))


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def percentile(values: Iterable[float], p: float) -> float | None:
    """The nearest-rank percentile (with 50 values, p99 is the largest); None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
