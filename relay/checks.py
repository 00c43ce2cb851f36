"""``evo-relay check``: one honest verdict per item, in the order an operator fixes them.

Verdicts: ``ok``, ``FAIL`` (the service would not work: exit 1), ``warn`` (works, but look),
``skip`` ("not verified": this check cannot tell, and says why). Nothing here changes the
database; ``--probe`` is the only thing that changes Evolution (a throwaway instance, created,
watched and deleted) and runs only when asked for.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from relay.config import Settings
from relay.errors import ConfigError, RelayError, StartupFailure
from relay.evolution.client import EvolutionClient
from relay.evolution.probe import Diagnosis, Prober, UpstreamState
from relay.evolution.transport import public_url
from relay.listen import check_listen
from relay.servers import DEFAULT_SERVER, EvolutionServer
from relay.store.migrations import LATEST
from relay.store.opening import open_store
from relay.upstream.socket import ROOT, MultiplexedSocket

DATABASE_WAIT: Final = 5.0
PROBE_WAIT: Final = 5.0
CONNECT_TIMEOUT: Final = 10.0
EVOLUTION_DEFAULT_KEY: Final = (
    "BQYHJGJHJ"  # Evolution's fallback when AUTHENTICATION_API_KEY is unset
)


@dataclass
class Checklist:
    verdicts: dict[str, str] = field(default_factory=dict)

    def item(self, verdict: str, name: str, detail: str) -> None:
        self.verdicts[name] = verdict
        sys.stdout.write(f"{verdict:<5} {name:<17} {detail}\n")
        sys.stdout.flush()

    def ok(self, name: str, detail: str) -> None:
        self.item("ok", name, detail)

    def fail(self, name: str, detail: str) -> None:
        self.item("FAIL", name, detail)

    def warn(self, name: str, detail: str) -> None:
        self.item("warn", name, detail)

    def skip(self, name: str, why: str) -> None:
        self.item("skip", name, f"not verified: {why}")

    @property
    def failed(self) -> bool:
        return "FAIL" in self.verdicts.values()


async def run_checks(settings: Settings, *, probe: bool, env_file: Path | None) -> int:
    checks = Checklist()
    problems = settings.problems_for_serve()
    source = f"env file {env_file}" if env_file else "environment and ./.env"
    if problems:
        checks.fail("config", "; ".join(problems))
    else:
        checks.ok("config", f"valid ({source})")
    await _listen(settings, checks)
    await _database(settings, checks)
    await _redis(settings, checks)
    try:
        servers = settings.servers()
    except ConfigError:
        servers = []  # already reported under "config"
    if not servers:
        for name in ("evolution", "api key", "websocket output", "events"):
            checks.skip(name, "no valid Evolution server configured (RELAY_EVOLUTION_URL and "
                        "RELAY_EVOLUTION_APIKEY, or RELAY_EVOLUTION_SERVERS)")  # fmt: skip
    for server in servers:
        await _evolution(server, Named(checks, server), probe=probe)
    return 1 if checks.failed else 0


class Named:
    """The checklist, with each item named after its Evolution server when there is a fleet."""

    def __init__(self, checks: Checklist, server: EvolutionServer) -> None:
        self._checks = checks
        self._suffix = "" if server.name == DEFAULT_SERVER else f" [{server.name}]"

    def ok(self, name: str, detail: str) -> None:
        self._checks.ok(name + self._suffix, detail)

    def fail(self, name: str, detail: str) -> None:
        self._checks.fail(name + self._suffix, detail)

    def warn(self, name: str, detail: str) -> None:
        self._checks.warn(name + self._suffix, detail)

    def skip(self, name: str, why: str) -> None:
        self._checks.skip(name + self._suffix, why)


async def _listen(settings: Settings, checks: Checklist) -> None:
    where = f"{settings.host}:{settings.port}"
    try:
        check_listen(settings.host, settings.port)
    except StartupFailure as exc:
        if await _is_evo_relay(settings):
            checks.warn("listen address", f"{where} is in use by a running evo-relay (fine if "
                        "it is this service; a second `serve` would exit 71)")  # fmt: skip
        else:
            checks.fail("listen address", exc.problems[0])
        return
    checks.ok("listen address", f"{where} is free")


async def _is_evo_relay(settings: Settings) -> bool:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}/healthz"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
            session.get(url) as response,
        ):
            body: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict) and body.get("status") == "ok"


async def _database(settings: Settings, checks: Checklist) -> None:
    try:
        async with open_store(settings, wait=DATABASE_WAIT, migrate=False) as store:
            version = await store.schema_version()
    except (StartupFailure, RelayError) as exc:
        problems = exc.problems if isinstance(exc, StartupFailure) else [exc.message]
        checks.fail("database", "; ".join(problems))
        return
    where = "embedded Postgres" if settings.database_url is None else "reachable"
    if version == LATEST:
        checks.ok("database", f"{where}, schema version {version} (current)")
    elif version < LATEST:
        checks.ok("database", f"{where}, schema version {version}: serve or `evo-relay "
                  f"migrate` brings it to {LATEST}")  # fmt: skip
    else:
        checks.fail("database", f"schema version {version} is newer than this evo-relay "
                    f"(knows {LATEST}): upgrade evo-relay")  # fmt: skip


async def _redis(settings: Settings, checks: Checklist) -> None:
    """The cluster's Redis, when there is one (RELAY_REDIS_URL)."""
    if settings.redis_url is None:
        checks.skip("redis", "RELAY_REDIS_URL unset: a single node, no cluster")
        return
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value(),
                                     socket_connect_timeout=3, socket_timeout=3)  # fmt: skip
    try:
        info: Any = await client.info("server")
    except (RedisError, OSError) as exc:
        checks.fail("redis", f"RELAY_REDIS_URL does not answer ({type(exc).__name__}: {exc}): "
                    "start Redis or fix the URL; without it the nodes serve HTTP and "
                    "snapshots but no live events")  # fmt: skip
        return
    finally:
        await client.aclose(close_connection_pool=True)
    checks.ok("redis", f"Redis {info.get('redis_version', '?')} answers; node "
              f"{settings.node_name} of a cluster")  # fmt: skip


async def _evolution(server: EvolutionServer, checks: Named, *, probe: bool) -> None:
    async with Prober(server.url, server.apikey, server.timeout) as prober:
        api = await prober.api()
        socket = await prober.socket() if api.ok else None
    _report_api(server, checks, api, await _version(server) if api.state in (
        UpstreamState.UP, UpstreamState.KEY_REFUSED) else None)  # fmt: skip
    if socket is None:
        why = "the API key was refused" if api.state is UpstreamState.KEY_REFUSED else api.detail
        checks.skip("websocket output", why)
    elif socket.ok:
        checks.ok("websocket output", "Socket.IO handshake accepted with the key")
    else:
        checks.fail("websocket output", socket.detail)
    await _events(server, checks, usable=socket is not None and socket.ok, probe=probe)


def _report_api(
    server: EvolutionServer, checks: Named, api: Diagnosis, version: str | None
) -> None:
    if api.state in (UpstreamState.UNREACHABLE, UpstreamState.NOT_EVOLUTION):
        checks.fail("evolution", api.detail)
        checks.skip("api key", "Evolution did not answer as Evolution")
        return
    checks.ok(
        "evolution",
        f"{public_url(server.url)} answers as Evolution API "
        f"{version or '(version unknown: GET / failed; it needs internet access)'}",
    )
    if api.state is UpstreamState.KEY_REFUSED:
        checks.fail("api key", api.detail)
        return
    if server.apikey.get_secret_value() == EVOLUTION_DEFAULT_KEY:
        checks.warn("api key", "accepted, but it is Evolution's built-in default key: set "
                    "AUTHENTICATION_API_KEY on Evolution and here")  # fmt: skip
    else:
        checks.ok("api key", "accepted")


async def _version(server: EvolutionServer) -> str | None:
    async with EvolutionClient(server.url, server.apikey, server.timeout) as client:
        try:
            return (await client.server_info()).version
        except RelayError:
            return None


async def _events(server: EvolutionServer, checks: Named, *, usable: bool, probe: bool) -> None:
    if server.events_mode == "instance":
        checks.ok("events", "instance mode: one namespace per instance, enabled by the relay")
        return
    if not usable:
        checks.skip("events", "global mode, and the Socket.IO output is not usable")
    elif not probe:
        checks.skip("events", "global mode: Evolution does not say whether "
                    "WEBSOCKET_GLOBAL_EVENTS is on; `evo-relay check --probe` finds out with a "
                    "throwaway instance (created, watched, deleted)")  # fmt: skip
    else:
        await _probe_global(server, checks)


class _Watch:
    """A ``SocketListener`` that waits for any event of one instance on the root namespace."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen = asyncio.Event()

    async def on_event(self, namespace: str, event: str, data: Any) -> None:
        if namespace == ROOT and isinstance(data, dict) and data.get("instance") == self.name:
            self.seen.set()

    async def on_joined(self, namespace: str) -> None:
        return None

    async def on_refused(self, namespace: str, message: str) -> None:
        return None

    async def on_left(self, namespace: str) -> None:
        return None


async def _probe_global(server: EvolutionServer, checks: Named) -> None:
    name = f"evo-relay-probe-{secrets.token_hex(4)}"
    watch = _Watch(name)
    sock = MultiplexedSocket(server.url, server.apikey.get_secret_value(), watch)
    try:
        await sock.connect(CONNECT_TIMEOUT)
    except ConnectionError as exc:
        checks.fail("events", f"global mode: cannot connect to Evolution's Socket.IO ({exc})")
        return
    try:
        async with EvolutionClient(server.url, server.apikey, server.timeout) as client:
            try:
                await client.create(name)
            except RelayError as exc:
                checks.fail("events", f"--probe could not create instance {name}: {exc.message}")
                return
            try:
                await client.delete(name)  # instance.delete and remove.instance go out first
            except RelayError as exc:
                checks.warn("probe cleanup", f"delete instance {name} on Evolution by hand: "
                            f"{exc.message}")  # fmt: skip
        try:
            await asyncio.wait_for(watch.seen.wait(), PROBE_WAIT)
        except TimeoutError:
            checks.fail("events", f"global mode: no event of probe instance {name} arrived "
                        f"on / within {PROBE_WAIT:.0f} s: WEBSOCKET_GLOBAL_EVENTS is off on "
                        "Evolution; set it true there, or set RELAY_EVOLUTION_EVENTS_MODE="
                        "instance")  # fmt: skip
            return
    finally:
        await sock.close()
    checks.ok("events", f"global mode: events arrive on / (probe instance {name} created, "
              "seen and deleted)")  # fmt: skip
