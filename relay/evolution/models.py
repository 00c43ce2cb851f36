"""Typed shapes of what goes to Evolution and what comes back (docs/upstream.md §3, §5).

Results carry ``upstream_status``, the HTTP status Evolution answered with, so the audit log
can record it. Upstream field names are camelCase; here they are snake_case, read through
validation aliases. Instance tokens are never kept on a result: ``fetchInstances`` rows carry
one, and the models drop it (``extra="ignore"``).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_VERSION_NUMBER = re.compile(r"\d+(?:\.\d+)*")


def _list_or_empty(value: Any) -> Any:
    """A stored ``events`` of ``null`` reads as ``[]``."""
    return [] if value is None else value


def _string_headers(value: Any) -> dict[str, str]:
    """Header values as strings (Evolution stores any JSON); anything but an object is ``{}``."""
    if not isinstance(value, dict):
        return {}
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in value.items()
    }


EventList = Annotated[list[str], BeforeValidator(_list_or_empty)]
Headers = Annotated[dict[str, str], BeforeValidator(_string_headers)]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)


def parse_version(version: str) -> tuple[int, ...] | None:
    """``"2.3.6"`` -> ``(2, 3, 6)``; ``"v2.0.10-rc1"`` -> ``(2, 0, 10)``; no digits -> None."""
    match = _VERSION_NUMBER.search(version)
    if match is None:
        return None
    return tuple(int(part) for part in match.group().split("."))


class ServerInfo(_Result):
    """``GET /`` (docs/upstream.md §3, last row)."""

    version: str
    client_name: str | None = Field(default=None, validation_alias="clientName")
    whatsapp_web_version: str | None = Field(default=None, validation_alias="whatsappWebVersion")
    upstream_status: int

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        return parse_version(self.version)

    @property
    def nested_event_config(self) -> bool:
        """2.1.0 and later take ``{"websocket": {...}}``; older servers the flat body (§10).

        An unreadable version is taken as the newest, like ``names.valid_events``.
        """
        version = self.version_tuple
        return version is None or version >= (2, 1)


class CreatedInstance(_Result):
    """``POST /instance/create`` → 201 (docs/upstream.md §3.1). The instance token is not kept."""

    instance_id: str
    name: str
    status: str
    upstream_status: int


class UpstreamInstance(_Result):
    """One ``fetchInstances`` row (docs/upstream.md §3.6), without its token."""

    name: str
    id: str
    connection_status: str | None = Field(default=None, validation_alias="connectionStatus")
    owner_jid: str | None = Field(default=None, validation_alias="ownerJid")
    profile_name: str | None = Field(default=None, validation_alias="profileName")
    profile_pic_url: str | None = Field(default=None, validation_alias="profilePicUrl")
    integration: str | None = None
    number: str | None = None
    disconnection_reason_code: int | None = Field(
        default=None, validation_alias="disconnectionReasonCode"
    )
    websocket_enabled: bool | None = None
    websocket_events: list[str] | None = None
    upstream_status: int

    @classmethod
    def from_row(cls, row: dict[str, Any], upstream_status: int) -> UpstreamInstance:
        websocket = row.get("Websocket")
        extra: dict[str, Any] = {"upstream_status": upstream_status}
        if isinstance(websocket, dict):
            extra["websocket_enabled"] = websocket.get("enabled")
            extra["websocket_events"] = websocket.get("events")
        clean = {k: v for k, v in row.items() if k != "token"}
        return cls.model_validate({**clean, **extra})


class ConnectResult(_Result):
    """``GET /instance/connect/{name}`` and restart (docs/upstream.md §3.2, §3.3).

    ``state`` is set only when Evolution answered ``{"instance": {"state": ...}}`` (already
    open); otherwise the QR fields are set when Evolution had a QR (often only ``count``).
    """

    state: str | None = None
    base64: str | None = None
    code: str | None = None
    pairing_code: str | None = Field(default=None, validation_alias="pairingCode")
    count: int | None = None
    upstream_status: int

    @classmethod
    def from_body(cls, body: dict[str, Any], upstream_status: int) -> ConnectResult:
        instance = body.get("instance")
        if isinstance(instance, dict):
            return cls(state=instance.get("state"), upstream_status=upstream_status)
        return cls.model_validate({**body, "upstream_status": upstream_status})


class ConnectionState(_Result):
    """``GET /instance/connectionState/{name}`` (docs/upstream.md §3): the live in-memory state."""

    name: str
    state: str  # "open" | "connecting" | "close"
    upstream_status: int


class LogoutResult(_Result):
    """``DELETE /instance/logout/{name}`` (docs/upstream.md §3.4)."""

    already_logged_out: bool
    upstream_status: int


class DeleteResult(_Result):
    """``DELETE /instance/delete/{name}`` (docs/upstream.md §3.5)."""

    upstream_status: int


class WebsocketConfig(_Result):
    """An instance's websocket output config (docs/upstream.md §5.1, §5.2)."""

    enabled: bool
    events: EventList = Field(default_factory=list)
    upstream_status: int


class WebhookConfig(BaseModel):
    """An instance's webhook config (docs/upstream.md §5.3): what you set and what comes back.

    ``upstream_status`` is None on a config you build and set on every result. ``headers`` is
    left out of ``repr``: it may hold a ``jwt_key`` or another secret of the receiving side.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    enabled: bool
    url: str
    events: EventList = Field(default_factory=list)
    headers: Headers = Field(default_factory=dict, repr=False)
    by_events: bool = Field(default=False, validation_alias="webhookByEvents")
    base64: bool = Field(default=False, validation_alias="webhookBase64")
    upstream_status: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], upstream_status: int) -> WebhookConfig:
        clean = dict(row)
        for key in ("webhookByEvents", "webhookBase64"):
            if clean.get(key) is None:
                clean.pop(key, None)
        return cls.model_validate({**clean, "upstream_status": upstream_status})
