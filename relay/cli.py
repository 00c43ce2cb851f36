"""The ``evo-relay`` command: parse arguments, build settings, set up logging, run.

Exit codes (sysexits): 0 success; 1 a failed check; 2 bad command-line usage; 69
(EX_UNAVAILABLE) the database still unreachable after ``RELAY_STARTUP_TIMEOUT``; 71 (EX_OSERR)
the OS refused the listen address; 78 (EX_CONFIG) configuration: invalid values, a placeholder
or weak secret, a bad DSN, a refused database login, a failed migration; 130 interrupted.
Each of these failures prints one line per problem, and a traceback only with
``--log-level DEBUG``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from relay.config import Settings, load_settings
from relay.errors import EX_CONFIG, ConfigError, StartupFailure
from relay.logs import setup_logging

# serve-style flags: option -> settings field. They override the environment and .env.
_SETTING_FLAGS: dict[str, tuple[str, type, str]] = {
    "--host": ("host", str, "listen address (RELAY_HOST)"),
    "--port": ("port", int, "listen port (RELAY_PORT)"),
    "--database-url": ("database_url", str, "Postgres DSN (RELAY_DATABASE_URL)"),
    "--data-dir": ("data_dir", str, "embedded Postgres and state (RELAY_DATA_DIR)"),
    "--evolution-url": ("evolution_url", str, "Evolution base URL (RELAY_EVOLUTION_URL)"),
    "--log-level": ("log_level", str, "DEBUG, INFO, WARNING, ERROR (RELAY_LOG_LEVEL)"),
    "--log-format": ("log_format", str, "text or json (RELAY_LOG_FORMAT)"),
}


def _add_setting_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    parser.add_argument(
        "--env-file", type=Path, default=None, metavar="PATH",
        help="read settings from this env file instead of ./.env (e.g. the unit's "
        "EnvironmentFile, /etc/evo-relay/env)",
    )  # fmt: skip
    for flag in names:
        field, kind, text = _SETTING_FLAGS[flag]
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {field: getattr(args, field, None) for field, _, _ in _SETTING_FLAGS.values()}
    return load_settings(env_file=getattr(args, "env_file", None), **overrides)


def _settings_and_logs(args: argparse.Namespace) -> Settings:
    settings = _settings(args)
    setup_logging(settings.log_format, settings.log_level)
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from relay.app import run

    settings = _settings(args)
    problems = settings.problems_for_serve()
    if problems:
        raise ConfigError(problems)
    setup_logging(settings.log_format, settings.log_level)
    run(settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from relay.commands import migrate

    return asyncio.run(migrate(_settings_and_logs(args)))


def cmd_token(args: argparse.Namespace) -> int:
    from relay.auth import Role, mint_token

    settings = _settings(args)
    try:
        role = Role(args.role.upper())
    except ValueError as exc:
        raise ConfigError([f"--role: must be one of {', '.join(r.value for r in Role)}"]) from exc
    if role is not Role.SUPERADMIN and not args.tenant:
        raise ConfigError(["--tenant: required for USER and ADMIN tokens"])
    print(mint_token(settings, tenant=args.tenant, role=role, user=args.user, ttl=args.ttl))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from relay.commands import check

    settings = _settings(args)
    # WARNING: check prints its own verdicts; INFO lines of the machinery would interleave.
    setup_logging(settings.log_format, "DEBUG" if settings.log_level == "DEBUG" else "WARNING")
    return asyncio.run(check(settings, probe=args.probe, env_file=args.env_file))


def cmd_init(args: argparse.Namespace) -> int:
    from relay.commands import init

    return init(
        args.env_file, force=args.force, data_dir=args.data_dir, host=args.host, port=args.port,
        evolution_url=args.evolution_url, evolution_apikey=args.evolution_apikey,
    )  # fmt: skip


def _version() -> str:
    try:
        return version("evo-relay")
    except PackageNotFoundError:  # pragma: no cover - run from a tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evo-relay",
        description="Tenant-scoped relay between Evolution API v2 and SaaS panels.",
        epilog="Exit codes: 0 ok, 1 a check failed, 2 usage, 69 database unavailable, "
        "71 cannot listen, 78 configuration. Operations: docs/operations.md.",
    )
    parser.add_argument("--version", action="version", version=f"evo-relay {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser(
        "init", help="write a complete env file with a random secret (mode 0600)",
        description="Write a complete env file with a new random RELAY_JWT_SECRET (mode 0600) "
        "and print the next steps. Refuses to overwrite an existing file without --force.",
    )  # fmt: skip
    init.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        metavar="PATH",
        help="where to write (default ./.env; for systemd /etc/evo-relay/env)",
    )
    init.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".evo-relay"),
        help="RELAY_DATA_DIR to write (default ./.evo-relay, made absolute)",
    )
    init.add_argument("--host", default="127.0.0.1", help="RELAY_HOST (default 127.0.0.1)")
    init.add_argument("--port", type=int, default=3001, help="RELAY_PORT (default 3001)")
    init.add_argument("--evolution-url", default=None, help="RELAY_EVOLUTION_URL")
    init.add_argument("--evolution-apikey", default=None, help="RELAY_EVOLUTION_APIKEY")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=cmd_init)  # fmt: skip

    serve = sub.add_parser("serve", help="run the daemon", description="Run the daemon.")
    _add_setting_flags(serve, *_SETTING_FLAGS)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser(
        "migrate", help="apply database migrations and exit",
        description="Apply database migrations (embedded Postgres when no RELAY_DATABASE_URL).",
    )  # fmt: skip
    _add_setting_flags(migrate, "--database-url", "--data-dir", "--log-level", "--log-format")
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser(
        "token", help="mint a JWT with the configured key",
        description="Mint a JWT signed with RELAY_JWT_SECRET, for tests, demos and scripts.",
    )  # fmt: skip
    token.add_argument("--tenant", help="tenant id (omit only for SUPERADMIN)")
    token.add_argument("--role", required=True, help="USER, ADMIN or SUPERADMIN")
    token.add_argument("--user", required=True, help="user id (the sub claim)")
    token.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds")
    token.add_argument("--env-file", type=Path, default=None, metavar="PATH",
                       help="read RELAY_JWT_SECRET from this env file")  # fmt: skip
    token.set_defaults(func=cmd_token)

    check = sub.add_parser(
        "check", help="check config, database and Evolution; non-zero exit if any fails",
        description="Check configuration, the listen address, the database, Evolution's "
        "reachability, the API key, its websocket output and events; print a verdict per item "
        "(ok, FAIL, warn, skip = not verified). Exit 1 if any item FAILs. Changes nothing, "
        "except with --probe.",
    )  # fmt: skip
    _add_setting_flags(check, *_SETTING_FLAGS)
    check.add_argument(
        "--probe", action="store_true",
        help="global events mode: create a throwaway instance on Evolution, watch for its "
        "events on the root namespace, and delete it (tells whether WEBSOCKET_GLOBAL_EVENTS "
        "is on)",
    )  # fmt: skip
    check.set_defaults(func=cmd_check)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    """Commands that live beside their machinery (simulator, demo)."""
    from relay.demo import add_parser as demo
    from simulator.cli import add_parser as simulate

    return [simulate, demo]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StartupFailure as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            traceback.print_exception(exc, file=sys.stderr)
        for problem in exc.problems:
            print(f"evo-relay: {exc.label}: {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


__all__ = ["EX_CONFIG", "ConfigError", "build_parser", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
