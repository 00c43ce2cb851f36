"""cluster: what the Redis bus costs one node, how fast a follower takes over, and (on paper)
how many nodes 100,000 panels need.

evo-relay only, against a ``redis-server`` this scenario starts on a free port (no
persistence), never the machine's own Redis.

- **bus**: the fan-out of the fanout scenario (one tenant, 1,000 panels, 1 KB messages at 20
  events/s, about a quarter of the single node's maximum, so that the load clients leave the
  server a core) and the tenants mix (500 tenants, 2 panels each, 2,000 events/s), each
  measured on one node without ``RELAY_REDIS_URL`` and on one node with it, same simulator,
  same clients, same window (:func:`bench.scenarios.throughput.window`), interleaved, twice
  each. Each variant's figures are those of its window in which the whole machine was least
  busy (the machine is shared; every round is in the JSON). Figures: server CPU per delivery,
  p50/p99 latency (the simulator's send time to the client's receipt), redis-server's CPU.
  A last window per shape runs the bus node with a second, client-less node on the same
  bus: that node's CPU is what a bus event costs every node (it follows nothing and serves
  nobody).
- **failover**: three ``relay serve`` processes on one schema and one Redis database, one
  simulator (global mode) with N open instances stored WORKING. The leader (``/readyz``
  ``cluster.leading``) is SIGKILLed and, at once, 10% of the instances are logged out on the
  phone (their truth becomes STOPPED with nobody listening). Figures, from the kill: the time
  until a survivor's ``relay_cluster_leader`` is 1, and until every stored status equals the
  simulator's truth (polled every 0.1 s). Twice: 3 nodes, then the 2 left.
- **paper**: the nodes needed for 100,000 connected panels at 2,000 events/s, from the bus
  figures above and the idle scenario's RSS and CPU per idle connection
  (``<results>/<date>/idle.json`` of the newest run that has it); the reasoning is in the JSON
  (``paper.reasoning``) and in bench/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.common.harness import (
    MIX_FANOUT,
    MIX_TENANTS,
    Harness,
    Sim,
    names,
    spread,
    tenant_ids,
)
from bench.common.procs import Child, free_port
from bench.common.servers import BENCH_DIR, RelayServer
from bench.common.stats import cpu_seconds
from bench.scenarios.recovery import Watch
from bench.scenarios.throughput import _drain, window
from relay.store import Store
from relay.store.models import Status

log = logging.getLogger(__name__)

POLL = 0.1
LEADER_METRIC = "relay_cluster_leader"
TARGET_FAILOVER_S = 5.0
PANELS = 100_000
EVENTS_PER_S = 2_000.0
CPU_BUDGET = 0.7
"""A node is one event loop (one core): plan for 70% of it, the rest for bursts and storms."""


@dataclass(frozen=True)
class ClusterSizes:
    fan_clients: int
    fan_instances: int
    fan_rate: float
    tenants_tenants: int
    tenants_clients_per: int
    tenants_instances: int
    tenants_rate: float
    warm: float
    window: float
    failover_instances: int
    failover_deadline: float
    rounds: int


FULL = ClusterSizes(
    fan_clients=1000, fan_instances=10, fan_rate=20.0, tenants_tenants=500,
    tenants_clients_per=2, tenants_instances=1000, tenants_rate=2000.0, warm=2.0, window=6.0,
    failover_instances=50, failover_deadline=30.0, rounds=1,
)  # fmt: skip
SMOKE = ClusterSizes(
    fan_clients=20, fan_instances=2, fan_rate=20.0, tenants_tenants=5, tenants_clients_per=2,
    tenants_instances=10, tenants_rate=100.0, warm=0.5, window=1.5, failover_instances=6,
    failover_deadline=20.0, rounds=1,
)  # fmt: skip


class RedisServer:
    """A redis-server of the scenario's own on a free port, without persistence."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.child: Child | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        data = self.log_dir / f"redis-{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(data)]  # fmt: skip
        self.child = await Child.spawn(f"redis-{self.port}", argv, self.log_dir)
        deadline = time.monotonic() + 10
        while not await self.ping():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} does not answer")
            await asyncio.sleep(0.05)

    async def ping(self) -> bool:
        client: Redis = Redis.from_url(self.url())
        try:
            return bool(await asyncio.wait_for(client.ping(), 1))
        except (OSError, TimeoutError, RedisError):
            return False  # not listening yet
        finally:
            await client.aclose()

    async def flush(self) -> None:
        client: Redis = Redis.from_url(self.url())
        try:
            await client.flushall()
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()


@contextlib.asynccontextmanager
async def own_redis(log_dir: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(log_dir)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


def bus_env(redis: RedisServer | None, node: str) -> dict[str, str]:
    if redis is None:
        return {}
    return {"RELAY_REDIS_URL": redis.url(), "RELAY_NODE_NAME": node,
            "RELAY_LEASE_INTERVAL": "0.5"}  # fmt: skip


# -- bus: one node with Redis against one without ------------------------------------------


@dataclass(frozen=True)
class Part:
    """One load shape: instance -> tenant, the clients' tenants, and the stream."""

    name: str
    mapping: dict[str, str]
    tenants: list[str]
    clients: int
    fan: int  # clients per event
    rate: float
    mix: dict[str, float]


@contextlib.asynccontextmanager
async def _follower(
    h: Harness, sim: Sim, redis: RedisServer, server: Any, tag: str, on: bool
) -> AsyncIterator[ClusterNode | None]:
    """With the bus: a second node on the same schema and Redis, with no client (it follows
    nothing and receives every event from the bus: the CPU a bus event costs every node)."""
    if not on:
        yield None
        return
    follower = ClusterNode(h.root_dsn, h.log_dir)
    follower.schema, follower.dsn = server.schema, server.dsn
    try:
        await follower.start(sim.url, sim.apikey, "global", f"{tag}-follower",
                             bus_env(redis, "bench-2"))  # fmt: skip
        yield follower
    finally:
        await follower.stop_process()


async def _measured(
    h: Harness, sim: Sim, redis: RedisServer, part: Part, variant: str, *,
    follower_too: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One window on one node, ``variant`` "single" (no Redis) or "bus"; ``follower_too``: a
    second, client-less node on the same bus, whose CPU is recorded (it competes with the
    measured node for the machine, so the headline bus figures come from windows without)."""
    s = sizes(h)
    await redis.flush()
    env = bus_env(redis if variant == "bus" else None, "bench-1")
    tag = f"cluster-{part.name}-{variant}{'-follower' if follower_too else ''}"
    async with (
        h.server("relay", sim, part.mapping, tag, env=env) as server,
        _follower(h, sim, redis, server, tag, follower_too) as follower,
        h.pool(server.url, part.clients, part.tenants, tag) as pool,
    ):
        connected = await pool.connect()
        await sim.call("load", rate=part.rate, mix=part.mix, payload_bytes=1024, seed=h.seed)
        await asyncio.sleep(s.warm)
        redis_cpu0 = cpu_seconds(redis.pid)
        follower_cpu0 = follower.cpu() if follower else 0.0
        result = await window(sim, server, pool, s.window, part.fan)
        redis_cpu = cpu_seconds(redis.pid) - redis_cpu0
        follower_cpu = (follower.cpu() - follower_cpu0) if follower else None
        await sim.call("stop_load")
        await _drain(pool, quiet=s.warm)
        metrics = await server.metrics()
    result.pop("_hist", None)
    result.update(
        rate=part.rate, connect=connected, redis_cpu_share=round(redis_cpu / s.window, 4),
        bus_up=metrics.get("relay_bus_up"), bus_events=metrics.get("relay_bus_events_total"),
        bus_dropped=metrics.get("relay_bus_dropped_total"),
        follower_cpu_s=None if follower_cpu is None else round(follower_cpu, 3),
    )  # fmt: skip
    log.info(
        "cluster %s %s: %.0f deliveries/s, %s us/delivery, p99 %s ms, redis %.3f cores, "
        "follower %s CPU-s", part.name, variant, result["deliveries_per_s"],
        result["cpu_us_per_delivery"], result["latency"]["p99_ms"], result["redis_cpu_share"],
        result["follower_cpu_s"],
    )  # fmt: skip
    return result


def sizes(h: Harness) -> ClusterSizes:
    return SMOKE if h.smoke else FULL


async def bus_cost(h: Harness, redis: RedisServer) -> dict[str, Any]:
    s = sizes(h)
    fan_names = names(s.fan_instances)
    tids = tenant_ids(s.tenants_tenants)
    tenants_names = names(s.tenants_instances)
    parts = [
        Part("fanout", dict.fromkeys(fan_names, "t0001"), ["t0001"], s.fan_clients,
             s.fan_clients, s.fan_rate, MIX_FANOUT),
        Part("tenants", spread(tenants_names, tids), tids,
             s.tenants_tenants * s.tenants_clients_per, s.tenants_clients_per, s.tenants_rate,
             MIX_TENANTS),
    ]  # fmt: skip
    out: dict[str, Any] = {}
    for part in parts:
        rounds: dict[str, list[dict[str, Any]]] = {"single": [], "bus": []}
        async with h.simulator(len(part.mapping), global_events=True) as sim:
            for _ in range(s.rounds):
                for variant, measured in rounds.items():
                    measured.append(await _measured(h, sim, redis, part, variant))
            # a second, client-less node's cost per event (the capacity estimate reads the
            # tenants mix's only)
            follower = (await _measured(h, sim, redis, part, "bus", follower_too=True)
                        if part.name == "tenants" else None)  # fmt: skip
        single, bus = (min(r, key=lambda m: m["machine_busy_share"]) for r in rounds.values())
        out[part.name] = {
            "single": single,
            "bus": bus,
            "rounds": rounds,
            "with_follower": follower,
            "added_cpu_us_per_delivery": _minus(
                bus["cpu_us_per_delivery"], single["cpu_us_per_delivery"]
            ),
            "added_p99_ms": _minus(bus["latency"]["p99_ms"], single["latency"]["p99_ms"]),
            "added_cpu_us_per_event": _per_event(single, bus),
        }
    return out


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _per_event(single: dict[str, Any], bus: dict[str, Any]) -> float | None:
    """Server CPU the bus adds per upstream event, µs (publish + receive on one node)."""
    if not single["events_sent"] or not bus["events_sent"]:
        return None
    per_single = single["server_cpu_s"] / single["events_sent"]
    per_bus = bus["server_cpu_s"] / bus["events_sent"]
    return round((per_bus - per_single) * 1e6, 2)


# -- failover ------------------------------------------------------------------------------


class ClusterNode(RelayServer):
    """One node of a cluster; the first prepares the schema, the others share it."""

    def share(self, first: ClusterNode) -> None:
        self.schema, self.dsn = first.schema, first.dsn

    async def leading(self) -> bool | None:
        """Whether ``/readyz`` says this node leads ``default`` (None: no answer)."""
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(self.url + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp,
            ):
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return "default" in (body.get("cluster") or {}).get("leading", [])

    def kill(self) -> None:
        self.child.proc.send_signal(signal.SIGKILL)


async def _one_leader(nodes: list[ClusterNode], within: float) -> ClusterNode:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [node for node in nodes if await node.leading()]
        if len(found) == 1:
            return found[0]
        await asyncio.sleep(POLL)
    raise RuntimeError(f"no single leader among {len(nodes)} nodes within {within} s")


async def _leader_flip(nodes: list[ClusterNode], since: float, deadline: float) -> float | None:
    while time.time() - since < deadline:
        for node in nodes:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                if (await node.metrics()).get(LEADER_METRIC, 0.0) >= 1.0:
                    return round(time.time() - since, 2)
        await asyncio.sleep(POLL)
    return None


async def _statuses_true(watch: Watch, since: float, deadline: float) -> float | None:
    while time.time() - since < deadline:
        wrong, _ = await watch.wrong()
        if not wrong:
            return round(time.time() - since, 2)
        await asyncio.sleep(POLL)
    return None


async def failover(h: Harness, redis: RedisServer) -> dict[str, Any]:
    s = sizes(h)
    await redis.flush()
    instances = names(s.failover_instances)
    mapping = dict.fromkeys(instances, "t0001")
    nodes: list[ClusterNode] = []
    rounds: list[dict[str, Any]] = []
    async with h.simulator(len(instances), global_events=True) as sim:
        try:
            for i in range(3):
                node = ClusterNode(h.root_dsn, h.log_dir)
                if nodes:
                    node.share(nodes[0])
                else:
                    await node.prepare(mapping, Status.WORKING)
                nodes.append(node)
                await node.start(sim.url, sim.apikey, "global", f"cluster-node{i + 1}",
                                 bus_env(redis, f"node-{i + 1}"))  # fmt: skip
                if i == 0:
                    await _one_leader(nodes, 30)
            store = await Store.open(nodes[0].dsn, max_size=2)
            try:
                watch = Watch(sim, store)
                alive = list(nodes)
                to_drop = instances[:: max(1, len(instances) // 10)]
                for turn in range(2):
                    leader = await _one_leader(alive, 30)
                    survivors = [node for node in alive if node is not leader]
                    if await _statuses_true(watch, time.time(), 30) is None:
                        raise RuntimeError("statuses not true before the kill")
                    killed_at = time.time()
                    leader.kill()
                    await leader.child.proc.wait()
                    dropped = to_drop[turn::2]
                    for name in dropped:
                        await sim.http("POST", f"/_sim/drop/{name}?code=401")
                    flip, true_s = await asyncio.gather(
                        _leader_flip(survivors, killed_at, s.failover_deadline),
                        _statuses_true(watch, killed_at, s.failover_deadline),
                    )
                    rounds.append({
                        "nodes_before": len(alive), "killed": leader.child.name,
                        "dropped": len(dropped), "leader_flip_s": flip, "statuses_true_s": true_s,
                    })  # fmt: skip
                    log.info("cluster failover %s: leader after %s s, statuses true after %s s",
                             turn + 1, flip, true_s)  # fmt: skip
                    alive = survivors
            finally:
                await store.close()
        finally:
            for node in reversed(nodes):
                await node.stop_process()
            if nodes:
                await nodes[0].stop()
    worst = [r["statuses_true_s"] for r in rounds]
    met = all(v is not None and v <= TARGET_FAILOVER_S for v in worst)
    return {"instances": len(instances), "rounds": rounds, "met": met,
            "worst_statuses_true_s": None if None in worst else max(worst)}  # fmt: skip


# -- on paper -------------------------------------------------------------------------------


def _idle_figures(root: Path) -> dict[str, Any] | None:
    """The newest run's evo-relay idle figures (RSS and CPU per idle connection)."""
    for folder in sorted((p for p in root.glob("20*-*-*") if p.is_dir()), reverse=True):
        path = folder / "idle.json"
        if path.exists():
            data = json.loads(path.read_text())
            relay = (data.get("servers") or {}).get("evo-relay")
            if relay and "rss_per_client_kb" in relay:
                return {"date": folder.name, "clients": data.get("clients"), **relay}
    return None


def paper(bus: dict[str, Any], idle: dict[str, Any] | None) -> dict[str, Any]:
    """Nodes for ``PANELS`` panels at ``EVENTS_PER_S``, spread evenly (websocket, no stickiness).

    Per node: CPU = its idle connections + every event from the bus (a follower receives and
    encodes each one once, whatever its clients; the leader also ingests it, writes statuses
    and publishes it) + its share of the deliveries; memory = RSS per idle connection × its
    connections. Deliveries per event: the tenants mix's (2 panels per tenant) scaled to the
    panels per tenant.
    """
    tenants = bus["tenants"]["bus"]
    with_follower = bus["tenants"]["with_follower"]
    fan = bus["fanout"]["bus"]
    if (idle is None or not tenants.get("events_sent") or not fan.get("deliveries")
            or not with_follower.get("events_sent")):  # fmt: skip
        return {"error": "no idle figures, or no bus figures, to plan from"}
    events = tenants["events_sent"]
    idle_clients = idle.get("still_connected") or idle.get("clients") or 1
    idle_cpu = idle["idle_cpu_share"] / idle_clients  # cores per idle connection
    max_conns = idle.get("clients") or 10_000
    rss_kb = idle["rss_per_client_kb"]
    per_delivery = fan["server_cpu_s"] / fan["deliveries"]  # 1,000 panels per event: ~all fan-out
    follower_event = with_follower["follower_cpu_s"] / with_follower["events_sent"]
    leader_event = max(
        0.0, (tenants["server_cpu_s"] - tenants["deliveries"] * per_delivery) / events
    )
    deliveries_per_event = tenants["deliveries"] / events
    per_tenant = PANELS / FULL.tenants_tenants
    deliveries = EVENTS_PER_S * deliveries_per_event * per_tenant / FULL.tenants_clients_per

    def node_cpu(conns: float, per_event: float) -> float:
        return (
            idle_cpu * conns + EVENTS_PER_S * per_event + deliveries * conns / PANELS * per_delivery
        )

    def plan(leader_panels: bool) -> dict[str, Any]:
        for nodes in range(2, 501):
            serving = nodes if leader_panels else nodes - 1
            conns = PANELS / serving
            follower = node_cpu(conns, follower_event)
            leader = node_cpu(conns if leader_panels else 0, leader_event)
            if max(follower, leader) <= CPU_BUDGET and conns <= max_conns:
                return {"nodes": nodes, "connections_per_node": round(conns),
                        "follower_cpu_share": round(follower, 3),
                        "leader_cpu_share": round(leader, 3),
                        "rss_mb_per_node": round(conns * rss_kb / 1024)}  # fmt: skip
        return {"nodes": None, "why": f"no count up to 500 keeps every node under {CPU_BUDGET:.0%}"}

    even, leader_free = plan(True), plan(False)
    reasoning = (
        f"{PANELS:,} panels over {FULL.tenants_tenants} tenants ({per_tenant:.0f} each) at "
        f"{EVENTS_PER_S:,.0f} events/s, each event reaching its tenant's panels: "
        f"{deliveries:,.0f} deliveries/s in all ({deliveries_per_event:.2f} per event measured "
        f"with {FULL.tenants_clients_per} panels per tenant, scaled). Every node reads every "
        f"event from the bus: a follower with no client spent {follower_event * 1e6:.0f} us per "
        f"event ({EVENTS_PER_S * follower_event:.2f} of a core at this rate, whatever the node "
        f"count); the leader spent {leader_event * 1e6:.0f} us per event (it also ingests, "
        f"writes statuses and publishes; its deliveries taken out), "
        f"{EVENTS_PER_S * leader_event:.2f} of a core. A delivery costs "
        f"{per_delivery * 1e6:.2f} us (the fan-out run with the bus); an idle connection "
        f"{idle_cpu * 1e6:.2f} us/s and {rss_kb:.1f} KB (idle scenario of {idle['date']}). A "
        f"node is one event loop: every node under {CPU_BUDGET:.0%} of a core and at most "
        f"{max_conns:,} connections. Panels spread evenly over all nodes: {even.get('nodes')} "
        f"nodes; with the leader out of the load balancer (it ingests only): "
        f"{leader_free.get('nodes')}. Redis at this rate: {tenants.get('redis_cpu_share')} of "
        f"a core with one node reading, {with_follower.get('redis_cpu_share')} with two; each "
        "further node adds a reader."
    )
    return {"panels": PANELS, "events_per_s": EVENTS_PER_S, "deliveries_per_s": round(deliveries),
            "follower_us_per_event": round(follower_event * 1e6, 1),
            "leader_us_per_event": round(leader_event * 1e6, 1),
            "per_delivery_us": round(per_delivery * 1e6, 3),
            "idle_cpu_us_per_connection_s": round(idle_cpu * 1e6, 3),
            "rss_kb_per_connection": rss_kb, "plan": even,
            "plan_leader_without_panels": leader_free, "reasoning": reasoning}  # fmt: skip


async def cluster(h: Harness) -> dict[str, Any]:
    gated = h.gate((), relay_only=True)
    if gated is not None:
        return gated
    if shutil.which("redis-server") is None:
        return {"skipped" if h.smoke else "error": "redis-server is not installed"}
    async with own_redis(h.log_dir) as redis:
        bus = await bus_cost(h, redis)
        over = await failover(h, redis)
    out: dict[str, Any] = {"servers": {"evo-relay": {"bus": bus, "failover": over}}}
    out["servers"]["evo-relay"]["paper"] = paper(bus, _idle_figures(BENCH_DIR / "results"))
    return out
