"""The simulator as an object: build the aiohttp app, start, stop, restart, and test controls.

    sim = Simulator(SimConfig(global_events=True))
    base_url = await sim.start("127.0.0.1", 0)
    ...
    await sim.scan("inst1")
    await sim.stop()

:meth:`Simulator.restart` is what restarting the Evolution process does: the "database"
(instances, tokens, websocket/webhook rows, sessions) stays, the in-memory state and the
Socket.IO namespaces are gone, and with ``autoconnect_on_restart`` every stored instance
reconnects at once (EVOLUTION.md §8).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from relay.simulator import control, http_events, http_instance
from relay.simulator.calls import CallLog, Faults
from relay.simulator.config import PresetInstance, SimConfig
from relay.simulator.keys import SIMULATOR
from relay.simulator.load import MessageLoad
from relay.simulator.machine import Machine, SimulatorError, random_wuid
from relay.simulator.middleware import evolution_errors, record_calls
from relay.simulator.sockets import NullOutput, SocketHub
from relay.simulator.state import EventRow, Instance, Store
from relay.simulator.validation import stored_events
from relay.tasks import Tasks

log = logging.getLogger(__name__)

_NAMED_ROUTE = re.compile(r"^/(?:instance|websocket|webhook)/[^/]+/([^/]+)$")


class Simulator:
    """An Evolution API 2.3.6 stand-in on a loopback port."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.store = Store()
        self.calls = CallLog()
        self.faults = Faults()
        self._tasks = Tasks()
        self.machine = Machine(self.config, self.store, self._tasks, lambda: self.server_url)
        self.load: MessageLoad | None = None
        self._runner: web.AppRunner | None = None
        self._hub: SocketHub | None = None
        self._bound: tuple[str, int] | None = None
        self._seeded = False
        self.base_url: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def server_url(self) -> str | None:
        return self.config.server_url or self.base_url

    @property
    def namespaces(self) -> set[str]:
        """Per-instance namespaces created since this server (re)started."""
        return set(self._hub.created) if self._hub else set()

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[record_calls, evolution_errors])
        app[SIMULATOR] = self
        app.add_routes(http_instance.routes)
        app.add_routes(http_events.routes)
        app.add_routes(control.routes)
        if self.config.websocket_enabled:
            self._hub = SocketHub(self.config, self.store, app)
            self.machine.output = self._hub
        else:
            self._hub = None
            self.machine.output = NullOutput()
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        # Websocket handlers still open at stop (clients that do not close on an engine.io
        # CLOSE) are cancelled after this grace instead of holding stop() for seconds.
        runner = web.AppRunner(
            self.build_app(), handle_signals=False, access_log=None, shutdown_timeout=0.25
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self._bound = (host, bound_port)
        self.base_url = f"http://{host}:{bound_port}"
        if not self._seeded:
            self._seeded = True
            for preset in self.config.presets:
                await self._seed(preset)
        elif self.config.autoconnect_on_restart:
            for instance in self.store.all():
                await self.machine.start_connecting(instance)
        if self.config.event_rate > 0:
            self.load = MessageLoad(self.machine, self.config.event_rate, self.config.payload_bytes)
            self._tasks.spawn(self.load.run(), "sim-message-load")
        log.info("Evolution simulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; the stored instances stay for a later :meth:`start`."""
        if self._runner is None:
            return
        await self._tasks.close()
        if self._hub is not None:
            await self._hub.close()
        await self._runner.cleanup()
        self._runner = None
        self._hub = None
        self.machine.output = None
        self.store.instances = {n: i for n, i in self.store.instances.items() if not i.deleting}
        for instance in self.store.all():
            instance.reset_runtime()
        log.info(
            "Evolution simulator stopped: %s instances, %s calls, %s events emitted",
            len(self.store.instances),
            len(self.calls.calls),
            len(self.machine.emitted),
        )

    async def restart(self) -> str:
        """Stop and start on the same address, like restarting the Evolution process."""
        if self._bound is None:
            raise RuntimeError("simulator never started")
        host, port = self._bound
        await self.stop()
        return await self.start(host, port)

    async def _seed(self, preset: PresetInstance) -> None:
        instance = Instance(
            name=preset.name,
            token=preset.token or preset.name + "-token",
            integration=preset.integration,
            number=preset.number,
        )
        if preset.websocket_events is not None:
            events = stored_events(preset.websocket_enabled, list(preset.websocket_events))
            instance.websocket = EventRow(instance.id, preset.websocket_enabled, events)
        self.store.add(instance)
        if preset.state == "open":
            await self.machine.become_open(
                instance, preset.wuid or random_wuid(), preset.profile_name
            )
        elif preset.state == "connecting":
            await self.machine.start_connecting(instance, preset.number)

    # -- controls -----------------------------------------------------------------------------

    def instance(self, name: str) -> Instance:
        found = self.store.get(name)
        if found is None:
            raise SimulatorError(f"no instance {name!r}", status=404)
        return found

    async def scan(
        self, name: str, wuid: str | None = None, profile_name: str | None = None
    ) -> Instance:
        """The phone scanned the QR (or typed the pairing code): the instance is ``open``."""
        instance = self.instance(name)
        if instance.state != "connecting":
            raise SimulatorError(f"instance {name!r} is {instance.state}, not connecting")
        await self.machine.become_open(instance, wuid, profile_name)
        return instance

    async def drop(self, name: str, code: int = 401) -> Instance:
        """WhatsApp closes the connection with ``code`` (401/402/403/406 are final)."""
        instance = self.instance(name)
        if instance.state == "close":
            raise SimulatorError(f"instance {name!r} is already closed")
        await self.machine.drop(instance, code)
        return instance

    async def emit(self, name: str, event: str, data: Any) -> None:
        """Emit any event for an instance, routed like a real one."""
        await self.machine.emit(self.instance(name), event, data)

    def reset(self) -> None:
        """Forget the call log, the faults and the emitted-event log."""
        self.calls.clear()
        self.faults.clear()
        self.machine.emitted.clear()

    def authorizes(self, key: str | None, path: str) -> bool:
        """Whether ``key`` passes the auth guard for ``path`` (for the call log)."""
        if not key:
            return False
        if key == self.config.apikey:
            return True
        if path == "/instance/fetchInstances":
            return bool(self.store.by_token(key))
        match = _NAMED_ROUTE.match(path)
        instance = self.store.get(match.group(1)) if match else None
        return instance is not None and instance.token == key
