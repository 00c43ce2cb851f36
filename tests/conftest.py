"""Shared fixtures: a real Postgres for every test, settings, tokens, and simulators.

With ``RELAY_TEST_DATABASE_URL`` the tests use that server; without it, one embedded Postgres
(pgserver) for the session. Either way each test gets a schema of its own, reached through
``search_path`` in its DSN, and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from relay.auth import Role, mint_token
from relay.config import Settings
from relay.store import Store
from relay.store.embedded import EmbeddedPostgres
from simulator import SimConfig, Simulator
from tests.logscan import SCAN

JWT_SECRET = "test-secret-0123456789abcdef-0123456789abcdef"
TEST_APIKEY = "test-global-apikey"
REPO = Path(__file__).resolve().parents[1]
EVOLUTION_SAMPLES = REPO / "tests" / "fixtures" / "evolution"  # real Evolution 2.3.6 payloads


@pytest.fixture(scope="session", autouse=True)
def log_scan() -> Iterator[None]:
    """Every log record of the session goes through ``tests.logscan.SCAN``."""
    SCAN.register(JWT_SECRET, TEST_APIKEY)
    root = logging.getLogger()
    level = root.level
    root.addHandler(SCAN)
    root.setLevel(logging.DEBUG)
    # The test servers' access log (aiohttp_server) quotes request lines, ?token= included;
    # the daemon's runners never enable it (access_log=None in serve and the demo).
    # The websockets test client dumps its own frames (a token it sends included) at DEBUG.
    quieted = [logging.getLogger(name) for name in ("aiohttp.access", "websockets.client")]
    levels = [logger.level for logger in quieted]
    for logger in quieted:
        logger.setLevel(logging.WARNING)
    yield
    for logger, old in zip(quieted, levels, strict=True):
        logger.setLevel(old)
    root.removeHandler(SCAN)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_secret_in_logs(log_scan: None) -> Iterator[None]:
    """Fails the test (in teardown) if a log record during it carried a token or a secret."""
    SCAN.take()
    yield
    found = SCAN.take()
    if found:
        pytest.fail("secrets in log records:\n" + "\n".join(found[:5]), pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_query(dsn: str, **params: str) -> str:
    sep = "&" if "?" in dsn else "?"
    return dsn + sep + "&".join(f"{key}={value}" for key, value in params.items())


@pytest.fixture(scope="session")
def pg_root_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server every test's schema lives on."""
    configured = os.environ.get("RELAY_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg"))
    yield embedded.start_blocking()
    embedded.stop_blocking()


@contextlib.asynccontextmanager
async def fresh_schema(pg_root_dsn: str) -> AsyncIterator[str]:
    """A DSN whose search_path is a fresh, empty schema, dropped on exit."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(pg_root_dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield with_query(pg_root_dsn, search_path=schema)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(pg_root_dsn: str) -> AsyncIterator[str]:
    """A DSN whose search_path is a fresh, empty schema."""
    async with fresh_schema(pg_root_dsn) as dsn:
        yield dsn


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    yield opened
    await opened.close()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an in-process app: the test's database, a known JWT secret."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "jwt_secret": JWT_SECRET,
            "evolution_url": "http://127.0.0.1:9",
            "evolution_apikey": TEST_APIKEY,
            "evolution_timeout": 2.0,
            "port": 0,
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def token(settings: Settings) -> Callable[..., str]:
    """``token("tenant-a", "ADMIN")`` -> a bearer token the app accepts."""

    def mint(
        tenant: str | None, role: str = "ADMIN", user: str = "user-1", ttl: float = 600
    ) -> str:
        minted = mint_token(settings, tenant=tenant, role=Role(role), user=user, ttl=ttl)
        SCAN.register(minted)
        return minted

    return mint


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


MakeSimulator = Callable[[SimConfig], Awaitable[Simulator]]


@pytest.fixture
async def make_simulator() -> AsyncIterator[MakeSimulator]:
    """``await make_simulator(config)`` -> a simulator serving on a free loopback port; each
    one made is stopped after the test (after the fixtures that asked for this one)."""
    made: list[Simulator] = []

    async def make(config: SimConfig) -> Simulator:
        simulator = Simulator(config)
        made.append(simulator)
        await simulator.start("127.0.0.1", 0)
        return simulator

    yield make
    for simulator in reversed(made):
        await simulator.stop()
