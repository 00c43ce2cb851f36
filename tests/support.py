"""Helpers the test packages share: polling with a deadline, waiting for a server to answer
or for a stored status, the environment of an ``evo-relay`` subprocess, a quick simulator
config, and the status the relay must store for a simulator's instance."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any, NoReturn

import aiohttp
import pytest

from relay.store import Instance, Status, Store
from simulator import SimConfig, Simulator
from simulator.state import Instance as SimInstance

# Simulator timings shrunk so that a whole pairing lifecycle takes well under a second.
# connect_wait 0: a connect on a closed instance answers {"count": 0} at once, as before.
FAST_TIMINGS: dict[str, float] = {
    "qr_interval": 0.05,
    "first_qr_delay": 0.01,
    "qr_first_ttl": 0.05,
    "connect_wait": 0.0,
    "restart_delay": 0.0,
    "reconnect_delay": 0.02,
    "logout_delay": 0.01,
    "delete_delay": 0.3,
    "zombie_interval": 0.05,
}


def fast_sim_config(apikey: str, **overrides: Any) -> SimConfig:
    return SimConfig(**{"apikey": apikey, **FAST_TIMINGS, **overrides})


def true_status(instance: SimInstance | None) -> Status:
    """What the relay must end up storing for the simulator's in-memory instance."""
    if instance is None:
        return Status.FAILED
    if instance.state == "open":
        return Status.WORKING
    if instance.state == "connecting":
        return Status.SCAN_QR_CODE if instance.qr.code else Status.STARTING
    return Status.STOPPED


async def eventually(
    check: Callable[[], Any],
    within: float = 10.0,
    *,
    until: Callable[[Any], object] = bool,
    what: str = "condition",
) -> Any:
    """Poll ``check`` (sync or async) until ``until(result)`` holds (by default: the result is
    truthy) and return that result; past the deadline, fail naming ``what`` and the last result.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s; last: {result!r:.500}")
        await asyncio.sleep(0.02)


async def wait_stored(
    store: Store, name: str, status: Status, *, reason_prefix: str = "", within: float = 10.0
) -> Instance:
    """Poll until ``name``'s row has ``status`` (and a reason starting with ``reason_prefix``);
    return that row."""

    def holds(row: Instance | None) -> bool:
        return (
            row is not None
            and row.status is status
            and (row.status_reason or "").startswith(reason_prefix)
        )

    row: Instance | None = await eventually(
        lambda: store.get_instance(name), within, until=holds, what=f"{name} stored {status}"
    )
    assert row is not None
    return row


Process = subprocess.Popen[str] | asyncio.subprocess.Process


async def wait_healthy(url: str, within: float = 30.0, proc: Process | None = None) -> None:
    """Poll ``url`` (a server's ``/healthz`` or ``/readyz``) until it answers 200.

    With ``proc``, the process that serves it: fail at once, with what it printed on its one
    pipe (stdout, or stderr when stdout is not piped), if it exits before answering.
    """
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:

        async def answers() -> bool:
            if proc is not None:
                await _fail_if_exited(proc)
            try:
                async with session.get(url) as response:
                    return response.status == 200
            except (aiohttp.ClientConnectionError, TimeoutError):
                return False  # not listening yet, or not answering yet

        await eventually(answers, within, what=f"{url} answering 200")


async def _fail_if_exited(proc: Process) -> None:
    if isinstance(proc, subprocess.Popen):
        if proc.poll() is None:
            return
        pipe = proc.stdout or proc.stderr
        output = pipe.read() if pipe else ""
    else:
        if proc.returncode is None:
            return
        stream = proc.stdout or proc.stderr
        output = (await stream.read()).decode() if stream else ""
    raise AssertionError(f"the process exited ({proc.returncode}) before answering: {output}")


def clean_env(**variables: str) -> dict[str, str]:
    """The environment for an ``evo-relay`` subprocess: this one's without any ``RELAY_*``
    variable (whatever the developer's shell exports), plus ``variables``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    return {**clean, **variables}


def missing_tool(reason: str) -> NoReturn:
    """A tool the suite needs is absent: fail under CI (``CI=true``), skip in a local run.

    ``make test`` installs every such tool, so CI can never pass by skipping these tests.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


async def advance(sim: Simulator, http: aiohttp.ClientSession, name: str, apikey: str) -> bool:
    """One real status transition of ``name``, as a phone and a panel make them: open -> logged
    out on the phone -> connect -> QR -> scanned -> open. False while it waits for its QR."""
    instance = sim.instance(name)
    if instance.state == "open":
        await sim.drop(name, 401)
    elif instance.state == "close":
        url = f"{sim.base_url}/instance/connect/{name}"
        async with asyncio.timeout(10), http.get(url, headers={"apikey": apikey}) as reply:
            assert reply.status == 200
    elif instance.qr.code:
        await sim.scan(name)
    else:
        return False  # still waiting for its first QR
    return True
