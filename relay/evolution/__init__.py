"""The Evolution API v2 HTTP client (docs/upstream.md): ``EvolutionClient`` and its models."""

from relay.evolution.client import EvolutionClient
from relay.evolution.models import (
    ConnectionState,
    ConnectResult,
    CreatedInstance,
    DeleteResult,
    LogoutResult,
    ServerInfo,
    UpstreamInstance,
    WebhookConfig,
    WebsocketConfig,
)

__all__ = [
    "ConnectResult",
    "ConnectionState",
    "CreatedInstance",
    "DeleteResult",
    "EvolutionClient",
    "LogoutResult",
    "ServerInfo",
    "UpstreamInstance",
    "WebhookConfig",
    "WebsocketConfig",
]
