"""The one-shot commands behind ``evo-relay migrate``, ``check`` and ``init``."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from relay.checks import run_checks
from relay.config import Settings
from relay.errors import ConfigError
from relay.store.migrations import LATEST
from relay.store.opening import open_store


async def migrate(settings: Settings) -> int:
    async with open_store(settings):
        print(f"database schema is at version {LATEST}")
    return 0


async def check(settings: Settings, *, probe: bool = False, env_file: Path | None = None) -> int:
    """Print a verdict per item; 1 if any item failed, else 0 ("not verified" is not a fail)."""
    return await run_checks(settings, probe=probe, env_file=env_file)


def env_file_text(
    *, data_dir: Path, host: str, port: int, evolution_url: str | None,
    evolution_apikey: str | None,
) -> str:  # fmt: skip
    """A complete env file (systemd ``EnvironmentFile=`` syntax) with fresh random secrets."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # No comment after a value: systemd would keep it as part of the value.
    url_note = [] if evolution_url else ["# Set: Evolution's base URL, e.g. http://127.0.0.1:8080"]
    key_note = [] if evolution_apikey else ["# Set: Evolution's AUTHENTICATION_API_KEY"]
    return "\n".join([
        f"# evo-relay configuration, written by `evo-relay init` on {when}.",
        "# Every variable is described in docs/operations.md. An empty value means unset.",
        "",
        f"RELAY_HOST={host}",
        f"RELAY_PORT={port}",
        f"RELAY_DATA_DIR={data_dir}",
        "# Unset: an embedded Postgres in RELAY_DATA_DIR/pg. Or your server:",
        "# RELAY_DATABASE_URL=postgresql://evo_relay:PASSWORD@127.0.0.1:5432/evo_relay",
        "",
        *url_note,
        f"RELAY_EVOLUTION_URL={evolution_url or ''}",
        *key_note,
        f"RELAY_EVOLUTION_APIKEY={evolution_apikey or ''}",
        "RELAY_EVOLUTION_EVENTS_MODE=instance",
        "",
        "# HS256 key of the tokens your panel backend signs (and `evo-relay token` mints).",
        f"RELAY_JWT_SECRET={secrets.token_urlsafe(48)}",
        "RELAY_CORS_ORIGINS=",
        "",
        "# Uncomment to require `Authorization: Bearer <token>` on /metrics:",
        f"# RELAY_METRICS_TOKEN={secrets.token_urlsafe(32)}",
        "RELAY_WEBHOOK_ALLOW_PRIVATE=false",
        "RELAY_STARTUP_TIMEOUT=60",
        "RELAY_LOG_FORMAT=text",
        "RELAY_LOG_LEVEL=INFO",
        "",
    ])  # fmt: skip


def init(
    env_file: Path, *, force: bool, data_dir: Path, host: str, port: int,
    evolution_url: str | None, evolution_apikey: str | None,
) -> int:  # fmt: skip
    """Write ``env_file`` (mode 0600), refusing to overwrite unless ``force``."""
    text = env_file_text(
        data_dir=data_dir.expanduser().resolve(), host=host, port=port,
        evolution_url=evolution_url, evolution_apikey=evolution_apikey,
    )  # fmt: skip
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(env_file, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigError(
            [f"--env-file: {env_file} exists; keep it, or pass --force to replace it"]
        ) from exc
    except OSError as exc:
        raise ConfigError([f"--env-file: cannot write {env_file}: {exc.strerror}"]) from exc
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)
    missing = [name for name, value in (("RELAY_EVOLUTION_URL", evolution_url),
               ("RELAY_EVOLUTION_APIKEY", evolution_apikey)) if not value]  # fmt: skip
    steps = []
    if missing:
        steps.append(f"set {' and '.join(missing)} in {env_file}")
    steps += [
        f"evo-relay check --env-file {env_file}    (add --probe in global events mode)",
        f"evo-relay serve --env-file {env_file}    (under systemd: docs/operations.md)",
        f"evo-relay token --env-file {env_file} --tenant T --role ADMIN --user U    "
        "(a test token; your backend signs its own with RELAY_JWT_SECRET)",
    ]
    out_lines = [f"wrote {env_file} (mode 0600) with a new random RELAY_JWT_SECRET", "next:"]
    out_lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    sys.stdout.write("\n".join(out_lines) + "\n")
    return 0
