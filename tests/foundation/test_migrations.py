"""Migrations: empty to latest, idempotent, atomic per step, and a refusal on a newer schema."""

from __future__ import annotations

import asyncpg
import pytest

from relay.errors import MigrationFailed
from relay.store import Store
from relay.store.migrations import LATEST, MIGRATIONS, SchemaTooNew, current_version, migrate

TABLES = {"instances", "status_history", "audit_log", "leases", "schema_version"}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {row["tablename"] for row in rows}


async def test_empty_to_latest_then_idempotent(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await tables(conn) == set()
        assert await migrate(conn) == LATEST
        assert await tables(conn) == TABLES
        assert await current_version(conn) == LATEST
        assert await migrate(conn) == 0
        assert await current_version(conn) == LATEST
    finally:
        await conn.close()


async def test_a_failing_step_leaves_no_trace(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        broken = (*MIGRATIONS, "CREATE TABLE extra (id int); SELECT no_such_function();")
        with pytest.raises(MigrationFailed) as caught:
            await migrate(conn, broken)
        assert isinstance(caught.value.__cause__, asyncpg.UndefinedFunctionError)
        (problem,) = caught.value.problems
        assert f"migration to schema version {LATEST + 1} failed" in problem
        assert "\n" not in problem
        assert await current_version(conn) == LATEST
        assert "extra" not in await tables(conn)
    finally:
        await conn.close()


async def test_refuses_a_schema_newer_than_the_code(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", LATEST + 1)
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(database_url)
    assert f"version {LATEST + 1}" in caught.value.problems[0]
