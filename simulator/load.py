"""Synthetic ``messages.upsert`` load for benchmarks.

``rate`` events per second in total, round-robin over the instances that are ``open``. Each
event has the real key set (docs/upstream.md §7.4, ``socketio-messages-upsert.json``); the send
time is carried inside ``data.key.id`` as ``SIM-<epoch ms with µs decimals>-<seq>``, e.g.
``SIM-1729521639123.456-42``, so the envelope shape stays the real one. Read it back with
:func:`sent_at_ms`. ``data.messageTimestamp`` is the same moment in whole seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from simulator.machine import Machine
from simulator.state import Instance

log = logging.getLogger(__name__)

ID_PREFIX = "SIM-"
MAX_BURST_SECONDS = 1.0
"""When emitting falls behind, at most this many seconds' worth of events are caught up."""


def sent_at_ms(data: dict[str, Any]) -> float | None:
    """The simulator's send time (epoch milliseconds) of a generated ``messages.upsert`` data."""
    key_id = (data.get("key") or {}).get("id")
    if not isinstance(key_id, str) or not key_id.startswith(ID_PREFIX):
        return None
    try:
        return float(key_id.split("-")[1])
    except (IndexError, ValueError):
        return None


def message_data(instance: Instance, seq: int, text: str) -> dict[str, Any]:
    now = time.time()
    return {
        "key": {
            "remoteJid": "5511888888888@s.whatsapp.net",
            "fromMe": False,
            "id": f"{ID_PREFIX}{now * 1000:.3f}-{seq}",
        },
        "pushName": "Load Sender",
        "status": "DELIVERY_ACK",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": int(now),
        "instanceId": instance.id,
        "source": "android",
    }


class MessageLoad:
    def __init__(self, machine: Machine, rate: float, payload_bytes: int) -> None:
        self._machine = machine
        self._rate = rate
        self._payload_bytes = payload_bytes
        self.sent = 0

    def _padding(self, instance: Instance) -> str:
        bare = message_data(instance, 0, "")
        overhead = len(json.dumps(bare)) + 250  # the envelope around data
        return "x" * max(0, self._payload_bytes - overhead)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(0.05, max(0.001, 1.0 / self._rate))
        started = loop.time()
        expected = 0
        turn = 0
        text: str | None = None
        log.info("message load: %s events/s", self._rate)
        while True:
            await asyncio.sleep(tick)
            now_expected = int((loop.time() - started) * self._rate)
            due = min(now_expected - expected, int(self._rate * MAX_BURST_SECONDS) + 1)
            expected = now_expected
            targets = [i for i in self._machine.store.all() if i.state == "open" and not i.deleting]
            for _ in range(due if targets else 0):
                instance = targets[turn % len(targets)]
                turn += 1
                if text is None:
                    text = self._padding(instance)
                self.sent += 1
                await self._machine.emit(
                    instance, "messages.upsert", message_data(instance, self.sent, text)
                )
