"""systemd's notify protocol against a fake ``NOTIFY_SOCKET``: what ``Type=notify`` and
``WatchdogSec=`` see from ``evo-relay serve``.

``READY=1`` comes once the database is migrated and the Evolution subscription has had its
first try, ``WATCHDOG=1`` keeps coming from the event loop, ``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from relay.store.migrations import LATEST
from relay.systemd import Notifier
from simulator import SimConfig, Simulator
from tests.conftest import JWT_SECRET, free_port
from tests.logscan import assert_clean

DEADLINE = 45.0
KEY = "notify-test-key-0123"


class FakeSystemd:
    """The receiving end of ``NOTIFY_SOCKET``: every datagram, in order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    async def next(self) -> dict[str, str]:
        raw = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 4096),
                                     DEADLINE)  # fmt: skip
        fields = dict(line.split("=", 1) for line in raw.decode().splitlines() if "=" in line)
        self.messages.append(fields)
        return fields

    async def until(self, key: str) -> dict[str, str]:
        while True:
            message = await self.next()
            if key in message:
                return message


@pytest.fixture
def fake_systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake
    fake.sock.close()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimConfig(apikey=KEY))
    await sim.start("127.0.0.1", 0)
    yield sim
    await sim.stop()


async def schema_version(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
        return int(await conn.fetchval("SELECT max(version) FROM schema_version")) if exists else 0
    finally:
        await conn.close()


async def test_ready_watchdog_and_stopping(
    tmp_path: Path, database_url: str, simulator: Simulator, fake_systemd: FakeSystemd
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "NOTIFY_"))}
    env.update(
        NOTIFY_SOCKET=fake_systemd.path, WATCHDOG_USEC="200000",  # a ping every 0.1 s
        RELAY_DATABASE_URL=database_url, RELAY_JWT_SECRET=JWT_SECRET,
        RELAY_EVOLUTION_URL=simulator.base_url or "", RELAY_EVOLUTION_APIKEY=KEY,
        RELAY_PORT=str(free_port()),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = await fake_systemd.next()
        assert "READY" not in first  # a status or a ping, never ready before the work
        ready = await fake_systemd.until("READY")
        assert ready["READY"] == "1"
        assert await schema_version(database_url) == LATEST  # migrated before READY
        assert ready["STATUS"] == "serving: 0 instances, evolution 1/1 up, 0 clients"
        pings = 0
        while pings < 3:
            pings += "WATCHDOG" in await fake_systemd.next()
        proc.send_signal(signal.SIGTERM)
        stopping = await fake_systemd.until("STOPPING")
        assert stopping["STOPPING"] == "1"
        output, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, output
    statuses = [m["STATUS"] for m in fake_systemd.messages if "STATUS" in m]
    assert statuses[0].startswith("starting")
    assert_clean(output.decode())


async def test_ready_waits_for_an_unreachable_evolution_only_for_its_first_try(
    tmp_path: Path, database_url: str, fake_systemd: FakeSystemd
) -> None:
    """Evolution down does not hold READY back: the daemon serves, and says so in STATUS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "NOTIFY_"))}
    env.update(
        NOTIFY_SOCKET=fake_systemd.path, RELAY_DATABASE_URL=database_url,
        RELAY_JWT_SECRET=JWT_SECRET, RELAY_EVOLUTION_URL=f"http://127.0.0.1:{free_port()}",
        RELAY_EVOLUTION_APIKEY=KEY, RELAY_PORT=str(free_port()),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "serve", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        ready = await fake_systemd.until("READY")
        assert ready["STATUS"] == "serving: 0 instances, evolution 0/1 up, 0 clients"
        assert not any("WATCHDOG" in m for m in fake_systemd.messages)  # none asked for
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), DEADLINE)


async def test_notifier_speaks_to_an_abstract_socket_and_is_silent_without_one() -> None:
    name = f"@evo-relay-test-{os.getpid()}"
    fake = FakeSystemd(name)
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "1000000"})
        assert notifier.watchdog_interval == 0.5
        notifier.ready("up")
        assert await fake.next() == {"READY": "1", "STATUS": "up"}
        notifier.status("up")  # unchanged: not sent again
        notifier.status("busy")
        assert await fake.next() == {"STATUS": "busy"}
        notifier.close()
    finally:
        fake.sock.close()
    other_pid = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier.from_environ(other_pid).watchdog_interval is None  # meant for another
    silent = Notifier.from_environ({})
    assert not silent.enabled and silent.send("READY=1") is False
