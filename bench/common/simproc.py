"""The simulator process of a run: ``python -m bench.common.simproc`` (started by the driver).

It runs :class:`simulator.app.Simulator` through its Python API on uvloop and takes
JSON-line commands on stdin, answering one JSON line each on stdout:

| command | does |
|---|---|
| ``start {instances, state?, global_events, reconnect_delay, qr_interval, config?}`` | N presets |
| ``load {rate, mix, payload_bytes, seed, names?}`` | (re)start the seeded :class:`MixLoad` |
| ``stop_load`` | stop it; answers the counts sent |
| ``sent`` | counts sent so far, by event kind |
| ``restart {lose_sessions: [names], down_seconds?, down_for?}`` | those instances lose their
  WhatsApp session; stop, stay down, start. ``down_for``: through ``Simulator.restart`` |
| ``loop {name, rate}`` / ``loop_stop {name}`` | ``Simulator.start_loop`` / ``stop_loop`` |
| ``loop_many {names, rate}`` / ``loop_stop_many {names}`` | the same for many instances |
| ``truth`` | each instance's stored status (``states``) and live ``[state, QRs shown]`` |

``config`` holds further :class:`SimConfig` fields (e.g. ``first_qr_delay``); a field or method
this simulator lacks is refused with a message that names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import sys
import time
from typing import Any

from bench.common.mix import MixLoad
from bench.common.simfeatures import CONFIG_FIELDS
from simulator.app import Simulator
from simulator.config import SimConfig, load_presets

log = logging.getLogger("bench.common.simproc")

APIKEY = "bench-global-apikey"


class SimProcess:
    def __init__(self) -> None:
        self.sim: Simulator | None = None
        self.load: MixLoad | None = None
        self.load_task: asyncio.Task[None] | None = None

    def _sim(self) -> Simulator:
        assert self.sim is not None, "start first"
        return self.sim

    async def start(self, msg: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = dict(msg.get("config") or {})
        unknown = sorted(set(extra) - CONFIG_FIELDS)
        if unknown:
            raise ValueError(f"this simulator's SimConfig has no {', '.join(unknown)}")
        options: dict[str, Any] = {
            "reconnect_delay": float(msg.get("reconnect_delay", 0.2)),
            "qr_interval": float(msg.get("qr_interval", 20.0)),
            **extra,
        }
        config = SimConfig(
            apikey=APIKEY,
            global_events=bool(msg.get("global_events", True)),
            presets=load_presets(int(msg["instances"]), msg.get("state", "open")),
            event_log_size=100,
            **options,
        )
        self.sim = Simulator(config)
        url = await self.sim.start("127.0.0.1", int(msg.get("port", 0)))
        return {"url": url, "apikey": APIKEY}

    async def start_load(self, msg: dict[str, Any]) -> dict[str, Any]:
        await self.stop_load()
        sim = self._sim()
        names = msg.get("names") or [i.name for i in sim.store.all()]
        self.load = MixLoad(
            sim.machine,
            names,
            float(msg["rate"]),
            dict(msg.get("mix") or {"messages.upsert": 1.0}),
            int(msg.get("payload_bytes", 1024)),
            int(msg.get("seed", 1)),
        )
        self.load_task = asyncio.get_running_loop().create_task(self.load.run(), name="bench-mix")
        return {"rate": msg["rate"]}

    async def stop_load(self) -> dict[str, Any]:
        task, self.load_task = self.load_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.sent()

    def sent(self) -> dict[str, Any]:
        load = self.load
        if load is None:
            return {"total": 0, "by_event": {}, "per_second": {}}
        return {
            "total": load.sent.total(),
            "by_event": dict(load.sent),
            "per_second": {str(k): v for k, v in load.per_second.items()},
        }

    async def restart(self, msg: dict[str, Any]) -> dict[str, Any]:
        sim = self._sim()
        await self.stop_load()
        for name in msg.get("lose_sessions", []):
            instance = sim.store.get(name)
            if instance is not None:
                instance.has_session = False  # the phone unlinked it: no session to resume
        if "down_for" in msg:
            await _call(sim, "restart", down_for=float(msg["down_for"]))
            return {"restarted_at": time.time()}
        await sim.stop()
        await asyncio.sleep(float(msg.get("down_seconds", 0.0)))
        started = time.time()
        await sim.start(*_host_port(sim))
        return {"restarted_at": started}

    async def loop(self, msg: dict[str, Any]) -> dict[str, Any]:
        await _call(self._sim(), "start_loop", msg["name"], float(msg["rate"]))
        return {"looping": msg["name"]}

    async def loop_stop(self, msg: dict[str, Any]) -> dict[str, Any]:
        await _call(self._sim(), "stop_loop", msg["name"])
        return {"stopped": msg["name"]}

    async def loop_many(self, msg: dict[str, Any]) -> dict[str, Any]:
        for name in msg["names"]:
            await _call(self._sim(), "start_loop", name, float(msg["rate"]))
        return {"looping": len(msg["names"])}

    async def loop_stop_many(self, msg: dict[str, Any]) -> dict[str, Any]:
        for name in msg["names"]:
            await _call(self._sim(), "stop_loop", name)
        return {"stopped": len(msg["names"])}

    def truth(self) -> dict[str, Any]:
        instances = self._sim().store.all()
        return {
            "states": {i.name: i.stored_status for i in instances},
            "live": {i.name: [i.state, i.qr.count] for i in instances},
        }

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "stop_load":
            return await self.stop_load()
        if cmd == "sent":
            return self.sent()
        if cmd == "truth":
            return self.truth()
        commands = {
            "start": self.start, "load": self.start_load, "restart": self.restart,
            "loop": self.loop, "loop_stop": self.loop_stop, "loop_many": self.loop_many,
            "loop_stop_many": self.loop_stop_many,
        }  # fmt: skip
        if cmd not in commands:
            raise ValueError(f"unknown command {cmd!r}")
        return await commands[cmd](msg)


async def _call(sim: Simulator, method: str, *args: Any, **kwargs: Any) -> Any:
    """``sim.<method>(...)``, awaited if it is a coroutine; a clear error where it is missing."""
    found = getattr(sim, method, None)
    if found is None:
        raise RuntimeError(f"this simulator has no Simulator.{method} (bench.common.simfeatures)")
    try:
        result = found(*args, **kwargs)
    except TypeError as exc:
        raise RuntimeError(f"Simulator.{method} does not take {args} {kwargs}: {exc}") from exc
    return await result if inspect.isawaitable(result) else result


def _host_port(sim: Simulator) -> tuple[str, int]:
    assert sim.base_url is not None
    host, port = sim.base_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    proc = SimProcess()
    try:
        while line := await reader.readline():
            if not line.strip():
                continue
            msg = json.loads(line)
            try:
                reply = {"cmd": msg.get("cmd"), "ok": True, **await proc.handle(msg)}
            except Exception as exc:  # answer the driver instead of dying: it reports the error
                log.exception("command %s failed", msg.get("cmd"))
                reply = {"cmd": msg.get("cmd"), "ok": False, "error": repr(exc)}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await proc.stop_load()
        if proc.sim is not None:
            await proc.sim.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import uvloop

    uvloop.run(main())
