"""The whole relay (``create_app`` on a loopback port) in front of an unkind simulator.

``relay_for(presets, mode=..., sim=..., tenants=...)`` starts the simulator with the given
presets and timings, records the instances named in ``tenants`` for their tenants, starts the
relay in ``instance`` or ``global`` events mode, and returns a :class:`Stage` with an HTTP
caller and a factory of recording Socket.IO clients. Everything is closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from relay.app import create_app
from relay.config import Settings
from relay.store import Status, Store
from simulator import PresetInstance
from tests.conftest import MakeSimulator
from tests.stage import Stage
from tests.support import fast_sim_config

KEY = "statuses-sim-key"


RelayFor = Callable[..., Awaitable[Stage]]


@pytest.fixture
async def relay_for(
    aiohttp_server: Any,
    make_simulator: MakeSimulator,
    store: Store,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[RelayFor]:
    opened: list[Stage] = []

    async def make(
        presets: list[PresetInstance],
        *,
        tenants: dict[str, str] | None = None,
        mode: str = "instance",
        sim: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Stage:
        config = fast_sim_config(
            KEY, presets=presets, global_events=mode == "global", **(sim or {})
        )
        simulator = await make_simulator(config)
        for name, tenant in (tenants or {}).items():
            await store.create_instance(tenant, name, status=Status.STOPPED, reason="test",
                                        websocket_enabled=True)  # fmt: skip
        relay_settings = make_settings(
            evolution_url=simulator.base_url, evolution_apikey=KEY,
            evolution_events_mode=mode, **settings,
        )  # fmt: skip
        app = create_app(relay_settings)
        server = await aiohttp_server(app)
        url = str(server.make_url("")).rstrip("/")
        stage = Stage.of(app, url, {"default": simulator}, relay_settings)
        opened.append(stage)
        return stage

    yield make
    for stage in reversed(opened):
        await stage.close()
