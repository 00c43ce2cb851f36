"""Postgres persistence: the pool, migrations, the embedded server, every query, and the
status writer that keeps statuses ordered and durable across database outages."""

from relay.store.models import (
    AuditEntry,
    Instance,
    QrCode,
    Removal,
    Status,
    StatusChange,
    StatusIntent,
)
from relay.store.store import StatusUpdate, Store

__all__ = [
    "AuditEntry",
    "Instance",
    "QrCode",
    "Removal",
    "Status",
    "StatusChange",
    "StatusIntent",
    "StatusUpdate",
    "Store",
]
