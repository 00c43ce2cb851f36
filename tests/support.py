"""Helpers the test packages share: polling with a deadline, and a quick simulator config."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

from simulator import SimConfig

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


async def eventually(check: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


def missing_tool(reason: str) -> NoReturn:
    """A tool the suite needs is absent: fail under CI (``CI=true``), skip in a local run.

    ``make test`` installs every such tool, so CI can never pass by skipping these tests.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
