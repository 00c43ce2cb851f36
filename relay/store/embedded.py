"""The embedded Postgres (pgserver) used when no ``RELAY_DATABASE_URL`` is configured.

pgserver keeps a list of the processes holding a data dir: a second daemon on the same data
dir reuses the running server, and the last one to leave stops it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.errors import ConfigError

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.store.store import Store

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A handle on pgserver's Postgres in ``data_dir / "pg"``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir.expanduser().resolve() / "pg"
        self._server: Any = None

    @property
    def dsn(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded Postgres is not started")
        return str(self._server.get_uri())

    def start_blocking(self) -> str:
        """Start (or join) the server from synchronous code; returns the DSN."""
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (as under systemd).
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:
            # pgserver raises OSError, CalledProcessError, TimeoutExpired or AssertionError
            # depending on what is wrong; each means this data dir cannot be used.
            raise ConfigError(
                [
                    f"RELAY_DATA_DIR: cannot run the embedded Postgres in {self.pgdata}: "
                    f"{type(exc).__name__}: {exc}".strip()
                ]
            ) from exc
        return self.dsn

    async def start(self) -> str:
        started = time.monotonic()
        await asyncio.to_thread(self.start_blocking)
        log.info("embedded Postgres ready in %s (%.2fs)", self.pgdata, time.monotonic() - started)
        return self.dsn

    def stop_blocking(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        log.info("embedded Postgres handle released (%s)", self.pgdata)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The configured database, or the embedded one in the data dir; migrated, closed on exit."""
    from relay.store.store import Store

    embedded = None
    if settings.database_url is not None:
        dsn = settings.database_url.get_secret_value()
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await embedded.start()
    try:
        store = await Store.open(dsn)
        try:
            yield store
        finally:
            await store.close()
    finally:
        if embedded is not None:
            await embedded.stop()
