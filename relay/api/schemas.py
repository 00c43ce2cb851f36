"""The wire shapes of the management API: what requests carry and what responses hold.

The handlers validate with these models and the OpenAPI document is generated from them
(:mod:`relay.api.openapi`), so the two cannot drift. Field names are SPEC's (camelCase).
Validation failures become one :class:`relay.errors.ValidationFailed` that lists every
problem, in Brazilian Portuguese (see :func:`parse`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from relay.errors import ValidationFailed
from relay.evolution.names import EVENTS_2_3
from relay.store.models import AuditEntry, Instance, Status, StatusChange

NAME_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_PROBLEM: Final = "nome da instância inválido: use de 1 a 64 caracteres entre A-Z a-z 0-9 . _ -"
_KNOWN_EVENTS: Final = frozenset(EVENTS_2_3)

_M = TypeVar("_M", bound=BaseModel)


def is_valid_name(raw: str) -> bool:
    """1–64 of ``[A-Za-z0-9._-]``, and not only dots (``.``/``..`` are path tricks)."""
    return _NAME.fullmatch(raw) is not None and raw.strip(".") != ""


def check_name(raw: str) -> str:
    if not is_valid_name(raw):
        raise ValidationFailed(problems=[NAME_PROBLEM])
    return raw


def _name(value: str) -> str:
    if not is_valid_name(value):
        raise ValueError(NAME_PROBLEM)
    return value


def _events(values: list[str]) -> list[str]:
    invalid = [event for event in values if event not in _KNOWN_EVENTS]
    if invalid:
        raise ValueError("; ".join(f'evento inválido: "{event}"' for event in invalid))
    return list(dict.fromkeys(values))  # duplicates removed, order kept


InstanceName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN), AfterValidator(_name)
]
EventNames = Annotated[
    list[str],
    Field(description="Nomes de eventos da Evolution em maiúsculas (EVOLUTION.md §4)"),
    AfterValidator(_events),
]


# ---- requests ------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WebsocketSetRequest(_Request):
    """``POST /websocket/{name}``. ``CONNECTION_UPDATE`` and ``QRCODE_UPDATED`` are always added."""

    enabled: StrictBool
    events: EventNames


class WebhookSetRequest(_Request):
    """``POST /webhook/{name}``. ``headers`` are sent to Evolution and never echoed back."""

    enabled: StrictBool
    url: Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")]
    events: EventNames = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    byEvents: StrictBool = False
    base64: StrictBool = False


class CreateInstanceRequest(_Request):
    """``POST /instances``. ``tenantId`` only for SUPERADMIN (others: their own tenant)."""

    instanceName: InstanceName
    tenantId: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class ConnectRequest(_Request):
    """``POST /connect/{name}``; ``number`` (digits only) asks Evolution for a pairing code."""

    number: Annotated[str, Field(pattern=r"^[0-9]{8,15}$")] | None = None


class InstancesQuery(_Request):
    tenantId: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class AuditQuery(_Request):
    instanceName: InstanceName | None = None
    tenantId: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50


# ---- responses -----------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class QrCodeOut(_Response):
    base64: str | None
    code: str | None
    pairingCode: str | None


class WebsocketOut(_Response):
    enabled: bool
    events: list[str]


class WebhookOut(_Response):
    enabled: bool
    url: str
    events: list[str]
    headerNames: list[str] = Field(description="Nomes dos cabeçalhos; os valores nunca voltam")
    byEvents: bool
    base64: bool


class InstanceOut(_Response):
    instanceName: str
    tenantId: str
    provider: str
    status: Status
    statusReason: str | None
    statusAt: datetime
    updatedAt: datetime
    createdAt: datetime
    qrcode: QrCodeOut | None
    profileName: str | None
    wuid: str | None
    websocket: WebsocketOut

    @classmethod
    def of(cls, instance: Instance) -> InstanceOut:
        qr = instance.qrcode
        return cls(
            instanceName=instance.name,
            tenantId=instance.tenant_id,
            provider=instance.provider,
            status=instance.status,
            statusReason=instance.status_reason,
            statusAt=instance.status_at,
            updatedAt=instance.updated_at,
            createdAt=instance.created_at,
            qrcode=None if qr is None else QrCodeOut(**qr.model_dump()),
            profileName=instance.profile_name,
            wuid=instance.wuid,
            websocket=WebsocketOut(
                enabled=instance.websocket_enabled, events=list(instance.websocket_events)
            ),
        )


class StatusChangeOut(_Response):
    at: datetime
    # "from" is a Python keyword: the field is from_ and goes out as "from".
    from_: Status | None = Field(serialization_alias="from")
    to: Status
    reason: str | None

    @classmethod
    def of(cls, change: StatusChange) -> StatusChangeOut:
        return cls(at=change.at, from_=change.previous_status, to=change.status,
                   reason=change.reason)  # fmt: skip


class AuditEntryOut(_Response):
    id: int | None
    at: datetime | None
    actor: str
    role: str
    tenantId: str | None
    instanceName: str | None
    action: str
    outcome: str
    upstreamStatus: int | None
    durationMs: float
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id, at=entry.at, actor=entry.actor, role=entry.role,
            tenantId=entry.tenant_id, instanceName=entry.instance_name, action=entry.action,
            outcome=entry.outcome, upstreamStatus=entry.upstream_status,
            durationMs=entry.duration_ms, detail=entry.detail,
        )  # fmt: skip


class Ok(_Response):
    success: bool = True


class MessageResponse(Ok):
    message: str


class InstanceResponse(MessageResponse):
    instance: InstanceOut


class CreateInstanceResponse(InstanceResponse):
    adopted: bool = Field(description="true: the instance already existed on Evolution")


class DeleteResponse(MessageResponse):
    instanceName: str


class InstancesResponse(Ok):
    instances: list[InstanceOut]


class StatusResponse(Ok):
    instance: InstanceOut
    connectionState: str | None = Field(
        description="Evolution's live state (open, connecting, close); null when unreachable"
    )
    upstreamError: str | None = Field(description="the error code when Evolution failed")
    history: list[StatusChangeOut]


class WebsocketResponse(Ok):
    websocket: WebsocketOut | None


class WebsocketSetResponse(MessageResponse):
    websocket: WebsocketOut


class WebhookResponse(Ok):
    webhook: WebhookOut | None


class WebhookSetResponse(MessageResponse):
    webhook: WebhookOut


class AuditResponse(Ok):
    entries: list[AuditEntryOut]


class ErrorResponse(_Response):
    success: bool = False
    message: str
    code: str
    errors: list[str] | None = Field(default=None, description="every problem (400 only)")


class HealthResponse(_Response):
    status: str


class ReadyResponse(_Response):
    ready: bool
    checks: dict[str, bool]


# ---- parsing -------------------------------------------------------------------------------

_MESSAGES: Final[dict[str, str]] = {
    "missing": "campo obrigatório",
    "bool_type": "deve ser true ou false",
    "string_type": "deve ser um texto",
    "list_type": "deve ser uma lista",
    "dict_type": "deve ser um objeto",
    "int_parsing": "deve ser um número inteiro",
    "int_type": "deve ser um número inteiro",
    "string_pattern_mismatch": "formato inválido",
    "string_too_short": "curto demais",
    "string_too_long": "longo demais",
    "greater_than_equal": "pequeno demais",
    "less_than_equal": "grande demais",
    "model_type": "o corpo deve ser um objeto JSON",
}


def _problems(exc: pydantic.ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "value_error":
            text = str(error["msg"]).removeprefix("Value error, ")
            problems.extend(f"{where}: {part}" if where else part for part in text.split("; "))
            continue
        text = _MESSAGES.get(error["type"], str(error["msg"]))
        problems.append(f"{where}: {text}" if where else text)
    return problems


def parse(model: type[_M], data: object) -> _M:
    """``data`` as ``model``, or one ``ValidationFailed`` listing every problem."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed(problems=_problems(exc)) from exc


def parse_json(raw: bytes, model: type[_M], *, empty_ok: bool = False) -> _M:
    """A request body: malformed JSON, a non-object or a bad field is a 400, never a 500."""
    if not raw.strip():
        if empty_ok:
            return parse(model, {})
        raise ValidationFailed(problems=["corpo da requisição vazio: envie um objeto JSON"])
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(problems=["JSON malformado no corpo da requisição"]) from exc
    if not isinstance(data, dict):
        raise ValidationFailed(problems=["o corpo deve ser um objeto JSON"])
    return parse(model, data)
