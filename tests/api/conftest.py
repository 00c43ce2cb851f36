"""Fixtures for the management API tests: the simulator as a real upstream, the app, tokens.

``api`` is the app (through ``aiohttp_client(create_app(settings))``) in front of a running
simulator, with a real Postgres schema. The simulator's timings are slowed so that nothing
it does on its own (QR cycles, reconnects) changes an instance while a test looks at it.
The live side is wrapped in :class:`RecordingLive`, an implementation of our own
``LiveEvents`` interface that records each call and forwards it to whatever was there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from handlers.context import LiveEvents
from relay import app as relay_app
from relay.appkeys import FLEET, STORE
from relay.evolution.names import REQUIRED_EVENTS
from relay.fleet import Upstream
from relay.store import Store
from relay.store.models import AuditEntry, Instance, Status
from simulator import Call, Fault, SimConfig, Simulator
from simulator.state import Instance as SimInstance
from tests.conftest import MakeSimulator

SIM_KEY = "sim-global-apikey-for-tests"
BASE = "/api/instance-management"
TENANT_A = "tenant-a"
TENANT_B = "tenant-b"


def sim_config(**overrides: Any) -> SimConfig:
    """Slow on its own (no QR or reconnect during a test), quick to reply."""
    values: dict[str, Any] = {
        "apikey": SIM_KEY,
        "qr_interval": 60.0,
        "first_qr_delay": 60.0,
        "connect_wait": 0.0,
        "reconnect_delay": 60.0,
        "logout_delay": 0.01,
        "delete_delay": 0.05,
    }
    values.update(overrides)
    return SimConfig(**values)


@dataclass
class RecordingLive:
    """Records what the management side tells the live side, then passes it on."""

    inner: LiveEvents
    calls: list[tuple[str, Any]] = field(default_factory=list)

    # What changes the live side's state; generation/connecting/creating/deleting are hints.
    OUTCOMES = ("apply_status", "instance_added", "instance_updated", "instance_removed")

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args[1] if name == "apply_status" else args[0]))
            return target(*args, **kwargs)

        return record

    def names(self) -> list[str]:
        """The calls that changed something, in order."""
        return [name for name, _ in self.calls if name in self.OUTCOMES]


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@dataclass
class Api:
    client: TestClient[Any, Any]
    app: web.Application
    sim: Simulator
    live: RecordingLive
    tokens: dict[str, str]

    @property
    def store(self) -> Store:
        return self.app[STORE]

    async def call(
        self,
        method: str,
        path: str,
        *,
        as_: str | None = "A",
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Reply:
        """``path`` is sent byte for byte (no dot-segment folding), under ``BASE`` when relative."""
        full = path if path.startswith("/") else f"{BASE}/{path}"
        url = URL(str(self.client.make_url("")).rstrip("/") + full, encoded=True)
        sent = dict(headers or {})
        bearer = token if token is not None else (self.tokens[as_] if as_ else None)
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        if json_body is not None:
            data = json.dumps(json_body)
            sent.setdefault("Content-Type", "application/json")
        async with self.client.session.request(method, url, data=data, headers=sent) as resp:
            raw = await resp.read()
            body = json.loads(raw) if raw and resp.content_type == "application/json" else raw
            return Reply(resp.status, body, resp.headers)

    async def seed(
        self,
        name: str,
        tenant: str = TENANT_A,
        *,
        state: str = "open",
        provider: str = "evolution",
        upstream: bool = True,
    ) -> Instance:
        """An instance on the simulator (in ``state``) and its row in the relay's database."""
        if upstream:
            instance = SimInstance(name=name, token=f"{name}-token", integration="WHATSAPP-BAILEYS")
            self.sim.store.add(instance)
            if state == "open":
                await self.sim.machine.become_open(instance, None, f"Perfil {name}")
            elif state == "connecting":
                await self.sim.machine.start_connecting(instance)
        status = {"open": "WORKING", "connecting": "STARTING"}.get(state, "STOPPED")
        return await self.store.create_instance(
            tenant, name, status=Status(status), reason="seed", provider=provider,
            websocket_enabled=True, websocket_events=list(REQUIRED_EVENTS),
        )  # fmt: skip

    def upstream_calls(self, name: str) -> list[Call]:
        """What reached the simulator about ``name`` (the live side's own calls aside)."""
        return [
            c
            for c in self.sim.calls.calls
            if f"/{name}" in c.path
            or c.query.get("instanceName") == name
            or (isinstance(c.body, dict) and c.body.get("instanceName") == name)
        ]

    async def audit(self) -> list[AuditEntry]:
        return await self.store.list_audit(None, limit=1000)

    def fail_next(self, path_prefix: str, **fault: Any) -> None:
        self.sim.faults.add(Fault(path_prefix=path_prefix, **fault))


def _wrap_live(app: web.Application, recorder: list[RecordingLive]) -> None:
    """Insert, just before ``context_ctx``, a step wrapping whatever live side is there."""

    async def record_live(app: web.Application) -> AsyncIterator[None]:
        fleet = app[FLEET]
        for upstream in list(fleet):
            live = RecordingLive(upstream.live)  # type: ignore[arg-type]
            fleet.add(Upstream(upstream.server, upstream.evolution, live))  # type: ignore[arg-type]
            recorder.append(live)
        yield

    steps = list(app.cleanup_ctx)
    app.cleanup_ctx.insert(steps.index(relay_app.context_ctx), record_live)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def make_api(
    aiohttp_client: Any,
    make_simulator: MakeSimulator,
    make_settings: Callable[..., Any],
    token: Callable[..., str],
) -> MakeApi:
    async def make(sim: SimConfig | None = None, **settings: Any) -> Api:
        simulator = await make_simulator(sim or sim_config())
        app = relay_app.create_app(
            make_settings(evolution_url=simulator.base_url, evolution_apikey=SIM_KEY, **settings)
        )
        recorder: list[RecordingLive] = []
        _wrap_live(app, recorder)
        client = await aiohttp_client(app)
        tokens = {
            "A": token(TENANT_A, "ADMIN", user="alice"),
            "A_USER": token(TENANT_A, "USER", user="ursula"),
            "B": token(TENANT_B, "ADMIN", user="bob"),
            "SUPER": token(None, "SUPERADMIN", user="root"),
        }
        return Api(client, app, simulator, recorder[0], tokens)

    return make


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()
