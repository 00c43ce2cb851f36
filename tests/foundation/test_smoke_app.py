"""healthz, readyz (with a real database outage) and the JSON 404/405 of unknown routes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from relay.app import create_app
from relay.config import Settings
from simulator import SimConfig, Simulator
from tests.conftest import MakeSimulator
from tests.support import eventually


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> Simulator:
    return await make_simulator(SimConfig(apikey="sim-key-0123"))


@pytest.fixture
async def own_role_dsn(database_url: str, pg_root_dsn: str) -> AsyncIterator[tuple[str, str]]:
    """The test's schema reached through a login role of its own, which the test can revoke."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    schema = database_url.rsplit("search_path=", 1)[1]
    admin = await asyncpg.connect(pg_root_dsn)
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    await admin.execute(f"GRANT ALL ON SCHEMA {schema} TO {role}")
    parts = urlsplit(database_url)
    netloc = parts.netloc.split("@", 1)[-1]
    yield urlunsplit(parts._replace(netloc=f"{role}@{netloc}")), role
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
    )
    await admin.execute(f"DROP OWNED BY {role} CASCADE")
    await admin.execute(f"DROP ROLE {role}")
    await admin.close()


async def test_healthz_and_json_errors_for_unknown_routes(
    aiohttp_client: Callable[..., TestClient], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    healthy = await client.get("/healthz")
    assert healthy.status == 200
    assert await healthy.json() == {"status": "ok"}
    missing = await client.get("/nope")
    assert missing.status == 404
    assert await missing.json() == {
        "success": False, "message": "Rota não encontrada", "code": "NOT_FOUND",
    }  # fmt: skip
    assert missing.headers["X-Request-Id"]
    wrong_method = await client.put("/healthz")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["code"] == "METHOD_NOT_ALLOWED"


async def test_readyz_follows_the_database_and_reports_the_upstream(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    simulator: Simulator,
    own_role_dsn: tuple[str, str],
    pg_root_dsn: str,
) -> None:
    dsn, role = own_role_dsn
    settings = make_settings(
        database_url=dsn, evolution_url=simulator.base_url, evolution_apikey="sim-key-0123"
    )
    client = await aiohttp_client(create_app(settings))

    async def readiness() -> tuple[int, dict[str, bool], list[str]]:
        response = await client.get("/readyz")
        body = await response.json()
        return response.status, body["checks"], [u["state"] for u in body["upstream"]]

    ready = (200, {"tasks": True, "database": True}, ["up"])
    await eventually(readiness, until=lambda found: found == ready, what=f"readiness {ready}")
    admin = await asyncpg.connect(pg_root_dsn)
    try:
        await admin.execute(f"ALTER ROLE {role} NOLOGIN")
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        assert await readiness() == (503, {"tasks": True, "database": False}, ["up"])
        await admin.execute(f"ALTER ROLE {role} LOGIN")
        await eventually(readiness, until=lambda found: found == ready, what=f"readiness {ready}")
    finally:
        await admin.close()


async def test_readyz_reports_an_unreachable_evolution_without_failing(
    aiohttp_client: Callable[..., TestClient], settings: Settings
) -> None:
    """Another node could not do better: the upstream's state is reported, not a 503."""
    client = await aiohttp_client(create_app(settings))  # settings point at a closed port
    response = await client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["checks"] == {"tasks": True, "database": True}
    assert [(u["server"], u["state"]) for u in body["upstream"]] == [("default", "down")]
