"""Leases: which node of a cluster follows each Evolution server, held in Postgres.

A lease is a session-level advisory lock, keyed by the server's name and the schema the
relay's tables are in (advisory locks are database-wide: two deployments in two schemas of one
database must not share their leases), held on one dedicated
connection (not the pool's: a pooled connection is shared and reset). A node that dies loses
its session, and Postgres releases its locks with it. Taking a lock also bumps the server's
``term`` in the ``leases`` table; status writes carry the term they were made under and happen
only while it is still the current one (``Store.update_status(term=...)``), so a node that lost
its lock without knowing yet writes nothing.
"""

from __future__ import annotations

import logging
from typing import Final

import asyncpg

from relay.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CHECK_TIMEOUT: Final = 2.0

# The key: the server's name within this deployment (its database and schema), hashed in SQL.
_KEY: Final = """hashtextextended(
    'evo-relay:lead:' || current_database() || ':' || current_schema() || ':' || $1, 0)"""
_TRY_LOCK: Final = f"SELECT pg_try_advisory_lock({_KEY})"
_UNLOCK: Final = f"SELECT pg_advisory_unlock({_KEY})"


async def lock_key(conn: asyncpg.Connection, server: str) -> int:
    """``server``'s lock key, as a connection to the deployment's schema computes it."""
    return int(await conn.fetchval(f"SELECT {_KEY}", server))


_TAKE_TERM: Final = """
    INSERT INTO leases (server, node, term) VALUES ($1, $2, 1)
    ON CONFLICT (server) DO UPDATE SET node = $2, term = leases.term + 1, taken_at = now()
    RETURNING term"""


class LeaseKeeper:
    """The dedicated connection, and the leases taken on it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, dsn: str) -> LeaseKeeper:
        try:
            conn = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable() from exc
        return cls(conn)

    async def take(self, server: str, node: str) -> int | None:
        """The server's new term if this node took its lease now; None if another node has it."""
        try:
            async with self._conn.transaction():
                got = await self._conn.fetchval(_TRY_LOCK, server, timeout=CHECK_TIMEOUT)
                if not got:
                    return None
                term = await self._conn.fetchval(_TAKE_TERM, server, node, timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable() from exc
        return int(term)

    async def release(self, server: str) -> None:
        try:
            await self._conn.execute(_UNLOCK, server, timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable() from exc

    async def check(self) -> None:
        """Raise ``DatabaseUnavailable`` unless the session (and so every lock) is alive."""
        try:
            await self._conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable() from exc

    async def close(self) -> None:
        """Close the session: Postgres releases its locks."""
        try:
            await self._conn.close(timeout=CHECK_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._conn.terminate()  # the session is gone either way
