"""Two simulated Evolution servers with different keys behind one relay (a fleet file).

``fleet(...)`` starts ``evo-a`` and ``evo-b`` (each its own key, presets and capacity), writes
the fleet file, records the given instances on their server for their tenant, and starts the
whole relay; the :class:`Fleet` it returns has an HTTP caller and recording Socket.IO clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from relay.app import create_app
from relay.config import Settings
from relay.store import Status, Store
from simulator import PresetInstance, Simulator
from tests.conftest import MakeSimulator
from tests.stage import Stage
from tests.support import fast_sim_config

KEYS = {"evo-a": "key-of-evo-a-0001", "evo-b": "key-of-evo-b-0002"}


def fleet_file(path: Path, sims: dict[str, Simulator], capacity: dict[str, int | None],
               mode: str = "instance") -> Path:  # fmt: skip
    tables = []
    for name, sim in sims.items():
        lines = ["[[server]]", f'name = "{name}"', f'url = "{sim.base_url}"',
                 f'apikey = "{KEYS[name]}"', f'events_mode = "{mode}"']  # fmt: skip
        if capacity.get(name) is not None:
            lines.append(f"capacity = {capacity[name]}")
        tables.append("\n".join(lines))
    path.write_text("\n\n".join(tables) + "\n")
    return path


class Fleet(Stage):
    """A stage with two Evolution servers, ``evo-a`` and ``evo-b``."""

    def calls(self, server: str, path_prefix: str) -> list[Any]:
        return self.sims[server].calls.matching(path_prefix=path_prefix)


MakeFleet = Callable[..., Awaitable[Fleet]]


@pytest.fixture
async def fleet(
    aiohttp_server: Any, store: Store, make_settings: Callable[..., Settings],
    make_simulator: MakeSimulator, tmp_path: Path,
) -> AsyncIterator[MakeFleet]:  # fmt: skip
    opened: list[Fleet] = []

    async def make(
        presets: dict[str, list[PresetInstance]] | None = None,
        *,
        recorded: dict[str, tuple[str, str]] | None = None,  # name -> (server, tenant)
        capacity: dict[str, int | None] | None = None,
        mode: str = "instance",
        sim: dict[str, Any] | None = None,
    ) -> Fleet:
        sims = {}
        for name, key in KEYS.items():
            mine = (presets or {}).get(name, [])
            config = fast_sim_config(key, presets=mine, global_events=mode == "global",
                                     **(sim or {}))  # fmt: skip
            sims[name] = await make_simulator(config)
        for name, (server, tenant) in (recorded or {}).items():
            await store.create_instance(tenant, name, status=Status.STOPPED, reason="test",
                                        websocket_enabled=True, server=server)  # fmt: skip
        path = fleet_file(tmp_path / "fleet.toml", sims, capacity or {}, mode)
        settings = make_settings(evolution_url=None, evolution_apikey=None,
                                 evolution_servers=path)  # fmt: skip
        app = create_app(settings)
        server = await aiohttp_server(app)
        made = Fleet.of(app, str(server.make_url("")).rstrip("/"), sims, settings)
        opened.append(made)
        return made

    yield make
    for made in reversed(opened):
        await made.close()
