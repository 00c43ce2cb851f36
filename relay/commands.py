"""The one-shot commands behind ``evo-relay migrate`` and ``evo-relay check``."""

from __future__ import annotations

import logging

import aiohttp

from relay.config import Settings
from relay.errors import ConfigError, RelayError
from relay.evolution.client import EvolutionClient
from relay.store.embedded import open_store
from relay.store.migrations import LATEST

log = logging.getLogger(__name__)


async def migrate(settings: Settings) -> int:
    async with open_store(settings):
        print(f"database schema is at version {LATEST}")
    return 0


class Checklist:
    def __init__(self) -> None:
        self.failed = 0

    def item(self, name: str, ok: bool, detail: str) -> None:
        self.failed += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'}  {name:<18} {detail}")


async def check(settings: Settings) -> int:
    """Print a verdict per item; the exit code is the number of failures (capped at 1)."""
    checks = Checklist()
    problems = settings.problems_for_serve()
    checks.item("config", not problems, "; ".join(problems) or "valid")
    try:
        async with open_store(settings) as store:
            checks.item("database", await store.ping(), f"schema version {LATEST}")
    except (ConfigError, RelayError) as exc:
        checks.item("database", False, str(exc))
    if settings.evolution_url and settings.evolution_apikey:
        await _check_evolution(settings, checks)
    else:
        checks.item("evolution", False, "RELAY_EVOLUTION_URL and RELAY_EVOLUTION_APIKEY not set")
    return 1 if checks.failed else 0


async def _check_evolution(settings: Settings, checks: Checklist) -> None:
    assert settings.evolution_url and settings.evolution_apikey
    client = EvolutionClient(
        settings.evolution_url, settings.evolution_apikey, settings.evolution_timeout
    )
    async with client:
        try:
            info = await client.server_info()
        except RelayError as exc:
            checks.item("evolution", False, exc.message)
            return
        checks.item("evolution", True, f"{settings.evolution_url} version {info.version}")
        try:
            instances = await client.fetch_instances()
        except RelayError as exc:
            checks.item("api key", False, exc.message)
        else:
            checks.item("api key", True, f"accepted ({len(instances)} instances)")
    checks.item("websocket output", *await _socketio_enabled(settings))


async def _socketio_enabled(settings: Settings) -> tuple[bool, str]:
    """Evolution serves ``/socket.io/`` only with WEBSOCKET_ENABLED=true (docs/upstream.md §6.1)."""
    assert settings.evolution_url and settings.evolution_apikey
    url = f"{settings.evolution_url}/socket.io/?EIO=4&transport=polling"
    headers = {"apikey": settings.evolution_apikey.get_secret_value()}
    timeout = aiohttp.ClientTimeout(total=settings.evolution_timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"handshake failed: {type(exc).__name__}"
    if status == 200:
        return True, "Socket.IO handshake accepted"
    if status == 404:
        return False, "off on the server: set WEBSOCKET_ENABLED=true on Evolution"
    return False, f"handshake answered HTTP {status}"
