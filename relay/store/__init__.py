"""Postgres persistence: the pool, migrations, the embedded server, and every query."""

from relay.store.models import AuditEntry, Instance, QrCode, Status, StatusChange
from relay.store.store import StatusUpdate, Store

__all__ = ["AuditEntry", "Instance", "QrCode", "Status", "StatusChange", "StatusUpdate", "Store"]
