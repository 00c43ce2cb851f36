"""The ``evo-relay`` command: parse arguments, build settings, set up logging, run.

Exit codes: 0 success, 1 a failed check or command, 78 (EX_CONFIG) invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from relay.config import Settings, load_settings
from relay.errors import ConfigError
from relay.logs import setup_logging

EX_CONFIG = 78

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
    for flag in names:
        field, kind, text = _SETTING_FLAGS[flag]
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {field: getattr(args, field, None) for field, _, _ in _SETTING_FLAGS.values()}
    return load_settings(**overrides)


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

    return asyncio.run(check(_settings_and_logs(args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evo-relay",
        description="Tenant-scoped relay between Evolution API v2 and SaaS panels.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    token.set_defaults(func=cmd_token)

    check = sub.add_parser(
        "check", help="check config, database and Evolution; non-zero exit if any fails",
        description="Check configuration, the database, Evolution's reachability, the API key "
        "and its websocket output; print a verdict per item.",
    )  # fmt: skip
    _add_setting_flags(check, *_SETTING_FLAGS)
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
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"evo-relay: config error: {problem}", file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
