"""Child processes of the driver: JSON-line command processes, servers, and their readiness.

Every child's stderr goes to a log file under the run's log directory, so a failing run can be
read afterwards; the driver's own output stays a short progress log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import time
from pathlib import Path
from typing import Any, Self

import aiohttp

log = logging.getLogger(__name__)

LINE_LIMIT = 64 * 1024 * 1024
"""Load reports carry whole histograms on one line."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> int:
    """Raise the soft fd limit to the hard one (children inherit it); return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _open_log(log_dir: Path, name: str) -> Any:
    log_dir.mkdir(parents=True, exist_ok=True)
    return (log_dir / f"{name}.log").open("ab")


class Child:
    """A child process; ``stop`` terminates it, then kills it after a grace period.

    With ``stdin`` its stdin and stdout are pipes (a :class:`LineProcess`); without, its
    stdout and stderr both go to its log file.
    """

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log_file: Any) -> None:
        self.name = name
        self.proc = proc
        self._log_file = log_file

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def spawn(
        cls,
        name: str,
        argv: list[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> Self:
        log_file = _open_log(log_dir, name)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdin else log_file,
            stderr=log_file,
            env=env,
            limit=LINE_LIMIT,
        )
        return cls(name, proc, log_file)

    async def stop(self, grace: float = 5.0) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                log.warning("%s did not stop in %.0fs: killing it", self.name, grace)
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        self._log_file.close()


class LineProcess(Child):
    """A child that answers each JSON command line on stdin with one JSON line on stdout."""

    async def request(self, command: dict[str, Any], wait: float = 120.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.read_reply(wait)

    async def read_reply(self, wait: float = 120.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no reply within {wait:.0f}s")
            line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not line:
                raise RuntimeError(f"{self.name} exited (code {self.proc.returncode})")
            try:
                reply: dict[str, Any] = json.loads(line)
            except ValueError:
                continue  # a stray print; replies are whole JSON lines
            if not reply.get("ok", True):
                raise RuntimeError(f"{self.name}: {reply.get('error')}")
            return reply

    async def stop(self, grace: float = 5.0) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), grace)
        await super().stop(grace)


async def wait_healthy(
    url: str,
    child: Child | None = None,
    within: float = 60.0,
    healthy: bool = True,
    every: float = 0.1,
) -> float:
    """Poll ``url`` until it answers 200 (or, with ``healthy=False``, until it no longer does).

    The one wait-for-``/healthz`` loop of the benchmarks: servers' ``/readyz``, the
    simulator's ``/``, an upstream going down and coming back. Fails early when ``child``
    exits; returns the wall-clock time (``time.time()``) of the answer that settled it.
    """
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if child is not None and child.proc.returncode is not None:
                raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False  # not listening (yet, or any more)
            if ok == healthy:
                return time.time()
            await asyncio.sleep(every)
    state = "healthy" if healthy else "down"
    raise TimeoutError(f"{url} not {state} within {within:.0f}s")
