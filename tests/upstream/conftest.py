"""Fixtures for the live side: the simulator as a real upstream, real Postgres, a recording hub.

``live_env(...)`` starts a simulator with the given presets, records instances in the store
for their tenants, and starts :class:`relay.tracker.InstanceTracker` against both with a
:class:`RecordingHub` in place of ``relay.hub.Hub`` (same interface). Everything is closed at
teardown.

The tracker follows Evolution over one multiplexed connection (the fast path); a module that
wants the stock path too (a connection per namespace, what untested library versions get)
parametrizes the fixture: ``metafunc.parametrize("live_env", ["fast", "stock"], indirect=True)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

import handlers.events
import handlers.status
from relay.config import Settings
from relay.evolution.client import EvolutionClient
from relay.metrics import Metrics
from relay.store import Instance, Status, StatusChange, Store
from relay.tasks import Tasks
from relay.tracker import InstanceTracker
from simulator import PresetInstance, SimConfig, Simulator
from tests.conftest import MakeSimulator
from tests.support import eventually, fast_sim_config

KEY = "upstream-test-key"


def fast_config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "qr_interval": 0.2, "first_qr_delay": 0.05, "reconnect_delay": 0.05,
        "delete_delay": 0.2, **overrides,
    }  # fmt: skip
    return fast_sim_config(KEY, **values)


@dataclass
class Published:
    tenant_id: str
    instance: str
    event: str
    payload: dict[str, Any]


@dataclass
class RecordingHub:
    """``relay.hub.Hub``'s interface: seq per tenant, and everything recorded."""

    published: list[Published] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)
    upstream: list[tuple[str, str]] = field(default_factory=list)  # (server, state)

    async def publish(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int:
        seq = self.seqs[tenant_id] = self.seqs.get(tenant_id, 0) + 1
        payload["seq"] = seq
        self.published.append(Published(tenant_id, instance_name, event, payload))
        return seq

    async def status_changed(self, change: StatusChange) -> int:
        self.changes.append(change)
        payload = {
            "instanceName": change.instance_name,
            "tenantId": change.tenant_id,
            "status": change.status.value,
            "previousStatus": change.previous_status,
            "reason": change.reason,
            "at": change.at.isoformat(),
        }
        return await self.publish(
            change.tenant_id, change.instance_name, "instance.status", payload
        )

    async def instance_added(self, instance: Instance) -> int:
        payload = {"instance": {"instanceName": instance.name, "tenantId": instance.tenant_id}}
        return await self.publish(instance.tenant_id, instance.name, "instance.added", payload)

    async def instance_removed(self, instance: Instance, reason: str) -> int:
        payload = {"instanceName": instance.name, "tenantId": instance.tenant_id, "reason": reason}
        return await self.publish(instance.tenant_id, instance.name, "instance.removed", payload)

    def upstream_status(self, server: str, state: str, since: datetime) -> None:
        self.upstream.append((server, state))

    def events(self, instance: str, event: str | None = None) -> list[Published]:
        return [
            p
            for p in self.published
            if p.instance == instance and (event is None or p.event == event)
        ]


@dataclass
class LiveEnv:
    sim: Simulator
    store: Store
    hub: RecordingHub
    live: InstanceTracker
    metrics: Metrics
    evolution: EvolutionClient

    async def status(self, name: str) -> Status | None:
        row = await self.store.get_instance(name)
        return None if row is None else row.status

    def dropped(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "relay_events_dropped_total", {"reason": reason}
        )
        return value or 0.0

    def assert_no_secrets(self) -> None:
        tokens = [i.token for i in self.sim.store.all()] + [KEY]
        for item in self.hub.published:
            assert "apikey" not in item.payload
            text = json.dumps(item.payload, default=str)
            assert not any(token in text for token in tokens), item


MakeLive = Callable[..., Awaitable[LiveEnv]]


def both_upstream_paths(metafunc: pytest.Metafunc) -> None:
    """For a module's ``pytest_generate_tests``: run its ``live_env`` tests on both paths."""
    if "live_env" in metafunc.fixturenames:
        metafunc.parametrize("live_env", ["fast", "stock"], indirect=True)


@pytest.fixture
async def live_env(
    make_simulator: MakeSimulator,
    store: Store,
    make_settings: Callable[..., Settings],
    request: pytest.FixtureRequest,
) -> AsyncIterator[MakeLive]:
    """``await live_env(presets, tenants)`` → a simulator and a tracker following it; trackers
    are closed after the test, then the simulators. Parametrized indirectly with "stock", the
    tracker follows Evolution over python-socketio's public API (one connection per namespace)."""
    path = getattr(request, "param", "fast")
    assert path in ("fast", "stock"), path
    opened: list[tuple[Tasks, InstanceTracker, EvolutionClient]] = []

    async def make(
        presets: list[PresetInstance],
        tenants: dict[str, str],
        *,
        mode: str = "instance",
        config: dict[str, Any] | None = None,
        initial: Status = Status.STOPPED,
        reconcile_interval: float = 300.0,
        settle: float = 0.05,
        start: bool = True,
    ) -> LiveEnv:
        sim = await make_simulator(fast_config(presets=presets, **(config or {})))
        assert sim.base_url
        url = sim.base_url
        for name, tenant in tenants.items():
            await store.create_instance(
                tenant, name, status=initial, reason="test", websocket_enabled=True,
                websocket_events=["CONNECTION_UPDATE", "QRCODE_UPDATED", "MESSAGES_UPSERT"],
            )  # fmt: skip
        settings = make_settings(
            evolution_url=url,
            evolution_apikey=KEY,
            evolution_events_mode=mode,
            reconcile_interval=reconcile_interval,
        )
        evolution = EvolutionClient(url, settings.evolution_apikey, 5.0)  # type: ignore[arg-type]
        await evolution.start()
        hub, metrics = RecordingHub(), Metrics()
        tasks = Tasks(metrics)
        live = InstanceTracker(
            settings.servers()[0], store, evolution, hub, metrics, tasks,
            registrations=(handlers.status.register, handlers.events.register),
            state_rule=handlers.status.intent_for_state,
            reconcile_interval=reconcile_interval, first_retry_delay=0.05, settle=settle,
            fast_upstream=path == "fast",
        )  # fmt: skip
        opened.append((tasks, live, evolution))
        if start:
            await live.start()
            await eventually(live.ready)
        return LiveEnv(sim, store, hub, live, metrics, evolution)

    yield make
    for tasks, live, evolution in reversed(opened):
        await tasks.close()
        await live.close()
        await evolution.close()
