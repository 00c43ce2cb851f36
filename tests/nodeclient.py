"""Node's official socket.io-client as a test peer (tests/node/client.mjs).

Installed by ``npm ci --prefix tests`` (``make test`` does it). Without it the tests that use
it skip locally and fail under CI (``CI=true``), so the interop check cannot silently vanish.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from tests.conftest import REPO
from tests.support import missing_tool

CLIENT = REPO / "tests" / "node" / "client.mjs"
MODULES = REPO / "tests" / "node_modules" / "socket.io-client"
LINE_LIMIT = 4 * 1024 * 1024  # the client prints each event as one JSON line
DEADLINE = 10.0


def require_node() -> str:
    node = shutil.which("node")
    missing = None if node else "node is not installed"
    if missing is None and not MODULES.is_dir():
        missing = "tests/node_modules is missing: run `npm ci --prefix tests`"
    if missing is not None:
        missing_tool(missing)
    assert node is not None
    return node


class NodeClient:
    """One Node client process; ``lines`` is what it printed, one JSON object per happening."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for line in self.lines:
            if predicate(line):
                return line
        assert self.process.stdout is not None
        async with asyncio.timeout(DEADLINE):  # for the whole wait, however chatty the client
            while raw := await self.process.stdout.readline():
                line = json.loads(raw)
                self.lines.append(line)
                if predicate(line):
                    return line
        raise AssertionError(f"node client exited; saw {self.lines!r}")

    def events(self, name: str) -> list[Any]:
        return [ln["data"] for ln in self.lines if ln["type"] == "event" and ln["name"] == name]


NodeFactory = Callable[..., Awaitable[NodeClient]]


@asynccontextmanager
async def node_clients(url: str) -> AsyncIterator[NodeFactory]:
    """A factory of Node clients connected to ``url``; all are closed on exit."""
    node = require_node()
    made: list[NodeClient] = []

    async def make(
        auth: dict[str, Any],
        subscribe: dict[str, Any] | None = None,
        transports: list[str] | None = None,
    ) -> NodeClient:
        config = json.dumps(
            {"url": url, "auth": auth, "subscribe": subscribe, "transports": transports}
        )
        process = await asyncio.create_subprocess_exec(
            node, str(CLIENT), config, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=str(CLIENT.parent), limit=LINE_LIMIT,
        )  # fmt: skip
        client = NodeClient(process)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            assert client.process.stdin is not None
            client.process.stdin.close()
            try:
                await asyncio.wait_for(client.process.wait(), DEADLINE)
            except TimeoutError:
                client.process.kill()
                await client.process.wait()
