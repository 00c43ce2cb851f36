"""recovery: how soon every stored status is true again once an upstream answers again.

evo-relay only, in instance mode, N open instances of one tenant, stored WORKING. The truth is
read live from the simulator (its Python API, in its process): ``open`` → WORKING,
``connecting`` → SCAN_QR_CODE once a QR was shown, else STARTING, ``close`` → STOPPED or
FAILED. The relay's database is polled every 0.2 s; the figure is the time from the moment
the upstream answers again until every stored status equals the truth and stays so (1 s, with
the truth unchanged for as long). Target: ≤ 3 s in both parts.

- **simulator-restart**: before the restart, 10% of the instances are dropped for good
  (``/_sim/drop?code=401``: the relay sees STOPPED) and another 10% lose their WhatsApp session
  (their phone unlinked them; the relay cannot know). ``Simulator.restart(down_for=S)``: down
  for S s (10 s, as Evolution takes 9–13 s to answer again), then every instance reconnects
  by itself: WORKING again, or a QR (SCAN_QR_CODE) for both 10% groups. Measured from the
  first 200 of the simulator's ``GET /`` after the restart; the tenant's Socket.IO client also
  records when it saw ``upstream.status`` down and up, against the simulator going down and
  answering again.
- **postgres-restart**: the relay runs on a Postgres of its own (pgserver in a temporary
  directory, never the machine's shared server), which stops for 8 s. Meanwhile, through the
  simulator's controls, 10% are logged out (``drop?code=401``: STOPPED), 10% are logged out
  and connected again (a QR: SCAN_QR_CODE), 10% the same and then scanned (WORKING, through
  STOPPED, STARTING and SCAN_QR_CODE), and 10% lose the connection and resume it
  (``drop?code=428``: STARTING, then WORKING). Measured from the moment Postgres accepts
  connections again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

from bench.common.database import PrivatePostgres
from bench.common.harness import Harness, Sim, names
from bench.common.procs import wait_healthy
from bench.common.servers import RelayServer
from bench.common.tenant import EventLog, Received, token
from relay.auth import Role
from relay.store import Store

log = logging.getLogger(__name__)

NEEDS_SIM_RESTART = ("Simulator.restart(down_for)",)
TENANT = "t-recovery"
EVENTS = ("upstream.status", "instance.status")
NAMESPACES = "relay_upstream_namespaces"
POLL = 0.2
HOLD = 1.0
TARGET_S = 3.0
PARTS = ("simulator-restart", "postgres-restart")


def expected(state: str, qr_count: int) -> frozenset[str]:
    """The stored statuses that are true for the simulator's live state."""
    if state == "open":
        return frozenset({"WORKING"})
    if state == "connecting":
        return frozenset({"SCAN_QR_CODE" if qr_count else "STARTING"})
    return frozenset({"STOPPED", "FAILED"})


def pick(instances: list[str], seed: int, *groups: str) -> dict[str, list[str]]:
    """Disjoint, seeded groups of 10% each (at least one instance each)."""
    shuffled = random.Random(seed).sample(instances, len(instances))
    size = max(1, len(instances) // 10)
    return {group: sorted(shuffled[i * size : (i + 1) * size]) for i, group in enumerate(groups)}


class Watch:
    """Polls the truth and the stored statuses until they agree and keep agreeing."""

    def __init__(self, sim: Sim, store: Store) -> None:
        self._sim = sim
        self._store = store

    async def wrong(self) -> tuple[list[str], dict[str, frozenset[str]]]:
        live = (await self._sim.call("truth"))["live"]
        truth = {name: expected(state, qrs) for name, (state, qrs) in live.items()}
        stored = {row.name: row.status.value for row in await self._store.list_instances()}
        return sorted(n for n, want in truth.items() if stored.get(n) not in want), truth

    async def until_true(self, since: float, settle: float, deadline: float) -> dict[str, Any]:
        """``since``: the ``time.time()`` the figures count from."""
        samples: list[dict[str, float]] = []
        true_since: float | None = None
        first_true: float | None = None
        truth_at, last_truth = 0.0, None
        while True:
            t = time.time() - since
            wrong, truth = await self.wrong()
            if truth != last_truth:
                truth_at, last_truth = t, truth
            samples.append({"t": round(t, 2), "wrong": len(wrong)})
            true_since = None if wrong else (t if true_since is None else true_since)
            first_true = first_true if first_true is not None or wrong else t
            steady = true_since is not None and min(t - true_since, t - truth_at) >= HOLD
            if (steady and t >= settle) or t >= deadline:
                break
            await asyncio.sleep(POLL)
        return {
            "statuses_true_s": None if true_since is None else round(true_since, 2),
            "first_true_s": None if first_true is None else round(first_true, 2),
            "last_truth_change_s": round(truth_at, 2),
            "wrong_at_end": len(wrong),
            "wrong_names": wrong[:10],
            "samples": samples,
        }


async def _statuses_true(server: RelayServer, sim: Sim, within: float) -> float | None:
    store = await server.store()
    try:
        before = await Watch(sim, store).until_true(time.time(), 0.0, within)
    finally:
        await store.close()
    return before["statuses_true_s"]


def _seen(events: EventLog, after: float, state: str) -> Received | None:
    found = [r for r in events.events("upstream.status", after=after)
             if isinstance(r.data, dict) and r.data.get("state") == state]  # fmt: skip
    return found[0] if found else None


async def simulator_restart(h: Harness) -> dict[str, Any]:
    blocked = h.gate(NEEDS_SIM_RESTART)
    if blocked is not None:
        return blocked
    s = h.sizes
    instances = names(s.recovery_instances)
    groups = pick(instances, h.seed, "dropped", "lost")
    out: dict[str, Any] = {"down_for_s": s.recovery_sim_down, **_sizes(groups)}
    async with (
        h.simulator(len(instances), **_sim_options(h)) as sim,
        h.server("relay", sim, dict.fromkeys(instances, TENANT), "recovery-sim",
                 mode="instance") as server,
        EventLog(server.url, token(TENANT, Role.USER), EVENTS) as events,
    ):  # fmt: skip
        assert isinstance(server, RelayServer)
        out["initial_subscribe_s"] = await server.wait_metric(
            NAMESPACES, len(instances), s.recovery_deadline
        )
        await asyncio.gather(*(sim.http("POST", f"/_sim/drop/{n}?code=401")
                               for n in groups["dropped"]))  # fmt: skip
        out["before_true_s"] = await _statuses_true(server, sim, s.recovery_deadline)
        commanded = time.monotonic()
        url = sim.url + "/"

        async def down_and_up() -> tuple[float, float]:
            down = await wait_healthy(url, sim.proc, within=10, healthy=False, every=0.05)
            up = await wait_healthy(url, sim.proc, within=s.recovery_sim_down + 30, every=0.05)
            return down, up

        _, (down_at, up_at) = await asyncio.gather(
            sim.call("restart", wait=s.recovery_sim_down + 60, lose_sessions=groups["lost"],
                     down_for=s.recovery_sim_down),
            down_and_up(),
        )  # fmt: skip
        out["measured_down_s"] = round(up_at - down_at, 2)
        store = await server.store()
        try:
            settle = max(s.reconnect_delay, s.first_qr_delay) + 0.5
            out.update(await Watch(sim, store).until_true(up_at, settle, s.recovery_deadline))
        finally:
            await store.close()
        down_seen = _seen(events, commanded, "down")
        up_seen = _seen(events, down_seen.at if down_seen else commanded, "up")
    out["clients_saw_down_s"] = round(down_seen.wall - down_at, 2) if down_seen else None
    out["clients_saw_up_s"] = round(up_seen.wall - up_at, 2) if up_seen else None
    out["met"] = out["statuses_true_s"] is not None and out["statuses_true_s"] <= TARGET_S
    return out


async def _change_while_down(sim: Sim, groups: dict[str, list[str]], qr_delay: float) -> None:
    logged_out = groups["stopped"] + groups["qr"] + groups["scanned"]
    await asyncio.gather(
        *(sim.http("POST", f"/_sim/drop/{n}?code=401") for n in logged_out),
        *(sim.http("POST", f"/_sim/drop/{n}?code=428") for n in groups["reconnect"]),
    )
    await asyncio.gather(
        *(sim.http("GET", f"/instance/connect/{n}") for n in groups["qr"] + groups["scanned"])
    )
    await asyncio.sleep(qr_delay + 0.3)  # the QR is shown: the phone can scan it
    await asyncio.gather(*(sim.http("POST", f"/_sim/scan/{n}") for n in groups["scanned"]))


async def postgres_restart(h: Harness) -> dict[str, Any]:
    s = h.sizes
    instances = names(s.recovery_instances)
    groups = pick(instances, h.seed, "stopped", "qr", "scanned", "reconnect")
    out: dict[str, Any] = {"down_for_s": s.recovery_pg_down, **_sizes(groups)}
    pg = PrivatePostgres(h.log_dir / f"recovery-pg-{uuid.uuid4().hex[:8]}")
    try:
        await pg.start()
        async with (
            h.simulator(len(instances), **_sim_options(h)) as sim,
            h.server("relay", sim, dict.fromkeys(instances, TENANT), "recovery-pg",
                     mode="instance", root_dsn=pg.dsn) as server,
        ):  # fmt: skip
            assert isinstance(server, RelayServer)
            out["initial_subscribe_s"] = await server.wait_metric(
                NAMESPACES, len(instances), s.recovery_deadline
            )
            out["before_true_s"] = await _statuses_true(server, sim, s.recovery_deadline)
            await pg.stop()
            stopped = time.time()
            await _change_while_down(sim, groups, s.first_qr_delay)
            await asyncio.sleep(max(0.0, s.recovery_pg_down - (time.time() - stopped)))
            await pg.start()
            up_at = time.time()
            out["measured_down_s"] = round(up_at - stopped, 2)
            store = await server.store()
            try:
                out.update(await Watch(sim, store).until_true(up_at, HOLD, s.recovery_deadline))
            finally:
                await store.close()
    finally:
        if not pg.running:  # the relay's schema is dropped on it; then it stops for good
            await pg.start()
        await pg.stop()
    out["met"] = out.get("statuses_true_s") is not None and out["statuses_true_s"] <= TARGET_S
    return out


def _sim_options(h: Harness) -> dict[str, Any]:
    s = h.sizes
    return {
        "global_events": False, "reconnect_delay": s.reconnect_delay,
        "qr_interval": s.pairing_qr_interval,
        "config": {"first_qr_delay": s.first_qr_delay, "connect_wait": 0.0},
    }  # fmt: skip


def _sizes(groups: dict[str, list[str]]) -> dict[str, Any]:
    return {"groups": {group: len(members) for group, members in groups.items()}}


async def recovery(h: Harness) -> dict[str, Any]:
    if "relay" not in h.servers:
        return {"skipped": "evo-relay only"}
    parts: dict[str, dict[str, Any]] = {}
    for name, part in zip(PARTS, (simulator_restart, postgres_restart), strict=True):
        try:
            parts[name] = await part(h)
        except Exception as exc:  # one failing part must not lose the other's figures
            log.exception("recovery %s failed", name)
            parts[name] = {"error": f"{type(exc).__name__}: {exc}"}
        log.info("recovery %s: %s", name, {k: v for k, v in parts[name].items() if k != "samples"})
    out: dict[str, Any] = {
        "instances": h.sizes.recovery_instances, "target_s": TARGET_S,
        "servers": {"evo-relay": parts},
    }  # fmt: skip
    errors = [f"{name}: {part['error']}" for name, part in parts.items() if "error" in part]
    if errors:
        out["error"] = "; ".join(errors)
    return out
