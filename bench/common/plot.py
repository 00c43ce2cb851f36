"""latest.png: latency CDFs and deliveries/s over time: evo-relay, the Node peer and stock
python-socketio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the Agg backend is chosen first

from bench.common.stats import Histogram

COLORS = {"evo-relay": "tab:blue", "node-peer": "tab:orange", "python-socketio": "tab:green"}
PLOTTED = ("fanout", "tenants")


def has_data(results: dict[str, dict[str, Any]]) -> bool:
    """Whether this run measured anything the plot shows (else the folder keeps its plot)."""
    return any("servers" in results.get(name, {}) for name in PLOTTED)


def _cdf(ax: Any, results: dict[str, dict[str, Any]]) -> None:
    for scenario, path, style in (
        ("fanout", ("at_half", "_hist"), "-"),
        ("tenants", ("_hist",), "--"),
    ):
        for server, data in (results.get(scenario, {}).get("servers") or {}).items():
            hist: Any = data
            for key in path:
                hist = hist.get(key) if isinstance(hist, dict) else None
            if not isinstance(hist, Histogram) or not hist.total:
                continue
            xs, ys = zip(*hist.cdf(400), strict=True)
            label = f"{server}, {scenario}" + (" at 50% of max" if scenario == "fanout" else "")
            ax.step(xs, ys, where="post", linestyle=style, color=COLORS.get(server), label=label)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("end-to-end latency, ms (simulator emit → client receipt)")
    ax.set_ylabel("fraction of messages.upsert")
    ax.axvline(50, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title("Latency CDF")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _throughput(ax: Any, results: dict[str, dict[str, Any]]) -> None:
    for server, data in (results.get("fanout", {}).get("servers") or {}).items():
        timeline = data.get("timeline") or {}
        if not timeline:
            continue
        seconds = sorted(int(s) for s in timeline)
        start = seconds[0]
        ax.plot(
            [s - start for s in seconds],
            [timeline[s] for s in seconds],
            marker=".",
            color=COLORS.get(server),
            label=f"{server} (fanout ramp, then 50% of max)",
        )
    ax.set_xlabel("seconds since the first measured second")
    ax.set_ylabel("deliveries/s received by the clients")
    ax.set_title("Fanout throughput over time")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def draw(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    _cdf(left, results)
    _throughput(right, results)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
