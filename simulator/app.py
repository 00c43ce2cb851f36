"""The simulator as an object: build the aiohttp app, start, stop, restart, and test controls.

    sim = Simulator(SimConfig(global_events=True))
    base_url = await sim.start("127.0.0.1", 0)
    ...
    await sim.scan("inst1")
    await sim.stop()

:meth:`Simulator.restart` is what restarting the Evolution process does: the port refuses
connections for ``down_for`` seconds (the real server needs 9–13 s, docs/upstream.md §12), the
"database" (instances, tokens, websocket/webhook rows, sessions) stays, the in-memory state
and the Socket.IO namespaces are gone, and with ``autoconnect_on_restart`` every stored
instance reconnects by itself (§8): with a session to ``open``, without one into a QR cycle,
and an unreachable one back into the reconnect loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aiohttp import web

from relay.tasks import Tasks
from simulator import control, http_events, http_instance
from simulator.calls import CallLog, Faults
from simulator.config import PresetInstance, SimConfig
from simulator.keys import SIMULATOR
from simulator.load import MessageLoad
from simulator.machine import Machine, SimulatorError, random_wuid
from simulator.middleware import evolution_errors, record_calls
from simulator.sockets import NullOutput, SocketHub
from simulator.state import EventRow, Instance, Store
from simulator.validation import stored_events

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
        self._controls = Tasks()
        """A restart asked over HTTP: it outlives the server it stops."""
        self._restarting: asyncio.Task[Any] | None = None
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

    @property
    def socket_clients(self) -> int:
        """Socket.IO clients connected now (0 while stopped): who follows this server."""
        return self._hub.clients if self._hub else 0

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
                await self.machine.autoconnect(instance)
        if self.config.event_rate > 0:
            self.load = MessageLoad(self.machine, self.config.event_rate, self.config.payload_bytes)
            self._tasks.spawn(self.load.run(), "sim-message-load")
        log.info("Evolution simulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; the stored instances stay for a later :meth:`start`. A restart asked
        with ``POST /_sim/restart`` and still pending is cancelled."""
        pending = self._restarting
        if pending is not None and pending is not asyncio.current_task():
            self._restarting = None
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        if self._runner is None:
            return
        await self._tasks.close()
        self.machine.zombies.clear()
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

    async def restart(self, down_for: float | None = None) -> str:
        """Stop, refuse connections for ``down_for`` seconds (default
        ``SimConfig.restart_delay``), then listen again on the same address."""
        if self._bound is None:
            raise RuntimeError("simulator never started")
        host, port = self._bound
        down = self.config.restart_delay if down_for is None else down_for
        await self.stop()
        log.info("Evolution simulator down for %.2f s", down)
        if down > 0:
            await asyncio.sleep(down)
        return await self.start(host, port)

    @property
    def restarting(self) -> bool:
        """Whether a :meth:`restart_soon` is under way."""
        return self._restarting is not None and not self._restarting.done()

    def restart_soon(self, down_for: float | None = None) -> None:
        """:meth:`restart` in the background (``POST /_sim/restart`` answers first)."""
        if self.restarting:
            raise SimulatorError("a restart is already under way")
        self._restarting = self._controls.spawn(self.restart(down_for), "sim-restart")

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
        if preset.looping:
            if preset.state == "open":
                instance.has_session = True
                instance.wuid = preset.wuid or random_wuid()
                instance.profile_name = preset.profile_name
            await self.machine.start_loop(instance, self.config.loop_rate)
        elif preset.state == "open":
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

    async def start_loop(self, name: str, rate: float | None = None) -> Instance:
        """WhatsApp becomes unreachable for ``name``: Baileys' reconnect loop at ``rate``
        ``connecting`` events per second (default ``SimConfig.loop_rate``), state ``close``."""
        rate = self.config.loop_rate if rate is None else rate
        if rate <= 0:
            raise SimulatorError(f"loop rate must be positive, got {rate}", status=400)
        instance = self.instance(name)
        await self.machine.start_loop(instance, rate)
        return instance

    async def stop_loop(self, name: str) -> Instance:
        """WhatsApp is reachable again: the loop of ``name`` (or of its deleted zombie) stops
        and the instance stays ``close``, with no event."""
        instance = self.store.get(name)
        if instance is None:
            zombies = [z for z in self.machine.zombies if z.name == name]
            if not zombies:
                raise SimulatorError(f"no instance or zombie loop {name!r}", status=404)
            instance = zombies[-1]
        self.machine.stop_loop(instance)
        return instance

    def loops(self) -> list[dict[str, Any]]:
        """Running reconnect loops: ``{"instance", "rate", "zombie"}`` each."""
        live = [(i, False) for i in self.store.all() if i.looping]
        found = live + [(z, True) for z in self.machine.zombies]
        return [
            {"instance": i.name, "rate": i.loop_rate, "zombie": zombie}
            for i, zombie in found
            if i.loop_task is not None and not i.loop_task.done()
        ]

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
