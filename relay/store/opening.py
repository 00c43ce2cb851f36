"""Opening the database at start-up: the configured DSN or the embedded server, with a wait.

``open_store`` is what ``serve``, ``migrate`` and ``check`` use. A database that cannot be
reached yet is waited for, with backoff, for at most ``wait`` seconds (``RELAY_STARTUP_TIMEOUT``),
with one log line when the wait starts and one when it ends; then ``DependencyUnavailable``
(exit 69). A database that refuses (password, role, database name, DSN) is ``DatabaseRefused``
at once (exit 78): waiting will not change its mind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from relay.errors import DatabaseRefused, DatabaseUnavailable, DependencyUnavailable
from relay.store.embedded import EmbeddedPostgres
from relay.store.store import Store

if TYPE_CHECKING:
    from relay.config import Settings

log = logging.getLogger(__name__)

FIRST_RETRY: Final = 0.25
MAX_RETRY: Final = 2.0

OnWait = Callable[[str], None]


def describe_dsn(dsn: str) -> str:
    """``user@host:port/database`` for messages: never the password, never the query."""
    try:
        parts = urlsplit(dsn)
        user = unquote(parts.username or "") or "(default user)"
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the database in RELAY_DATABASE_URL"
    database = unquote(parts.path.lstrip("/")) or user
    return f"{user}@{host}:{port}/{database}"


def reason(exc: BaseException) -> str:
    """A short, secret-free cause: 'connection refused', 'timed out', 'name not resolved'."""
    cause = exc.__cause__ or exc
    if isinstance(cause, TimeoutError):
        return "timed out"
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno).lower()  # not strerror: asyncio rewords it
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


async def open_waiting(
    dsn: str, where: str, *, wait: float, on_wait: OnWait | None = None, migrate: bool = True
) -> Store:
    """``Store.open``, retried while the database is unreachable, for at most ``wait`` s."""
    started = time.monotonic()
    delay = FIRST_RETRY
    waiting = False
    while True:
        try:
            store = await Store.open(dsn, migrate_schema=migrate)
        except DatabaseRefused as exc:
            raise DatabaseRefused(
                [
                    f"database at {where} refused the connection: {problem}; fix the user, "
                    "password or database name in RELAY_DATABASE_URL"
                    for problem in exc.problems
                ]
            ) from exc
        except DatabaseUnavailable as exc:
            waited = time.monotonic() - started
            if waited + delay > wait:
                raise DependencyUnavailable(
                    [
                        f"database unreachable at {where} after {waited:.0f} s ({reason(exc)}): "
                        "start Postgres, or fix the host and port in RELAY_DATABASE_URL "
                        "(RELAY_STARTUP_TIMEOUT sets the wait)"
                    ]
                ) from exc
            if not waiting:
                waiting = True
                log.warning(
                    "database unreachable at %s (%s); retrying for up to %.0f s",
                    where, reason(exc), wait,
                )  # fmt: skip
                if on_wait is not None:
                    on_wait(f"waiting for the database at {where}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY)
            continue
        if waiting:
            log.info("database at %s reachable after %.1f s", where, time.monotonic() - started)
        return store


@asynccontextmanager
async def open_store(
    settings: Settings,
    *,
    wait: float | None = None,
    on_wait: OnWait | None = None,
    migrate: bool = True,
) -> AsyncIterator[Store]:
    """The configured database, or the embedded one in the data dir; migrated, closed on exit.

    ``wait`` defaults to ``RELAY_STARTUP_TIMEOUT``.
    """
    embedded = None
    if settings.database_url is not None:
        dsn = settings.database_url.get_secret_value()
        where = describe_dsn(dsn)
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await embedded.start()
        where = f"the embedded Postgres in {embedded.pgdata}"
    try:
        limit = settings.startup_timeout if wait is None else wait
        store = await open_waiting(dsn, where, wait=limit, on_wait=on_wait, migrate=migrate)
        try:
            yield store
        finally:
            await store.close()
    finally:
        if embedded is not None:
            await embedded.stop()
