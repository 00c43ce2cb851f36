"""What the client sends: request bodies for create and the websocket/webhook set routes.

``events`` is always an array (docs/upstream.md §3.1, §5, §11.5). The websocket and webhook bodies
are nested from 2.1.0 on and flat before (§10); :func:`websocket_body` and
:func:`webhook_body` pick the shape. Bodies are serialised by alias, ``None`` fields dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

from relay.evolution.models import WebhookConfig

INTEGRATION = "WHATSAPP-BAILEYS"


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)


class EventConfigBody(_Body):
    """``{"enabled", "events"}``; ``events`` is always an array (docs/upstream.md §3.1, §11)."""

    enabled: bool
    events: list[str]


class WebsocketSetBody(_Body):
    """The nested body of ``/websocket/set`` on 2.1.0 and later (docs/upstream.md §5.1)."""

    websocket: EventConfigBody


class WebhookBody(_Body):
    enabled: bool
    url: str
    events: list[str]
    headers: dict[str, str] | None = None
    by_events: bool = Field(serialization_alias="byEvents")
    base64: bool


class WebhookSetBody(_Body):
    """The nested body of ``/webhook/set`` (docs/upstream.md §5.3)."""

    webhook: WebhookBody


class FlatWebhookBody(_Body):
    """The body of ``/webhook/set`` before 2.1.0 (flat, camelCase flags)."""

    enabled: bool
    url: str
    events: list[str]
    headers: dict[str, str] | None = None
    by_events: bool = Field(serialization_alias="webhookByEvents")
    base64: bool = Field(serialization_alias="webhookBase64")


class CreateBody(_Body):
    """``POST /instance/create`` (docs/upstream.md §3.1). ``repr`` never shows the token."""

    instance_name: str = Field(serialization_alias="instanceName")
    integration: str = INTEGRATION
    token: SecretStr | None = None
    websocket: EventConfigBody | None = None

    @field_serializer("token", when_used="json-unless-none")
    def _reveal_token(self, token: SecretStr) -> str:
        return token.get_secret_value()


def websocket_body(enabled: bool, events: Sequence[str], *, nested: bool) -> BaseModel:
    """``{"websocket": {enabled, events}}`` (2.1.0 and later) or the flat ``{enabled, events}``."""
    config = EventConfigBody(enabled=enabled, events=list(events))
    return WebsocketSetBody(websocket=config) if nested else config


def webhook_body(config: WebhookConfig, *, nested: bool) -> BaseModel:
    """``{"webhook": {...}}`` (2.1.0 and later) or the flat body of 2.0.x."""
    fields = {
        "enabled": config.enabled,
        "url": config.url,
        "events": list(config.events),
        "headers": dict(config.headers) or None,
        "by_events": config.by_events,
        "base64": config.base64,
    }
    if nested:
        return WebhookSetBody(webhook=WebhookBody.model_validate(fields))
    return FlatWebhookBody.model_validate(fields)
