"""Reading Evolution's successful replies into models (docs/upstream.md §3, §5).

A reply that is not the expected JSON shape becomes ``UpstreamRejected`` with the HTTP status
it came with, never a pydantic or JSON error escaping the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from relay.errors import UpstreamRejected, ValidationFailed, WebsocketOutputDisabled
from relay.evolution.models import (
    ConnectionState,
    CreatedInstance,
    ServerInfo,
    UpstreamInstance,
    WebhookConfig,
    WebsocketConfig,
)
from relay.evolution.names import valid_events
from relay.evolution.transport import Reply

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)


def require_name(name: str) -> None:
    if not name:
        raise ValidationFailed(problems=["nome da instância vazio"])


def check_events(events: Sequence[str], info: ServerInfo | None) -> None:
    if isinstance(events, str):
        raise TypeError("events must be a list of event names, not a string")
    version = info.version_tuple if info is not None else None
    valid = frozenset(valid_events(version))
    invalid = [event for event in events if event not in valid]
    if invalid:
        label = info.version if info is not None else "2.3"
        raise ValidationFailed(
            problems=[f'evento inválido para a Evolution {label}: "{event}"' for event in invalid]
        )


def json_object(reply: Reply, what: str) -> dict[str, Any]:
    """The body as a JSON object, or ``UpstreamRejected`` naming what was wrong with it."""
    if reply.body.is_json and isinstance(reply.body.json, dict):
        return reply.body.json
    found = "an empty body" if reply.body.empty else "a non-object body"
    raise UpstreamRejected(reply.status, f"{what} answered {found}")


def json_object_or_null(reply: Reply, what: str) -> dict[str, Any] | None:
    if reply.body.is_json and reply.body.json is None:
        return None
    return json_object(reply, what)


def parse(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UpstreamRejected(int(data.get("upstream_status", 0)), shape_problem(exc)) from exc


def parse_webhook(row: dict[str, Any], status: int) -> WebhookConfig:
    try:
        return WebhookConfig.from_row(row, status)
    except pydantic.ValidationError as exc:
        raise UpstreamRejected(status, shape_problem(exc)) from exc


def shape_problem(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"unexpected response shape at {where}: {first['msg']}"


def created_instance(reply: Reply, name: str) -> CreatedInstance:
    """The 201 of ``POST /instance/create`` (§3.1); the ``hash`` (instance token) is not read."""
    instance = json_object(reply, "POST /instance/create").get("instance")
    if not isinstance(instance, dict):
        raise UpstreamRejected(reply.status, "create answered without an 'instance' object")
    return parse(
        CreatedInstance,
        {
            "instance_id": instance.get("instanceId"),
            "name": instance.get("instanceName", name),
            "status": instance.get("status", "close"),
            "upstream_status": reply.status,
        },
    )


def instance_rows(reply: Reply) -> list[UpstreamInstance]:
    """The array of ``fetchInstances`` (§3.6), tokens dropped."""
    rows: Any = reply.body.json if reply.body.is_json else None
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UpstreamRejected(reply.status, "fetchInstances did not answer an array")
    try:
        return [UpstreamInstance.from_row(row, reply.status) for row in rows]
    except pydantic.ValidationError as exc:
        raise UpstreamRejected(reply.status, shape_problem(exc)) from exc


def connection_state(reply: Reply, name: str) -> ConnectionState:
    """``{"instance": {"instanceName", "state"}}`` of ``connectionState`` (§3)."""
    instance = json_object(reply, "connectionState").get("instance")
    if not isinstance(instance, dict):
        raise UpstreamRejected(reply.status, "connectionState answered without 'instance'")
    return parse(
        ConnectionState,
        {
            "name": instance.get("instanceName", name),
            "state": instance.get("state"),
            "upstream_status": reply.status,
        },
    )


def websocket_row(reply: Reply, name: str) -> WebsocketConfig | None:
    """A ``/websocket/*`` reply (§5.1, §5.2): the row, ``None`` for ``null``, and an empty body
    (websocket output switched off on the server, §11.2) as ``WebsocketOutputDisabled``."""
    if reply.body.empty:
        log.warning(
            "websocket output is disabled on the Evolution server (empty body for instance %s)",
            name,
        )
        raise WebsocketOutputDisabled()
    row = json_object_or_null(reply, "websocket")
    if row is None:
        return None
    return parse(WebsocketConfig, {**row, "upstream_status": reply.status})
