"""Versioned schema migrations.

``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``. Each step runs in one
transaction together with its version bump, under an advisory lock so that two daemons
starting at once do not race. A database whose version is newer than this code is refused.
"""

from __future__ import annotations

import logging
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from relay.errors import ConfigError, MigrationFailed

log = logging.getLogger(__name__)

# Any 64-bit constant; shared by every evo-relay process on the same database.
_LOCK_KEY: Final = 0x65766F72656C6179  # "evorelay"

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: instances, their status history, and the audit log.
    """
    CREATE TABLE instances (
        id                bigserial PRIMARY KEY,
        tenant_id         text NOT NULL,
        name              text NOT NULL UNIQUE,
        provider          text NOT NULL DEFAULT 'evolution',
        status            text NOT NULL CHECK (status IN
                              ('STARTING', 'SCAN_QR_CODE', 'WORKING', 'STOPPED', 'FAILED')),
        status_reason     text,
        status_at         timestamptz NOT NULL DEFAULT now(),
        qr_base64         text,
        qr_code           text,
        pairing_code      text,
        wuid              text,
        profile_name      text,
        websocket_enabled boolean NOT NULL DEFAULT false,
        websocket_events  text[] NOT NULL DEFAULT '{}',
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX instances_tenant ON instances (tenant_id, name);

    CREATE TABLE status_history (
        id            bigserial PRIMARY KEY,
        instance_name text NOT NULL,
        tenant_id     text NOT NULL,
        from_status   text,
        to_status     text NOT NULL,
        reason        text,
        at            timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX status_history_instance ON status_history (instance_name, id DESC);

    CREATE TABLE audit_log (
        id              bigserial PRIMARY KEY,
        at              timestamptz NOT NULL DEFAULT now(),
        actor           text NOT NULL,
        role            text NOT NULL,
        tenant_id       text,
        instance_name   text,
        action          text NOT NULL,
        outcome         text NOT NULL,
        upstream_status integer,
        duration_ms     double precision NOT NULL,
        detail          jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);
    CREATE INDEX audit_log_instance ON audit_log (instance_name, id DESC);
    """,
    # 2: a fleet of Evolution servers: each instance lives on one (existing rows: 'default').
    """
    ALTER TABLE instances ADD COLUMN server text NOT NULL DEFAULT 'default';
    CREATE INDEX instances_server ON instances (server);
    """,
    # 3: a cluster: which node follows each Evolution server, and its fencing term.
    """
    CREATE TABLE leases (
        server   text PRIMARY KEY,
        node     text NOT NULL,
        term     bigint NOT NULL,
        taken_at timestamptz NOT NULL DEFAULT now()
    );
    """,
)

LATEST: Final = len(MIGRATIONS)


class SchemaTooNew(ConfigError):
    def __init__(self, found: int) -> None:
        super().__init__(
            [
                f"database schema is at version {found}, newer than this evo-relay "
                f"(knows up to {LATEST}); upgrade evo-relay instead of downgrading the schema"
            ]
        )
        self.found = found


Conn = asyncpg.Connection | PoolConnectionProxy


async def current_version(conn: Conn) -> int:
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
    version = await conn.fetchval("SELECT max(version) FROM schema_version")
    return int(version or 0)


async def read_version(conn: Conn) -> int:
    """The schema version, without creating anything (0: never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0)


async def migrate(conn: Conn, steps: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the schema to the newest version; returns the number of steps applied.

    A step the database rejects (no privilege to create tables, an object in the way) raises
    ``MigrationFailed`` naming the step; a lost connection stays what it is.
    """
    number = 0
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            version = await current_version(conn)
            if version > len(steps):
                raise SchemaTooNew(version)
            for number, sql in enumerate(steps[version:], start=version + 1):
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
                log.info("database migrated to schema version %s", number)
            return len(steps) - version
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    except asyncpg.PostgresConnectionError:
        raise
    except asyncpg.PostgresError as exc:
        step = f"to schema version {number}" if number else "(preparing the schema table)"
        fix = (
            "grant the database user CREATE on its database and schema"
            if isinstance(exc, asyncpg.InsufficientPrivilegeError)
            else "fix the database (see the Postgres log), then start again"
        )
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MigrationFailed([f"database migration {step} failed: {first_line}; {fix}"]) from exc
