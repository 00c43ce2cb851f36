"""The wire shapes of the management API: what requests carry and what responses hold.

The handlers validate with these models and the OpenAPI document is generated from them
(:mod:`relay.api.openapi`), so the two cannot drift. Field names are the API's (camelCase).
Parsing and the Portuguese problem texts are in :mod:`relay.api.validation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from relay.api.validation import NAME_PATTERN, event_values, header_values, name_value
from relay.store.models import AuditEntry, Instance, Status, StatusChange

InstanceName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN), AfterValidator(name_value)
]
EventNames = Annotated[
    list[str],
    Field(description="Nomes de eventos da Evolution em maiúsculas (docs/upstream.md §4)"),
    AfterValidator(event_values),
]

# ---- requests ------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WebsocketSetRequest(_Request):
    """``POST /websocket/{name}``. ``CONNECTION_UPDATE`` and ``QRCODE_UPDATED`` are always added."""

    enabled: StrictBool
    events: EventNames


class WebhookSetRequest(_Request):
    """``POST /webhook/{name}``. ``headers`` are sent to Evolution and never echoed back.

    ``url`` must be http(s) and resolve to public addresses only (unless
    ``RELAY_WEBHOOK_ALLOW_PRIVATE``); header names are HTTP tokens and values carry no control
    characters."""

    enabled: StrictBool
    url: Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")]
    events: EventNames = Field(default_factory=list)
    headers: Annotated[dict[str, str], AfterValidator(header_values)] = Field(default_factory=dict)
    byEvents: StrictBool = False
    base64: StrictBool = False


class CreateInstanceRequest(_Request):
    """``POST /instances``. ``tenantId`` only for SUPERADMIN (others: their own tenant)."""

    instanceName: InstanceName
    tenantId: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    server: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")] | None = Field(
        None, description="SUPERADMIN: the Evolution server; otherwise placement picks"
    )


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


class WebsocketSettingOut(WebsocketOut):
    """The caller's setting, and apart, what is in force on Evolution (with ``enabled: false``
    Evolution still sends CONNECTION_UPDATE and QRCODE_UPDATED: statuses stay live)."""

    evolution: WebsocketOut


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
    server: str = Field(description="The Evolution server the instance lives on")

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
            server=instance.server,
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
    websocket: WebsocketSettingOut | None


class WebsocketSetResponse(MessageResponse):
    websocket: WebsocketSettingOut


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


class UpstreamStateOut(_Response):
    server: str
    state: Literal["up", "down"]
    since: datetime


class ClusterNodeOut(_Response):
    node: str
    bus: Literal["up", "down"] = Field(description="down: live events pause; HTTP goes on")
    since: datetime
    leading: list[str] = Field(description="Evolution servers this node follows")


class ReadyResponse(_Response):
    ready: bool
    checks: dict[str, bool]
    upstream: list[UpstreamStateOut] = Field(
        description="Each Evolution server's state; one being down alone does not make 503"
    )
    cluster: ClusterNodeOut | None = Field(
        None, description="Cluster only: this node, its bus, the servers it follows"
    )


class ServerOut(_Response):
    name: str
    url: str = Field(description="Without credentials; the API key is never shown")
    version: str | None
    state: Literal["up", "down"]
    since: datetime
    instances: int = Field(description="Instances recorded on it")
    capacity: int | None
    unowned: list[str] | None = Field(
        description="Instances on it that no tenant owns yet (adoptable); null if unreachable"
    )
    leader: str | None = Field(
        None, description="Cluster: the node that follows it (last took its lease); else null"
    )


class ServersResponse(Ok):
    servers: list[ServerOut]
