"""fleet: one relay following two Evolution servers (a fleet file), in instance mode.

evo-relay only. Two simulators (``evo-1``, ``evo-2``), each in its own process with its own API
key and N open instances (``evo-1-0001``…, ``evo-2-0001``…: names are unique across a fleet),
behind one ``python -m relay serve`` whose ``RELAY_EVOLUTION_SERVERS`` names a fleet file
written here (``events_mode = "instance"``: one lazy namespace per instance), on its own
schema. Every instance is recorded on its server, stored STOPPED, so the relay has to learn
each status (the reconciliation after each subscription does). The truth is the simulators'
live state, as in recovery (:func:`bench.scenarios.recovery.expected`).

- **subscribe**: from the relay's spawn until ``relay_upstream_namespaces{server}`` summed is
  2N and every stored status equals the truth (polled every 0.2 s).
- **restart**: 10% of evo-1's instances lose their WhatsApp session, then evo-1 restarts
  (``Simulator.restart(down_for=10)`` over its process's control, as recovery does); its
  instances reconnect by themselves (WORKING, or a QR for the 10%). The figure is the time from
  evo-1 answering HTTP again until every status is true and stays so (1 s, the truth unchanged
  for as long); evo-2's statuses are checked on every poll from the restart command to the end.
- **memory**: (VmRSS of the relay following 2N instances, once they are all true and 2 s have
  passed − VmRSS of a relay started the same way on the same fleet with no instance recorded,
  2 s after it is ready) / 2N. Two processes, because the relay subscribes to every recorded
  instance as it starts: there is no "before subscribing" moment in one process to read.

``python -m bench.scenarios.fleet`` is the simulator process of this scenario: the one of
:mod:`bench.common.simproc` with the server's own instance names and API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import simproc
from bench.common.database import create_schema
from bench.common.harness import Harness, Sim, spread, tenant_ids
from bench.common.procs import Child, LineProcess, wait_healthy
from bench.common.servers import JWT_SECRET, WEBSOCKET_EVENTS, RelayServer
from bench.common.simfeatures import optional_config
from bench.scenarios.recovery import expected
from relay.store import Store
from relay.store.models import Status
from simulator.app import Simulator
from simulator.config import PresetInstance, SimConfig

log = logging.getLogger(__name__)

NEEDS = ("Simulator.restart(down_for)",)
SERVERS = ("evo-1", "evo-2")
KEYS = {"evo-1": "bench-evo-1-apikey-0001", "evo-2": "bench-evo-2-apikey-0002"}
RESTARTED, OTHER = SERVERS
NAMESPACES = "relay_upstream_namespaces"
POLL = 0.2
HOLD = 1.0
RSS_SETTLE = 2.0
TARGET_S = 3.0
LOST_FRACTION = 0.1


@dataclass(frozen=True)
class FleetSizes:
    per_server: int
    down_for: float
    deadline: float


FULL = FleetSizes(per_server=500, down_for=10.0, deadline=75.0)
"""75 s: past the first QR's 60 s life (a QR missed while resubscribing shows there)."""
SMOKE = FleetSizes(per_server=20, down_for=1.0, deadline=20.0)


def instance_names(server: str, count: int) -> list[str]:
    return [f"{server}-{i:04d}" for i in range(1, count + 1)]


class FleetSimProcess(simproc.SimProcess):
    """``start`` with ``server`` (the instances' name prefix) and ``apikey``."""

    async def start(self, msg: dict[str, Any]) -> dict[str, Any]:
        names = instance_names(str(msg["server"]), int(msg["instances"]))
        config = SimConfig(
            apikey=str(msg["apikey"]),
            global_events=False,
            presets=[PresetInstance(name=n, state="open", token=f"{n}-token") for n in names],
            event_log_size=100,
            reconnect_delay=float(msg["reconnect_delay"]),
            qr_interval=float(msg["qr_interval"]),
            **optional_config(**msg.get("config", {})),  # type: ignore[arg-type]
        )
        self.sim = Simulator(config)
        url = await self.sim.start("127.0.0.1", 0)
        return {"url": url, "apikey": config.apikey}


class FleetRelay(RelayServer):
    """evo-relay on a fleet file instead of ``RELAY_EVOLUTION_URL``/``_APIKEY``."""

    async def prepare_fleet(self, placed: dict[str, tuple[str, str]], status: Status) -> None:
        """``placed``: instance name → (server, tenant)."""
        self.dsn = await create_schema(self._root_dsn, self.schema)
        store = await Store.open(self.dsn, max_size=8)
        try:
            sem = asyncio.Semaphore(8)

            async def create(name: str, server: str, tenant: str) -> None:
                async with sem:
                    await store.create_instance(
                        tenant, name, status=status, reason="bench setup", server=server,
                        websocket_enabled=True, websocket_events=WEBSOCKET_EVENTS,
                    )  # fmt: skip

            await asyncio.gather(*(create(n, s, t) for n, (s, t) in placed.items()))
        finally:
            await store.close()

    async def start_fleet(self, fleet_file: Path, tag: str) -> float:
        """Spawn and wait for ``/readyz``; returns the ``time.time()`` of the spawn."""
        env = {
            key: value for key, value in os.environ.items()
            if key not in ("RELAY_EVOLUTION_URL", "RELAY_EVOLUTION_APIKEY")
        }  # fmt: skip
        env.update({
            "RELAY_HOST": "127.0.0.1",
            "RELAY_PORT": str(self.port),
            "RELAY_DATABASE_URL": self.dsn,
            "RELAY_DATA_DIR": str(self._log_dir / "relay-data"),
            "RELAY_EVOLUTION_SERVERS": str(fleet_file),
            "RELAY_JWT_SECRET": JWT_SECRET,
            "RELAY_LOG_LEVEL": os.environ.get("BENCH_RELAY_LOG_LEVEL", "WARNING"),
        })  # fmt: skip
        argv = shlex.split(os.environ.get("BENCH_RELAY_CMD", "")) or [
            sys.executable, "-m", "relay", "serve"
        ]  # fmt: skip
        spawned = time.time()
        self.child = await Child.spawn(f"{tag}-relay", argv, self._log_dir, env)
        await wait_healthy(self.url + "/readyz", self.child)
        return spawned

    async def namespaces(self) -> dict[str, float]:
        """``relay_upstream_namespaces`` by its ``server`` label."""
        text = await self.metrics_text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(NAMESPACES + "{"):
                labels, value = line.rsplit(" ", 1)
                found = re.search(r'server="([^"]*)"', labels)
                if found:
                    out[found.group(1)] = float(value)
        return out


def write_fleet_file(path: Path, sims: dict[str, Sim]) -> Path:
    tables = [
        f'[[server]]\nname = "{name}"\nurl = "{sim.url}"\napikey = "{sim.apikey}"\n'
        'events_mode = "instance"\n'
        for name, sim in sims.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tables))
    return path


@contextlib.asynccontextmanager
async def simulators(h: Harness, per_server: int) -> AsyncIterator[dict[str, Sim]]:
    s = h.sizes
    sims: dict[str, Sim] = {}
    try:
        for server in SERVERS:
            argv = [sys.executable, "-m", "bench.scenarios.fleet"]
            proc = await LineProcess.spawn(f"fleet-{server}", argv, h.log_dir, stdin=True)
            sims[server] = sim = Sim(proc)
            reply = await sim.call(
                "start", server=server, apikey=KEYS[server], instances=per_server,
                reconnect_delay=s.reconnect_delay, qr_interval=s.pairing_qr_interval,
                config={"first_qr_delay": s.first_qr_delay, "connect_wait": 0.0},
            )  # fmt: skip
            sim.url, sim.apikey = reply["url"], reply["apikey"]
        yield sims
    finally:
        for sim in sims.values():
            await sim.proc.stop()


async def wrong_by_server(
    sims: dict[str, Sim], store: Store
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Per server, the instances whose stored status is not true; and the truth itself.

    A simulator process answers one command at a time: leave out one busy restarting."""
    lives = await asyncio.gather(*(sim.call("truth") for sim in sims.values()))
    stored = {row.name: row.status.value for row in await store.list_instances()}
    wrong: dict[str, list[str]] = {}
    truth: dict[str, Any] = {}
    for server, live in zip(sims, lives, strict=True):
        want = {name: expected(state, qrs) for name, (state, qrs) in live["live"].items()}
        wrong[server] = sorted(n for n, ok in want.items() if stored.get(n) not in ok)
        truth[server] = want
    truth["stored"] = stored
    return wrong, truth


def described(
    wrong: dict[str, list[str]], truth: dict[str, Any], stored: dict[str, str]
) -> dict[str, list[Any]]:
    """The first 10 wrong instances of each server: [the stored status, the true ones]."""
    return {
        n: [stored.get(n), sorted(truth[server][n])]
        for server, names in wrong.items() if server in truth for n in names[:10]
    }  # fmt: skip


async def subscribe(
    relay: FleetRelay, sims: dict[str, Sim], store: Store, spawned: float, total: int,
    deadline: float,
) -> dict[str, Any]:  # fmt: skip
    """Seconds from the spawn until every namespace is joined and every status is true."""
    ns_at: float | None = None
    true_at: float | None = None
    samples: list[dict[str, Any]] = []
    while (t := time.time() - spawned) < deadline:
        ns = await relay.namespaces()
        wrong, _ = await wrong_by_server(sims, store)
        bad = sum(len(w) for w in wrong.values())
        samples.append({"t": round(t, 2), "namespaces": ns, "wrong": bad})
        if ns_at is None and sum(ns.values()) >= total:
            ns_at = t
        true_at = None if bad else (t if true_at is None else true_at)
        if ns_at is not None and true_at is not None:
            break
        await asyncio.sleep(POLL)
    done = None if ns_at is None or true_at is None else max(ns_at, true_at)
    return {
        "subscribed_s": None if done is None else round(done, 2),
        "namespaces_s": None if ns_at is None else round(ns_at, 2),
        "statuses_true_s": None if true_at is None else round(true_at, 2),
        "wrong_at_end": samples[-1]["wrong"] if samples else None,
        "samples": samples,
    }


async def restart(
    relay: FleetRelay, sims: dict[str, Sim], store: Store, fs: FleetSizes, h: Harness
) -> dict[str, Any]:
    """evo-1 restarts; evo-2 is watched all along; figures from evo-1 answering HTTP again."""
    sim = sims[RESTARTED]
    mine = instance_names(RESTARTED, fs.per_server)
    lost = sorted(random.Random(h.seed).sample(mine, max(1, int(len(mine) * LOST_FRACTION))))
    commanded = time.time()
    up: list[float] = []
    other_wrong: list[int] = []
    other_names: set[str] = set()
    samples: list[dict[str, Any]] = []
    restarted = asyncio.Event()

    async def down_and_up() -> tuple[float, float]:
        url = sim.url + "/"
        down = await wait_healthy(url, sim.proc, within=10, healthy=False, every=0.05)
        answered = await wait_healthy(url, sim.proc, within=fs.down_for + 30, every=0.05)
        up.append(answered)
        return down, answered

    async def restart_sim() -> None:
        await sim.call("restart", wait=fs.down_for + 60, lose_sessions=lost, down_for=fs.down_for)
        restarted.set()

    async def watch() -> dict[str, Any]:
        true_since: float | None = None
        truth_at, last_truth = 0.0, None
        ns_back: float | None = None
        wrong: dict[str, list[str]] = {}
        truth: dict[str, Any] = {}
        stored: dict[str, str] = {}
        late: dict[str, list[Any]] = {}
        late_at: list[float] = []
        settle = max(h.sizes.reconnect_delay, h.sizes.first_qr_delay) + 0.5
        while True:
            polled = sims if restarted.is_set() else {OTHER: sims[OTHER]}
            wrong, truth = await wrong_by_server(polled, store)
            ns = await relay.namespaces()
            other_wrong.append(len(wrong[OTHER]))
            other_names.update(wrong[OTHER])
            now = time.time()
            samples.append({
                "t": round(now - commanded, 2), "namespaces": ns,
                "wrong": {server: len(names) for server, names in wrong.items()},
            })  # fmt: skip
            if up and restarted.is_set():
                t = now - up[0]
                stored = truth.pop("stored")
                if truth != last_truth:
                    truth_at, last_truth = t, truth
                bad = sum(len(w) for w in wrong.values())
                true_since = None if bad else (t if true_since is None else true_since)
                joined = ns.get(RESTARTED, 0.0) >= fs.per_server
                ns_back = t if ns_back is None and joined else ns_back
                if bad and t >= settle and not late_at:
                    late, late_at = described(wrong, truth, stored), [round(t, 2)]
                steady = true_since is not None and min(t - true_since, t - truth_at) >= HOLD
                if (steady and t >= settle) or t >= fs.deadline:
                    break
            elif now - commanded > fs.down_for + 60:
                break
            await asyncio.sleep(POLL)
        return {
            "statuses_true_s": None if true_since is None else round(max(true_since, 0.0), 2),
            "namespaces_back_s": None if ns_back is None else round(ns_back, 2),
            "last_truth_change_s": round(truth_at, 2),
            "wrong_at_end": sum(len(w) for w in wrong.values()),
            "wrong_after_settle_s": late_at[0] if late_at else None,
            "wrong_after_settle_as": late,
            "wrong_at_end_as": described(wrong, truth, stored),
        }

    _, (down_at, up_at), figures = await asyncio.gather(
        restart_sim(),
        down_and_up(),
        watch(),
    )
    t = figures["statuses_true_s"]
    return {
        "server": RESTARTED, "down_for_s": fs.down_for, "lost_sessions": len(lost),
        "measured_down_s": round(up_at - down_at, 2), **figures,
        "other_server": OTHER, "other_wrong_max": max(other_wrong, default=None),
        "other_wrong_names": sorted(other_names)[:10],
        "other_stayed_true": bool(other_wrong) and max(other_wrong) == 0,
        "met": t is not None and t <= TARGET_S and not other_names,
        "samples": samples,
    }  # fmt: skip


async def baseline_rss(h: Harness, fleet_file: Path) -> int:
    """VmRSS (KiB) of a relay on the same fleet with no instance recorded, 2 s after ready."""
    relay = FleetRelay(h.root_dsn, h.log_dir)
    try:
        await relay.prepare_fleet({}, Status.STOPPED)
        await relay.start_fleet(fleet_file, "fleet-empty")
        await asyncio.sleep(RSS_SETTLE)
        return relay.rss_kb()
    finally:
        await relay.stop()


async def fleet(h: Harness) -> dict[str, Any]:
    blocked = h.gate(NEEDS, relay_only=True)
    if blocked is not None:
        return blocked
    fs = SMOKE if h.smoke else FULL
    total = fs.per_server * len(SERVERS)
    placed_names = {server: instance_names(server, fs.per_server) for server in SERVERS}
    every = [n for names in placed_names.values() for n in names]
    tenants = spread(every, tenant_ids(max(1, total // 2)))
    placed = {n: (server, tenants[n]) for server, names in placed_names.items() for n in names}
    out: dict[str, Any] = {
        "servers_in_fleet": len(SERVERS), "per_server": fs.per_server, "instances": total,
        "target_s": TARGET_S,
    }  # fmt: skip
    async with simulators(h, fs.per_server) as sims:
        fleet_file = write_fleet_file(h.log_dir / f"fleet-{os.getpid()}.toml", sims)
        rss_empty = await baseline_rss(h, fleet_file)
        relay = FleetRelay(h.root_dsn, h.log_dir)
        try:
            await relay.prepare_fleet(placed, Status.STOPPED)
            spawned = await relay.start_fleet(fleet_file, "fleet")
            out["ready_s"] = round(time.time() - spawned, 2)
            store = await relay.store()
            try:
                out["subscribe"] = await subscribe(relay, sims, store, spawned, total, fs.deadline)
                await asyncio.sleep(RSS_SETTLE)
                rss_full = relay.rss_kb()
                out["memory"] = {
                    "rss_empty_kb": rss_empty, "rss_following_kb": rss_full,
                    "kb_per_instance": round((rss_full - rss_empty) / total, 2),
                    "method": "two relays on the same fleet: 0 instances recorded vs all "
                              f"{total}, each read {RSS_SETTLE:g} s after settling",
                }  # fmt: skip
                out["restart"] = await restart(relay, sims, store, fs, h)
            finally:
                await store.close()
        finally:
            await relay.stop()
    sub = out["subscribe"]
    log.info(
        "fleet: subscribed in %ss, restart true after %ss (other stayed true: %s), %s KB/inst",
        sub["subscribed_s"], out["restart"]["statuses_true_s"],
        out["restart"]["other_stayed_true"], out["memory"]["kb_per_instance"],
    )  # fmt: skip
    return {"servers": {"evo-relay": out}}


if __name__ == "__main__":  # the simulator process of this scenario (simproc's, renamed)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import uvloop

    simproc.SimProcess = FleetSimProcess  # type: ignore[misc]
    uvloop.run(simproc.main())
