"""A Postgres cluster of the test's own, which it may stop, start and cut connections on.

Never the machine's shared server: pgserver's binaries run a fresh cluster in the test's
temporary directory (as pgserver's own system user when the tests run as root).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest


class OwnPostgres:
    """One pgserver cluster in ``root``; ``stop()``/``start()`` are a real server restart."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
            from pgserver.postgres_server import get_server
        self.pgdata = root / "pg"
        self._server: Any = get_server(self.pgdata, cleanup_mode="stop")
        self.dsn = str(self._server.get_uri())

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self._server.system_user, timeout=30)

    async def stop(self) -> None:
        """A fast shutdown: every session is ended, new connections are refused."""
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self._server.ensure_postgres_running)

    async def terminate_others(self) -> int:
        """``pg_terminate_backend`` on every client session but this one (57P01 for them)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            return int(
                await conn.fetchval(
                    """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"""
                )
            )
        finally:
            await conn.close()

    def close(self) -> None:
        self._server.cleanup()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    cluster = OwnPostgres(tmp_path)
    yield cluster
    cluster.close()


@pytest.fixture
async def own_database(own_postgres: OwnPostgres) -> AsyncIterator[str]:
    yield own_postgres.dsn
