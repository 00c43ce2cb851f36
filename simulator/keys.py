"""Every typed key the simulator's aiohttp app and requests carry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from simulator.app import Simulator

SIMULATOR: web.AppKey[Simulator] = web.AppKey("sim_simulator")
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("sim_body")
