"""Postgres for the benchmarks: the run's server, scratch schemas on it, and a private server.

- :func:`database`: ``--database-url``, else the local server at :data:`DEFAULT_DSN`, else an
  embedded one (pgserver) in the run's log directory.
- :func:`create_schema` / :func:`drop_schema` / :func:`scratch_schema`: each relay start and
  each micro-benchmark works in a schema of its own, reached through ``?search_path=``.
- :class:`PrivatePostgres`: a server of the scenario's own (pgserver, in a temporary data
  directory, on a unix socket), that it may stop and start again. The machine's shared server
  is never restarted.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from relay.store.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.asynccontextmanager
async def database(url: str | None, log_dir: Path) -> AsyncIterator[str]:
    """The root DSN of the run: ``url``, else the local server, else an embedded one."""
    dsn = url or DEFAULT_DSN
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if url:
            raise
        log.info("no Postgres at %s (%s): using an embedded one", dsn, type(exc).__name__)
    else:
        await conn.close()
        yield dsn
        return
    async with PrivatePostgres(log_dir / "pg") as embedded:
        yield embedded.dsn


def with_search_path(dsn: str, schema: str) -> str:
    return dsn + ("&" if "?" in dsn else "?") + f"search_path={schema}"


def new_schema_name(prefix: str = "bench") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_schema(root_dsn: str, schema: str) -> str:
    """Create ``schema``; returns the DSN that works in it."""
    conn = await asyncpg.connect(root_dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    return with_search_path(root_dsn, schema)


async def drop_schema(root_dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(root_dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_schema(root_dsn: str, prefix: str = "bench") -> AsyncIterator[str]:
    """A fresh schema for the block (its DSN), dropped afterwards."""
    schema = new_schema_name(prefix)
    dsn = await create_schema(root_dsn, schema)
    try:
        yield dsn
    finally:
        await drop_schema(root_dsn, schema)


class PrivatePostgres:
    """A Postgres server of one's own in ``data_dir``; :meth:`stop` and :meth:`start` at will.

    The DSN (a unix socket in the data directory) stays the same across restarts, so a relay
    started on it reconnects to the same address. ``pg_ctl stop`` (fast mode) disconnects
    every client at once, as a crashed or restarted database server does.
    """

    def __init__(self, data_dir: Path) -> None:
        self._server = EmbeddedPostgres(data_dir)
        self.dsn = ""
        self.running = False

    async def start(self) -> str:
        self.dsn = await self._server.start()
        self.running = True
        return self.dsn

    async def stop(self) -> None:
        await self._server.stop()
        self.running = False

    async def __aenter__(self) -> PrivatePostgres:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.running:
            await self.stop()
