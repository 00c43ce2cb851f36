"""A seeded event mix emitted through the simulator's machine (runs in the simulator process).

The simulator's own load (``simulator.load.MessageLoad``) emits only ``messages.upsert``
at a rate fixed at start. The benchmarks also need a mix (90% messages.upsert of ~1 KB, 8%
qrcode.updated of ~6 KB, 2% connection.update) and rates changed while running, so this module
drives :meth:`Machine.emit` itself, through the simulator's Python API. ``messages.upsert``
data comes from the simulator's own ``message_data`` (its send timestamp in ``data.key.id``).
QR images are a small pool of real PNGs made once (uncompressed, ~5.3 KB of base64, the size
of Evolution's), so emitting one costs no image encoding.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import time
from collections import Counter
from typing import Any

import segno

from simulator import envelope as ev
from simulator import qr as qrgen
from simulator.load import message_data
from simulator.machine import Machine
from simulator.state import Instance

ENVELOPE_OVERHEAD = 250
"""Bytes of the envelope around ``data`` (event, instance, server_url, date_time, ...)."""
QR_POOL = 8
TICK = 0.005
MAX_CATCH_UP = 1.0


def _qr_pool() -> list[tuple[str, str]]:
    pool = []
    for _ in range(QR_POOL):
        code = qrgen.new_code()
        buffer = io.BytesIO()
        segno.make(code, error="l", micro=False).save(
            buffer, kind="png", scale=3, border=2, compresslevel=0
        )
        pool.append((code, "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()))
    return pool


class MixLoad:
    """``rate`` events/s in total, round-robin over ``names``, event kinds drawn with ``seed``."""

    def __init__(
        self,
        machine: Machine,
        names: list[str],
        rate: float,
        mix: dict[str, float],
        payload_bytes: int,
        seed: int,
    ) -> None:
        self._machine = machine
        self._names = names
        self._rate = rate
        self._kinds = list(mix)
        self._cumulative = [sum(list(mix.values())[: i + 1]) for i in range(len(mix))]
        self._rng = random.Random(seed)
        self._payload_bytes = payload_bytes
        self._text: str | None = None
        self._qr = _qr_pool() if "qrcode.updated" in mix else []
        self._opened: dict[str, bool] = {}
        self.sent: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()

    def _pick(self) -> str:
        x = self._rng.random() * self._cumulative[-1]
        for kind, bound in zip(self._kinds, self._cumulative, strict=True):
            if x < bound:
                return kind
        return self._kinds[-1]

    def _message(self, instance: Instance) -> dict[str, Any]:
        if self._text is None:
            bare = len(json.dumps(message_data(instance, 0, ""))) + ENVELOPE_OVERHEAD
            self._text = "x" * max(0, self._payload_bytes - bare)
        return message_data(instance, self.sent.total(), self._text)

    def _data(self, kind: str, instance: Instance) -> dict[str, Any]:
        if kind == "messages.upsert":
            return self._message(instance)
        if kind == "qrcode.updated":
            code, image = self._qr[self._rng.randrange(len(self._qr))]
            return {
                "qrcode": {"instance": instance.name, "pairingCode": None, "code": code,
                           "base64": image}
            }  # fmt: skip
        # connection.update: alternate connecting / open, so every one is a status change.
        opened = not self._opened.get(instance.name, True)
        self._opened[instance.name] = opened
        return ev.opened(instance) if opened else ev.connecting(instance)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        done = 0
        turn = 0
        while True:
            await asyncio.sleep(TICK)
            expected = int((loop.time() - started) * self._rate)
            due = min(expected - done, int(self._rate * MAX_CATCH_UP) + 1)
            done = expected
            for _ in range(due):
                instance = self._machine.store.get(self._names[turn % len(self._names)])
                turn += 1
                if instance is None:
                    continue
                kind = self._pick()
                self.sent[kind] += 1
                self.per_second[int(time.time())] += 1
                await self._machine.emit(instance, kind, self._data(kind, instance))
