"""The embedded Postgres (pgserver) used when no ``RELAY_DATABASE_URL`` is configured.

pgserver keeps a list of the processes holding a data dir: a second daemon on the same data
dir reuses the running server, and the last one to leave stops it.

Run as root, pgserver would create a system account (``useradd pgserver``) on its own, and
widen the permissions of every directory above the data dir and of its Postgres binaries so that
account can reach them. evo-relay does not let an account appear behind the operator's back:
as root it refuses to start the embedded Postgres unless the account already exists, and says
how to create it (docs/operations.md, "Running as root").
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import time
import warnings
from pathlib import Path
from typing import Any, Final

from relay.errors import ConfigError

# pgserver runs Postgres as this account when the process is root (Postgres refuses root).
PG_ACCOUNT: Final = "pgserver"

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
        require_account_if_root()
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


def require_account_if_root() -> None:
    """As root, the account Postgres will run as must exist already: we never create it."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(PG_ACCOUNT)
    except KeyError:
        raise ConfigError(
            [
                f"running as root, the embedded Postgres needs the system account "
                f"'{PG_ACCOUNT}', and evo-relay does not create accounts: create it with "
                f"`useradd --system --no-create-home --shell /usr/sbin/nologin {PG_ACCOUNT}`, "
                "run evo-relay as an ordinary user, or set RELAY_DATABASE_URL"
            ]
        ) from None
