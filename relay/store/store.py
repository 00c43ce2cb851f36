"""All SQL of evo-relay: one function per query, rows turned into typed models here.

The store knows nothing of tenants' rights or of Evolution; it records what handlers decide.
Connection failures are translated into :class:`relay.errors.DatabaseUnavailable`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from relay.errors import Conflict, DatabaseRefused, DatabaseUnavailable
from relay.store.leases import LeaseKeeper
from relay.store.migrations import migrate, read_version
from relay.store.models import AuditEntry, Instance, QrCode, Status, StatusChange

log = logging.getLogger(__name__)

_INSTANCE_COLUMNS: Final = (
    "id, tenant_id, name, provider, status, status_reason, status_at, qr_base64, qr_code, "
    "pairing_code, wuid, profile_name, websocket_enabled, websocket_events, server, created_at, "
    "updated_at"
)
_AUDIT_COLUMNS: Final = (
    "id, at, actor, role, tenant_id, instance_name, action, outcome, upstream_status, "
    "duration_ms, detail"
)
_UPDATE_STATUS: Final = f"""
    WITH before AS (
        SELECT name AS locked_name, status AS old_status FROM instances WHERE name = $1
            AND ($11::bigint IS NULL OR EXISTS (
                SELECT 1 FROM leases WHERE leases.server = instances.server AND term = $11))
        FOR UPDATE
    ), upd AS (
        UPDATE instances SET
            status = $2::text,
            status_reason = CASE WHEN old_status <> $2::text THEN $3::text
                            ELSE status_reason END,
            status_at = CASE WHEN old_status <> $2::text THEN now() ELSE status_at END,
            qr_base64 = CASE WHEN $4 THEN $5 WHEN $6 THEN NULL ELSE qr_base64 END,
            qr_code = CASE WHEN $4 THEN $7 WHEN $6 THEN NULL ELSE qr_code END,
            pairing_code = CASE WHEN $4 THEN $8 WHEN $6 THEN NULL ELSE pairing_code END,
            wuid = coalesce($9, wuid),
            profile_name = coalesce($10, profile_name),
            updated_at = now()
        FROM before WHERE name = locked_name
        RETURNING {_INSTANCE_COLUMNS}, old_status
    ), hist AS (
        INSERT INTO status_history (instance_name, tenant_id, from_status, to_status, reason)
        SELECT name, tenant_id, old_status, status, $3::text FROM upd WHERE old_status <> status
        RETURNING at
    )
    SELECT upd.*, hist.at AS h_at FROM upd LEFT JOIN hist ON true"""
# Everything that means "the database cannot serve us right now", as opposed to a bug in a
# query: refused or broken connections, a server shutting down or starting up (57P03), a backend
# terminated by an administrator (57P01), a crash-restart (57P02), or no free connection slot.
_UNAVAILABLE: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
# At connect: the server is there but cannot take us yet; worth waiting for.
_NOT_YET: Final = (TimeoutError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
# At connect: the server (or the DSN) says no; waiting will not change it.
_REFUSED: Final = (
    asyncpg.ClientConfigurationError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    ValueError,  # an unparsable DSN
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (one round trip on every query).

    asyncpg still rolls back an open transaction first. The relay leaves no other session state
    behind: no SET, LISTEN or cursors, and migrations release their advisory lock themselves.
    """


def _instance(row: asyncpg.Record) -> Instance:
    return Instance.model_validate(dict(row))


def _change(row: asyncpg.Record) -> StatusChange:
    return StatusChange(
        instance_name=row["instance_name"],
        tenant_id=row["tenant_id"],
        status=Status(row["to_status"]),
        previous_status=Status(row["from_status"]) if row["from_status"] else None,
        reason=row["reason"],
        at=row["at"],
    )


class LeaseLost(Exception):
    """A fenced write found another term on the lease: this node no longer leads the server."""


async def _exists(conn: asyncpg.pool.PoolConnectionProxy, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM instances WHERE name = $1", name))


class StatusUpdate:
    """What :meth:`Store.update_status` did: the row after it, and the change if any."""

    __slots__ = ("change", "instance")

    def __init__(self, instance: Instance, change: StatusChange | None) -> None:
        self.instance = instance
        self.change = change


async def _first_connection(pool: asyncpg.Pool) -> asyncpg.pool.PoolConnectionProxy:
    """The pool's first connection: it tells whether the database takes us at all."""
    try:
        return await pool.acquire()
    except _REFUSED as exc:
        raise DatabaseRefused([str(exc) or type(exc).__name__]) from exc
    except (*_UNAVAILABLE, *_NOT_YET) as exc:
        raise DatabaseUnavailable(f"Banco de dados indisponível: {type(exc).__name__}") from exc
    except asyncpg.PostgresError as exc:
        raise DatabaseRefused([str(exc) or type(exc).__name__]) from exc


@dataclass(slots=True)
class _Written:
    tenant_id: str | None


class Store:
    def __init__(self, pool: asyncpg.Pool, dsn: str = "") -> None:
        self._pool = pool
        self._dsn = dsn
        # Counts of this process's writes to ``instances``, bumped once each write has ended
        # (landed or not): per tenant where the write tells which, else for all tenants.
        self._written: dict[str, int] = {}
        self._written_all = 0

    def written(self, tenant_id: str) -> int:
        """A number that changes whenever this process has written one of the tenant's rows
        since it was last read (``relay.hub.snapshots`` keeps a snapshot while it holds)."""
        return self._written_all + self._written.get(tenant_id, 0)

    @contextmanager
    def _writing(self, tenant_id: str | None) -> Iterator[_Written]:
        """Around a write: bump the count once it has ended, however it ended (a write that
        failed after its COMMIT may have landed), for the tenant the write names by then."""
        written = _Written(tenant_id)
        try:
            yield written
        finally:
            if written.tenant_id is None:
                self._written_all += 1
            else:
                self._written[written.tenant_id] = self._written.get(written.tenant_id, 0) + 1

    async def lease_keeper(self) -> LeaseKeeper:
        """A dedicated connection for a cluster's leases (``relay.store.leases``)."""
        return await LeaseKeeper.connect(self._dsn)

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 0, max_size: int = 10, migrate_schema: bool = True
    ) -> Store:
        """Open the pool and (unless told not to) bring the schema up to date.

        Raises ``DatabaseRefused`` when the server or the DSN says no (wrong password, unknown
        role or database, bad DSN), ``DatabaseUnavailable`` when the server cannot be reached or
        cannot take connections yet, ``MigrationFailed`` when a migration step fails.

        ``min_size`` 0: connections are made on demand (and kept while in use), so that during
        an outage asyncpg does not retry a connection floor in the background and log a
        traceback each time; the relay's own writers retry and say so once.
        """
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_release,
        )  # fmt: skip
        try:
            conn = await _first_connection(pool)
            try:
                if migrate_schema:
                    await migrate(conn)
            finally:
                await pool.release(conn)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn)

    async def schema_version(self) -> int:
        """The schema version the database is at, read without changing anything."""
        async with self._conn() as conn:
            return await read_version(conn)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        try:
            async with self._pool.acquire(timeout=10) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable() from exc
        except TimeoutError as exc:
            raise DatabaseUnavailable() from exc

    async def ping(self) -> bool:
        try:
            async with self._conn() as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=2))
        except (DatabaseUnavailable, TimeoutError, asyncpg.PostgresError):
            return False  # /readyz: any failure to answer means "not ready"

    # -- instances -------------------------------------------------------------------------

    async def create_instance(
        self,
        tenant_id: str,
        name: str,
        *,
        status: Status,
        reason: str,
        provider: str = "evolution",
        websocket_enabled: bool = False,
        websocket_events: Sequence[str] = (),
        server: str = "default",
    ) -> Instance:
        with self._writing(tenant_id):
            row = await self._insert(tenant_id, name, status, reason, provider,
                                     websocket_enabled, websocket_events, server)  # fmt: skip
        return _instance(row)

    async def _insert(self, tenant_id: str, name: str, status: Status, reason: str,
                      provider: str, websocket_enabled: bool, websocket_events: Sequence[str],
                      server: str) -> asyncpg.Record:  # fmt: skip
        async with self._conn() as conn, conn.transaction():
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO instances (tenant_id, name, provider, status, status_reason,
                            websocket_enabled, websocket_events, server)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_INSTANCE_COLUMNS}""",
                    tenant_id, name, provider, status.value, reason,
                    websocket_enabled, list(websocket_events), server,
                )  # fmt: skip
            except asyncpg.UniqueViolationError as exc:
                raise Conflict() from exc
            await conn.execute(
                """INSERT INTO status_history (instance_name, tenant_id, from_status, to_status,
                       reason) VALUES ($1, $2, NULL, $3, $4)""",
                name, tenant_id, status.value, reason,
            )  # fmt: skip
        assert row is not None
        return row

    async def get_instance(self, name: str) -> Instance | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE name = $1", name
            )
        return _instance(row) if row else None

    async def list_instances(
        self, tenant_id: str | None = None, *, server: str | None = None
    ) -> list[Instance]:
        """One tenant's instances, or every instance when ``tenant_id`` is None; with
        ``server``, only those recorded on that Evolution server."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"""SELECT {_INSTANCE_COLUMNS} FROM instances
                    WHERE ($1::text IS NULL OR tenant_id = $1)
                      AND ($2::text IS NULL OR server = $2)
                    ORDER BY tenant_id, name""",
                tenant_id, server,
            )  # fmt: skip
        return [_instance(row) for row in rows]

    async def count_by_server(self) -> dict[str, int]:
        """How many instances are recorded on each Evolution server (placement, GET /servers)."""
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT server, count(*) AS n FROM instances GROUP BY server")
        return {row["server"]: int(row["n"]) for row in rows}

    async def update_status(
        self,
        name: str,
        status: Status,
        reason: str | None,
        *,
        qrcode: QrCode | None = None,
        clear_qrcode: bool = False,
        wuid: str | None = None,
        profile_name: str | None = None,
        term: int | None = None,
    ) -> StatusUpdate | None:
        """Set the status (recording a history row when it changes) and the QR or profile.

        ``qrcode`` replaces the stored QR; ``clear_qrcode`` removes it; ``wuid`` and
        ``profile_name`` are kept when None. Returns None when the instance does not exist.
        ``term``: a cluster's fence; the write happens only while the instance's server's lease
        has that term (else :class:`LeaseLost`).
        """
        qr = qrcode or QrCode()
        # One statement, so one round trip and atomic without BEGIN/COMMIT: lock the row, update
        # it (status_reason/status_at only when the status changes), and record history then.
        with self._writing(None) as written:
            async with self._conn() as conn:
                row = await conn.fetchrow(_UPDATE_STATUS, name, status.value, reason,
                    qrcode is not None, qr.base64, clear_qrcode, qr.code, qr.pairingCode, wuid,
                    profile_name, term,
                )  # fmt: skip
                if row is None and term is not None and await _exists(conn, name):
                    raise LeaseLost(name)
            if row is not None:
                written.tenant_id = row["tenant_id"]
        if row is None:
            return None
        fields = dict(row)
        changed_at, previous = fields.pop("h_at"), fields.pop("old_status")
        instance = Instance.model_validate(fields)
        change = None
        if changed_at is not None:
            change = StatusChange(
                instance_name=name,
                tenant_id=instance.tenant_id,
                status=status,
                previous_status=Status(previous),
                reason=reason,
                at=changed_at,
                qrcode=instance.qrcode,
                server=instance.server,
            )
        return StatusUpdate(instance, change)

    async def set_websocket(
        self, name: str, enabled: bool, events: Sequence[str]
    ) -> Instance | None:
        with self._writing(None) as written:
            async with self._conn() as conn:
                row = await conn.fetchrow(
                    f"""UPDATE instances SET websocket_enabled = $2, websocket_events = $3,
                            updated_at = now() WHERE name = $1 RETURNING {_INSTANCE_COLUMNS}""",
                    name, enabled, list(events),
                )  # fmt: skip
            if row is not None:
                written.tenant_id = row["tenant_id"]
        return _instance(row) if row else None

    async def delete_instance(self, name: str, *, term: int | None = None) -> bool:
        """Remove the row and its status history (a later instance may reuse the name).
        ``term``: only while the instance's server's lease has it (see ``update_status``)."""
        with self._writing(None):
            return await self._delete(name, term)

    async def _delete(self, name: str, term: int | None) -> bool:
        async with self._conn() as conn, conn.transaction():
            result = await conn.execute(
                """DELETE FROM instances WHERE name = $1 AND ($2::bigint IS NULL OR EXISTS (
                       SELECT 1 FROM leases WHERE leases.server = instances.server
                       AND term = $2))""",
                name, term,
            )  # fmt: skip
            if result != "DELETE 1" and term is not None and await _exists(conn, name):
                raise LeaseLost(name)
            await conn.execute("DELETE FROM status_history WHERE instance_name = $1", name)
        return bool(result == "DELETE 1")

    async def leaders(self) -> dict[str, str]:
        """Which node last took each Evolution server's lease (cluster; GET /servers)."""
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT server, node FROM leases")
        return {row["server"]: row["node"] for row in rows}

    async def status_history(self, name: str, limit: int = 20) -> list[StatusChange]:
        """The newest ``limit`` status changes of an instance, newest first."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                """SELECT instance_name, tenant_id, from_status, to_status, reason, at
                   FROM status_history WHERE instance_name = $1 ORDER BY id DESC LIMIT $2""",
                name, limit,
            )  # fmt: skip
        return [_change(row) for row in rows]

    # -- audit -----------------------------------------------------------------------------

    async def record_audit(self, entry: AuditEntry) -> AuditEntry:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"""INSERT INTO audit_log (actor, role, tenant_id, instance_name, action,
                        outcome, upstream_status, duration_ms, detail)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_AUDIT_COLUMNS}""",
                entry.actor, entry.role, entry.tenant_id, entry.instance_name, entry.action,
                entry.outcome, entry.upstream_status, entry.duration_ms, entry.detail,
            )  # fmt: skip
        assert row is not None
        return AuditEntry.model_validate(dict(row))

    async def list_audit(
        self, tenant_id: str | None, instance_name: str | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        """Newest first; ``tenant_id`` None means every tenant (SUPERADMIN)."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"""SELECT {_AUDIT_COLUMNS} FROM audit_log
                    WHERE ($1::text IS NULL OR tenant_id = $1)
                      AND ($2::text IS NULL OR instance_name = $2)
                    ORDER BY id DESC LIMIT $3""",
                tenant_id, instance_name, limit,
            )  # fmt: skip
        return [AuditEntry.model_validate(dict(row)) for row in rows]

    async def execute(self, sql: str, *args: Any) -> str:
        """Run one statement (used by ``evo-relay check`` and tests' setup)."""
        async with self._conn() as conn:
            return str(await conn.execute(sql, *args))
