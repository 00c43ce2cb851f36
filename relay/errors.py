"""The exception tree of evo-relay.

Library errors (asyncpg, aiohttp's client, PyJWT, pydantic) are translated into this tree
where they enter, with ``raise ... from exc``. The error middleware turns any ``RelayError``
into the JSON shape of docs/api.md ``{"success": false, "message": ..., "code": ...}`` using
the class attributes ``status`` and ``code``; ``message`` is Brazilian Portuguese, shown to
users as a toast. Nothing in a message may carry a secret (API key, JWT, instance token).

    RelayError                          500 INTERNAL_ERROR
    ├── StartupFailure                  (start-up: the CLI prints .problems, exits .exit_code)
    │   ├── ConfigError                 exit 78 EX_CONFIG: will not fix itself by restarting
    │   │   ├── DatabaseRefused         (bad DSN, wrong password, unknown role or database)
    │   │   ├── MigrationFailed         (a migration step failed: privileges, conflicting objects)
    │   │   └── SchemaTooNew            (relay.store.migrations)
    │   ├── DependencyUnavailable       exit 69 EX_UNAVAILABLE: still down after the start-up wait
    │   └── CannotListen                exit 71 EX_OSERR: the OS refused the listen address
    ├── MalformedRequest                400 BAD_REQUEST        (unparsable or oversized request)
    ├── ValidationFailed                400 VALIDATION_ERROR   .problems: list[str]
    ├── Unauthenticated                 401 UNAUTHENTICATED
    ├── Forbidden                       403 FORBIDDEN
    ├── NotFound                        404 NOT_FOUND          (unknown route)
    ├── MethodNotAllowed                405 METHOD_NOT_ALLOWED
    ├── InstanceNotFound                404 INSTANCE_NOT_FOUND (unknown, or another tenant's)
    ├── Conflict                        409 CONFLICT           (name taken)
    ├── PayloadTooLarge                 413 PAYLOAD_TOO_LARGE
    ├── UnsupportedProvider             422 UNSUPPORTED_PROVIDER
    ├── DatabaseUnavailable             503 DATABASE_UNAVAILABLE
    └── UpstreamError                   502 UPSTREAM_ERROR     (Evolution answered an error)
        ├── UpstreamRejected            502 UPSTREAM_ERROR     .upstream_status, .upstream_message
        │   ├── UpstreamInstanceNotFound 404 INSTANCE_NOT_FOUND (Evolution: instance does not exist)
        │   └── UpstreamNameTaken        409 CONFLICT          (Evolution: name already in use)
        ├── WebsocketOutputDisabled     502 UPSTREAM_ERROR     (empty body from /websocket/*)
        ├── UpstreamUnavailable         503 UPSTREAM_UNAVAILABLE
        └── UpstreamTimeout             504 UPSTREAM_TIMEOUT
"""

from __future__ import annotations

from typing import ClassVar


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Erro interno"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


EX_CONFIG = 78
EX_UNAVAILABLE = 69
EX_OSERR = 71


class StartupFailure(RelayError):
    """Something an operator can fix stops the start: one line per problem, then ``exit_code``.

    Each line says what failed and what to do; none carries a secret. ``label`` prefixes the
    lines (``evo-relay: <label>: <problem>``).
    """

    exit_code: ClassVar[int] = 1
    label: ClassVar[str] = "error"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ConfigError(StartupFailure):
    """Invalid configuration; the CLI prints ``problems`` one per line and exits 78."""

    exit_code = EX_CONFIG
    label = "config error"


class DatabaseRefused(ConfigError):
    """The database answered and refused: login, role, database name, or the DSN itself."""


class MigrationFailed(ConfigError):
    """A schema migration step failed on a reachable database."""


class DependencyUnavailable(StartupFailure):
    """A dependency (the database) was still unreachable when the start-up wait ran out."""

    exit_code = EX_UNAVAILABLE
    label = "unavailable"


class CannotListen(StartupFailure):
    """The OS refused the listen address: in use, not permitted, or not an address here."""

    exit_code = EX_OSERR
    label = "cannot listen"


class MalformedRequest(RelayError):
    """The HTTP request could not be parsed: a line or header too long, too many headers."""

    status = 400
    code = "BAD_REQUEST"
    default_message = "Requisição HTTP inválida ou grande demais (URL ou cabeçalhos)"


class ValidationFailed(RelayError):
    status = 400
    code = "VALIDATION_ERROR"
    default_message = "Dados inválidos"

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        if message is None and self.problems:
            message = "Dados inválidos: " + "; ".join(self.problems)
        super().__init__(message)


class Unauthenticated(RelayError):
    status = 401
    code = "UNAUTHENTICATED"
    default_message = "Não autenticado"


class Forbidden(RelayError):
    status = 403
    code = "FORBIDDEN"
    default_message = "Sem permissão para esta ação"


class NotFound(RelayError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Rota não encontrada"


class MethodNotAllowed(RelayError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Método não permitido"


class InstanceNotFound(RelayError):
    status = 404
    code = "INSTANCE_NOT_FOUND"
    default_message = "Instância não encontrada"


class Conflict(RelayError):
    status = 409
    code = "CONFLICT"
    default_message = "Este nome de instância já está em uso"


class PayloadTooLarge(RelayError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Corpo da requisição grande demais"


class UnsupportedProvider(RelayError):
    status = 422
    code = "UNSUPPORTED_PROVIDER"
    default_message = "A instância não é uma instância da Evolution API"


class DatabaseUnavailable(RelayError):
    status = 503
    code = "DATABASE_UNAVAILABLE"
    default_message = "Banco de dados indisponível"


class UpstreamError(RelayError):
    """Evolution answered, but with an error."""

    status = 502
    code = "UPSTREAM_ERROR"
    default_message = "A Evolution API respondeu com um erro"


class UpstreamRejected(UpstreamError):
    """Evolution answered with an error status (or a 200 with ``{"error": true}``)."""

    def __init__(self, upstream_status: int, upstream_message: str) -> None:
        self.upstream_status = upstream_status
        self.upstream_message = upstream_message
        super().__init__(f"A Evolution API respondeu {upstream_status}: {upstream_message}")


class UpstreamInstanceNotFound(UpstreamRejected):
    status = 404
    code = "INSTANCE_NOT_FOUND"


class UpstreamNameTaken(UpstreamRejected):
    status = 409
    code = "CONFLICT"


class WebsocketOutputDisabled(UpstreamError):
    default_message = "A saída websocket está desativada no servidor Evolution"


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "UPSTREAM_UNAVAILABLE"
    default_message = "A Evolution API está inacessível"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "UPSTREAM_TIMEOUT"
    default_message = "A Evolution API demorou demais para responder"
