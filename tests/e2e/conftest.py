"""The end-to-end wiring: the simulator as Evolution, and the real app in front of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relay.app import create_app
from relay.config import Settings
from relay.store import Status, Store
from simulator import PresetInstance, Simulator
from tests.conftest import MakeSimulator
from tests.upstream.conftest import KEY, fast_config

API = "/api/instance-management"


@pytest.fixture
async def sim(make_simulator: MakeSimulator) -> Simulator:
    return await make_simulator(fast_config(presets=[PresetInstance("e1"), PresetInstance("e2")]))


@pytest.fixture
async def relay_url(
    aiohttp_server: Any, sim: Simulator, store: Store, make_settings: Callable[..., Settings]
) -> str:
    for tenant, name in (("tenant-a", "e1"), ("tenant-b", "e2")):
        await store.create_instance(
            tenant, name, status=Status.STOPPED, reason="test", websocket_enabled=True,
            websocket_events=["CONNECTION_UPDATE", "QRCODE_UPDATED"],
        )  # fmt: skip
    settings = make_settings(evolution_url=sim.base_url, evolution_apikey=KEY)
    server = await aiohttp_server(create_app(settings))
    return str(server.make_url("")).rstrip("/")
