"""The simulator process of a run: ``python -m bench.common.simproc`` (started by the driver).

It runs :class:`relay.simulator.app.Simulator` through its Python API on uvloop and takes
JSON-line commands on stdin, answering one JSON line each on stdout:

| command | does |
|---|---|
| ``start {instances, global_events, reconnect_delay, qr_interval}`` | N open presets |
| ``load {rate, mix, payload_bytes, seed, names?}`` | (re)start the seeded :class:`MixLoad` |
| ``stop_load`` | stop it; answers the counts sent |
| ``sent`` | counts sent so far, by event kind |
| ``restart {lose_sessions: [names]}`` | stop, those instances lose their WhatsApp session, start |
| ``truth`` | each instance's stored Evolution status (``open``/``connecting``/``close``) |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any

from bench.common.mix import MixLoad
from relay.simulator.app import Simulator
from relay.simulator.config import SimConfig, load_presets

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
        config = SimConfig(
            apikey=APIKEY,
            global_events=bool(msg.get("global_events", True)),
            presets=load_presets(int(msg["instances"])),
            reconnect_delay=float(msg.get("reconnect_delay", 0.2)),
            qr_interval=float(msg.get("qr_interval", 20.0)),
            event_log_size=100,
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
        await sim.stop()
        for name in msg.get("lose_sessions", []):
            instance = sim.store.get(name)
            if instance is not None:
                instance.has_session = False
        await asyncio.sleep(float(msg.get("down_seconds", 0.0)))
        started = time.time()
        await sim.start(*_host_port(sim))
        return {"restarted_at": started}

    def truth(self) -> dict[str, Any]:
        return {"states": {i.name: i.stored_status for i in self._sim().store.all()}}

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "start":
            return await self.start(msg)
        if cmd == "load":
            return await self.start_load(msg)
        if cmd == "stop_load":
            return await self.stop_load()
        if cmd == "sent":
            return self.sent()
        if cmd == "restart":
            return await self.restart(msg)
        if cmd == "truth":
            return self.truth()
        raise ValueError(f"unknown command {cmd!r}")


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
