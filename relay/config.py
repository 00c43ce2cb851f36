"""Settings: every ``RELAY_*`` variable, an optional ``.env`` file, and CLI overrides.

Every variable is documented in docs/configuration.md.

Settings are built once (``load_settings``) and passed down; nothing reads the environment
at import time. Invalid values raise :class:`relay.errors.ConfigError` with one line per problem,
naming the variable, which the CLI prints before exiting with code 78.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from relay.errors import ConfigError
from relay.secretcheck import placeholder, weakness
from relay.servers import DEFAULT_SERVER, EventsMode, EvolutionServer, check_url, load_fleet

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
MIN_SECRET_BYTES = 32
MIN_METRICS_TOKEN_BYTES = 16

CommaList = Annotated[list[str], NoDecode]


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_",
        env_file=".env",
        env_ignore_empty=True,  # `RELAY_X=` in an env file means unset, not ""
        extra="ignore",
        validate_default=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(3001, ge=0, le=65535)
    database_url: SecretStr | None = None
    data_dir: Path = Path(".evo-relay")
    evolution_url: str | None = None
    evolution_apikey: SecretStr | None = None
    evolution_servers: Path | None = None
    evolution_events_mode: EventsMode = "instance"
    evolution_timeout: float = Field(15.0, gt=0, le=600)
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: CommaList = ["HS256"]
    jwt_tenant_claim: str = Field("tenantId", min_length=1)
    jwt_role_claim: str = Field("role", min_length=1)
    jwt_user_claim: str = Field("sub", min_length=1)
    jwt_leeway: float = Field(30.0, ge=0, le=600)
    cors_origins: CommaList = []
    reconcile_interval: float = Field(300.0, gt=0)
    redis_url: SecretStr | None = None
    node_name: str = Field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}",
                           min_length=1, max_length=200)  # fmt: skip
    lease_interval: float = Field(1.0, gt=0, le=60)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    history_size: int = Field(1000, ge=1, le=1_000_000)
    ws_compression: bool = False
    shutdown_timeout: float = Field(10.0, gt=0, le=300)
    startup_timeout: float = Field(60.0, gt=0, le=3600)
    """How long start-up waits for an unreachable database before exiting 69."""
    auth_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds an Engine.IO session may stay open without an authenticated Socket.IO CONNECT."""
    webhook_allow_private: bool = False
    metrics_token: SecretStr | None = None

    @field_validator("jwt_algorithms", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("evolution_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = check_url(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        dsn = value.get_secret_value()
        if not dsn.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// DSN")
        try:
            urlsplit(dsn).port  # noqa: B018 - parsing is the check
        except ValueError as exc:
            raise ValueError("is not a valid DSN: the port must be a number") from exc
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        problem = weakness(value.get_secret_value(), min_bytes=MIN_SECRET_BYTES)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        problem = weakness(value.get_secret_value(), min_bytes=MIN_METRICS_TOKEN_BYTES, min_bits=64)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("evolution_apikey")
    @classmethod
    def _apikey(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder: set Evolution's AUTHENTICATION_API_KEY here")
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _algorithms(cls, value: list[str]) -> list[str]:
        known = HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS
        bad = [alg for alg in value if alg not in known]
        if bad:
            raise ValueError(f"unsupported algorithm(s) {', '.join(bad)}; 'none' is never allowed")
        if not value:
            raise ValueError("at least one algorithm is required")
        return value

    @model_validator(mode="after")
    def _jwt_keys(self) -> Settings:
        algs = set(self.jwt_algorithms)
        if algs & PUBLIC_KEY_ALGORITHMS and self.jwt_public_key is None:
            raise ValueError("RELAY_JWT_PUBLIC_KEY: required by RS*/ES* in RELAY_JWT_ALGORITHMS")
        return self

    def public_key_pem(self) -> str | None:
        """The PEM text: the variable holds the PEM itself, or a path to a PEM file."""
        key = self.jwt_public_key
        if key is None or key.lstrip().startswith("-----BEGIN"):
            return key
        return Path(key).read_text()

    def servers(self) -> list[EvolutionServer]:
        """Every Evolution server to follow; a :class:`ConfigError` (exit 78) when the fleet
        file or the one-server shorthand is incomplete or invalid."""
        problems = self._evolution_problems()
        if problems:
            raise ConfigError(problems)
        if self.evolution_servers is not None:
            servers, problems = load_fleet(
                self.evolution_servers, default_timeout=self.evolution_timeout
            )
            if problems:
                raise ConfigError(problems)
            return servers
        assert self.evolution_url is not None and self.evolution_apikey is not None  # checked
        return [
            EvolutionServer(
                name=DEFAULT_SERVER,
                url=self.evolution_url,
                apikey=self.evolution_apikey,
                events_mode=self.evolution_events_mode,
                timeout=self.evolution_timeout,
            )
        ]

    def _evolution_problems(self) -> list[str]:
        if self.evolution_servers is not None:
            given = [
                name
                for name, value in (
                    ("RELAY_EVOLUTION_URL", self.evolution_url),
                    ("RELAY_EVOLUTION_APIKEY", self.evolution_apikey),
                )
                if value is not None
            ]
            if given:
                return [
                    f"{' and '.join(given)}: not with RELAY_EVOLUTION_SERVERS (the fleet file "
                    "names every server; the shorthand is for one server only)"
                ]
            return []
        problems = []
        if self.evolution_url is None:
            problems.append("RELAY_EVOLUTION_URL: required by serve (e.g. http://127.0.0.1:8080)")
        if self.evolution_apikey is None:
            problems.append("RELAY_EVOLUTION_APIKEY: required by serve (Evolution's global key)")
        return problems

    def problems_for_serve(self) -> list[str]:
        """What ``serve`` needs beyond what every command needs."""
        try:
            self.servers()
            problems = []
        except ConfigError as exc:
            problems = list(exc.problems)
        problems.extend(self.problems_for_tokens())
        return problems

    def problems_for_tokens(self) -> list[str]:
        if self.jwt_secret is None and self.jwt_public_key is None:
            return ["RELAY_JWT_SECRET: required (or RELAY_JWT_PUBLIC_KEY) to verify tokens"]
        if set(self.jwt_algorithms) & HMAC_ALGORITHMS and self.jwt_secret is None:
            return ["RELAY_JWT_SECRET: required by HS* in RELAY_JWT_ALGORITHMS"]
        return []


def _describe(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if loc:
        return f"RELAY_{loc[0].upper()}: {message}"
    return message


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment, an env file and ``overrides`` (CLI flags win).

    ``env_file`` (``--env-file``) replaces ``./.env``: the file a systemd unit names in
    ``EnvironmentFile=``, so that ``check`` and ``migrate`` see what the service sees. Variables
    already in the environment still win over the file, as pydantic-settings orders them.
    """
    clean = {key: value for key, value in overrides.items() if value is not None}
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError([f"--env-file: {env_file} is not a readable file"])
        clean["_env_file"] = env_file
    try:
        return Settings(**clean)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from exc
