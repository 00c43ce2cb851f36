"""The instance state machine: connect, QR cycle, scan, drop, restart, logout, delete, and
Baileys' reconnect loop.

States are Baileys' ``close | connecting | open`` (docs/upstream.md §8). Each transition cancels
the instance's ``runner`` task (QR cycle or reconnect) and emits the events the real server
emits, in its order (§3.3–§3.5, §7, §9). Events go through :meth:`Machine.emit`, which builds
the envelope and decides where it is delivered (§6.4).

The reconnect loop (§12, WhatsApp unreachable) is a separate task per instance: it emits
``connecting`` at ``loop_rate`` while the state reads ``close``, never shows a QR, and is not
stopped by a delete (a zombie, until the simulator restarts or :meth:`Machine.stop_loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from relay.evolution.names import config_name
from relay.tasks import Tasks
from simulator import envelope as ev
from simulator import qr as qrgen
from simulator.config import SimConfig
from simulator.state import Instance, Store

log = logging.getLogger(__name__)

FINAL_CLOSE_CODES = frozenset({401, 402, 403, 406})
"""Codes after which Baileys does not reconnect (docs/upstream.md §7.1)."""


class Output(Protocol):
    """Where envelopes go: the Socket.IO server, or nowhere when websocket output is off."""

    async def publish(self, event: str, payload: dict[str, Any], instance_ns: str | None) -> None:
        """Emit globally when configured, and on ``instance_ns`` when it is not ``None``."""

    async def flush(self) -> None:
        """Return once what was published so far has been handed to the clients' transports."""


@dataclass(frozen=True, slots=True)
class Emitted:
    """One envelope as emitted; ``per_instance`` tells whether ``/{name}`` received it."""

    event: str
    payload: dict[str, Any]
    per_instance: bool


class Machine:
    def __init__(
        self, config: SimConfig, store: Store, tasks: Tasks, server_url: Callable[[], str | None]
    ) -> None:
        self.config = config
        self.store = store
        self.tasks = tasks
        self.output: Output | None = None
        self._server_url = server_url
        self.emitted: deque[Emitted] = deque(maxlen=config.event_log_size)
        self.zombies: list[Instance] = []
        """Deleted instances whose reconnect loop still runs (docs/upstream.md §12)."""
        self._jitter = random.Random()

    # -- events -------------------------------------------------------------------------

    async def emit(self, instance: Instance, event: str, data: Any) -> None:
        payload = ev.envelope(
            event,
            instance,
            data,
            server_url=self._server_url(),
            offset=self.config.tz_offset,
            expose_token=self.config.expose_token,
        )
        live = self.store.get(instance.name) is instance and not instance.removed
        per_instance = live and instance.wants(config_name(event))
        self.emitted.append(Emitted(event, payload, per_instance))
        if self.output is not None:
            await self.output.publish(event, payload, "/" + instance.name if per_instance else None)

    # -- transitions ----------------------------------------------------------------------

    def _run(self, instance: Instance, coro: Any, what: str) -> None:
        self._cancel(instance)
        instance.runner = self.tasks.spawn(coro, f"sim-{what}-{instance.name}")

    def _cancel(self, instance: Instance) -> None:
        runner, instance.runner = instance.runner, None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()

    async def settle(self) -> None:
        """Let the events emitted so far reach the clients before an HTTP reply (§12)."""
        if self.output is not None:
            await self.output.flush()
        if self.config.emit_settle > 0:
            await asyncio.sleep(self.config.emit_settle)

    async def await_qr(self, instance: Instance) -> None:
        """Up to ``connect_wait`` for this cycle's first QR, or for any transition."""
        if self.config.connect_wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(instance.qr.shown.wait(), self.config.connect_wait)

    async def autoconnect(self, instance: Instance) -> None:
        """What ``loadInstance`` does at server start (§8): reconnect, or loop when unreachable."""
        if instance.looping:
            self.ensure_loop(instance)
        else:
            await self.start_connecting(instance)

    async def start_connecting(self, instance: Instance, number: str | None = None) -> None:
        """close/open → connecting; then back to open (stored session) or a QR cycle."""
        self._cancel(instance)
        instance.state = "connecting"
        instance.reset_qr()
        instance.pair_number = number
        await self.emit(instance, "connection.update", ev.connecting(instance))
        if instance.has_session:
            self._run(instance, self._reopen(instance), "reopen")
        else:
            self._run(instance, self._qr_cycle(instance), "qr")

    async def _reopen(self, instance: Instance) -> None:
        await asyncio.sleep(self.config.reconnect_delay)
        await self.become_open(instance)

    async def _qr_cycle(self, instance: Instance) -> None:
        await asyncio.sleep(self.config.first_qr_delay)
        while True:
            if instance.qr.count >= self.config.qr_limit:
                await self._qr_limit(instance)
                return
            qr = instance.qr
            qr.count += 1
            qr.code = qrgen.new_code()
            qr.base64 = qrgen.png_data_url(qr.code)
            qr.pairing_code = qrgen.pairing_code() if instance.pair_number else None
            instance.touch("connecting")
            qr.shown.set()
            await self.emit(instance, "qrcode.updated", ev.qrcode(instance))
            first = qr.count == 1
            await asyncio.sleep(self.config.qr_first_ttl if first else self.config.qr_interval)

    async def _qr_limit(self, instance: Instance) -> None:
        log.info("QR limit reached for instance %s", instance.name)
        await self.emit(instance, "qrcode.updated", dict(ev.QR_LIMIT_DATA))
        await self.emit(instance, "connection.update", ev.refused(instance))
        instance.runner = None
        instance.state = "close"
        instance.reset_qr()
        instance.touch("close")

    async def become_open(
        self, instance: Instance, wuid: str | None = None, profile_name: str | None = None
    ) -> None:
        """A completed login (a scan, or a reconnect with a stored session)."""
        self._cancel(instance)
        instance.wuid = wuid or instance.wuid or random_wuid()
        instance.profile_name = (
            profile_name or instance.profile_name or "Simulated " + instance.name
        )
        instance.has_session = True
        instance.state = "open"
        instance.reset_qr()
        instance.touch("open")
        await self.emit(instance, "connection.update", ev.opened(instance))

    async def final_close(self, instance: Instance, code: int) -> None:
        """``status.instance`` then ``connection.update`` close (docs/upstream.md §7.1, §7.3)."""
        self._cancel(instance)
        data = ev.status_closed(instance, code)
        instance.state = "close"
        instance.reset_qr()
        instance.has_session = False
        instance.touch("close")
        await self.emit(instance, "status.instance", data)
        await self.emit(instance, "connection.update", ev.closed(instance, code))

    async def drop(self, instance: Instance, code: int) -> None:
        """The WhatsApp connection closes with ``code``: final, or an immediate reconnect."""
        if code in FINAL_CLOSE_CODES:
            await self.final_close(instance, code)
        else:
            await self.start_connecting(instance, instance.pair_number)

    async def restart(self, instance: Instance) -> dict[str, Any]:
        """``POST /instance/restart`` once the guards passed (docs/upstream.md §3.3, §12): a
        closed (or looping) instance gets the disguised error; otherwise it reconnects and
        answers like connect, with the first QR when a pairing one shows it within the wait."""
        if instance.state == "close":
            return {"error": True, "message": "[object Object]"}
        await self.start_connecting(instance, instance.pair_number)
        if not instance.has_session:
            await self.await_qr(instance)
        return instance.qr.reply()

    async def connect(self, instance: Instance, number: str | None) -> dict[str, Any]:
        """``GET /instance/connect`` once the guards passed (docs/upstream.md §3.2, §12)."""
        if instance.state == "open":
            return {"instance": {"instanceName": instance.name, "state": "open"}}
        if instance.state == "close":
            if instance.looping:
                self.ensure_loop(instance)
            else:
                await self.start_connecting(instance, number)
            await self.await_qr(instance)
        return instance.qr.reply()

    # -- the reconnect loop (docs/upstream.md §12) ---------------------------------------------

    async def start_loop(self, instance: Instance, rate: float) -> None:
        """WhatsApp becomes unreachable: ``connecting`` at ``rate``/s, the state reads close."""
        self._cancel(instance)
        instance.looping = True
        instance.loop_rate = rate
        instance.state = "close"
        instance.reset_qr()
        instance.touch("close")
        self._spawn_loop(instance)

    def ensure_loop(self, instance: Instance) -> None:
        """(Re)start the emitter of a looping instance that has none running."""
        if instance.loop_task is None or instance.loop_task.done():
            self._spawn_loop(instance)

    def _spawn_loop(self, instance: Instance) -> None:
        if instance.loop_task is not None:
            instance.loop_task.cancel()
        rate = instance.loop_rate or self.config.loop_rate
        instance.loop_rate = rate
        instance.loop_task = self.tasks.spawn(
            self._loop(instance, 1.0 / rate), f"sim-loop-{instance.name}"
        )

    async def _loop(self, instance: Instance, spacing: float) -> None:
        log.info("instance %s is in the reconnect loop", instance.name)
        while True:
            await self.emit(instance, "connection.update", ev.connecting(instance))
            await asyncio.sleep(self._jitter.uniform(0.6 * spacing, 1.4 * spacing))

    def stop_loop(self, instance: Instance) -> None:
        """WhatsApp is reachable again: the loop stops and the instance stays ``close``,
        quietly (no event)."""
        instance.looping = False
        task, instance.loop_task = instance.loop_task, None
        if task is not None:
            task.cancel()
        self.zombies = [z for z in self.zombies if z is not instance]
        if self.store.get(instance.name) is instance:
            instance.state = "close"
            instance.reset_qr()

    def logout(self, instance: Instance) -> None:
        """Reply first; the WhatsApp logout and its events follow (docs/upstream.md §3.4)."""
        self._cancel(instance)
        self.tasks.spawn(self._logout_events(instance), f"sim-logout-{instance.name}")

    async def _logout_events(self, instance: Instance) -> None:
        await asyncio.sleep(self.config.logout_delay)
        await self.emit(instance, "logout.instance", None)
        await self.final_close(instance, 401)

    async def delete(self, instance: Instance) -> None:
        """Events first, then the reply; the row goes after ``delete_delay`` (§3.5, §12).
        A running reconnect loop is left alone: it becomes a zombie."""
        if instance.deleting:
            return
        instance.deleting = True
        was_connected = instance.state != "close"
        self._cancel(instance)
        if was_connected:
            await self.emit(instance, "logout.instance", None)
            await self.final_close(instance, 401)
        await self.emit(instance, "instance.delete", ev.lifecycle_ids(instance))
        await self.emit(instance, "remove.instance", None)
        instance.removed = True
        self.tasks.spawn(self._linger(instance), f"sim-delete-{instance.name}")
        await self.settle()

    async def _linger(self, instance: Instance) -> None:
        await asyncio.sleep(self.config.delete_delay)
        self.store.remove(instance)
        self._cancel(instance)
        log.info("instance %s removed", instance.name)
        if instance.loop_task is not None and not instance.loop_task.done():
            log.info("the reconnect loop of deleted instance %s goes on", instance.name)
            self.zombies.append(instance)
        if self.config.zombie_events and self.config.global_events:
            self.tasks.spawn(self._zombie(instance), f"sim-zombie-{instance.name}")

    def discard(self, instance: Instance) -> None:
        """A failed create: the half-built instance goes away asynchronously (§3.1)."""
        instance.deleting = True

        async def later() -> None:
            await asyncio.sleep(self.config.delete_delay)
            self.store.remove(instance)
            self._cancel(instance)

        self.tasks.spawn(later(), f"sim-discard-{instance.name}")

    async def _zombie(self, instance: Instance) -> None:
        while True:
            await asyncio.sleep(self.config.zombie_interval)
            await self.emit(instance, "connection.update", ev.connecting(instance))


def random_wuid() -> str:
    return "55119" + "".join(secrets.choice("0123456789") for _ in range(8)) + "@s.whatsapp.net"


class SimulatorError(Exception):
    """A control action that does not apply (unknown instance: 404, wrong state: 409)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status
