"""Room names: the one helper every emit, join and leave goes through.

A tenant's client is in ``tenant:<id>``; a SUPERADMIN is in the all-tenants room. A client that
narrows its stream with ``subscribe`` leaves its default room for ``instance:<tenant>:<name>``
rooms (or, for a SUPERADMIN, ``tenant:<id>`` rooms). An event of instance *X* of tenant *T* goes
to exactly the rooms :func:`event_rooms` lists.
"""

from __future__ import annotations

from typing import Final

ALL_TENANTS: Final = "tenants:*"


def tenant_room(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def instance_room(tenant_id: str, instance_name: str) -> str:
    return f"instance:{tenant_id}:{instance_name}"


def event_rooms(tenant_id: str, instance_name: str) -> tuple[str, str, str]:
    """Every room that receives an event of ``instance_name`` (of ``tenant_id``)."""
    return tenant_room(tenant_id), instance_room(tenant_id, instance_name), ALL_TENANTS


def default_room(tenant_id: str | None, *, superadmin: bool) -> str:
    """The room a client joins at connect: its tenant's, or all tenants' for a SUPERADMIN."""
    if superadmin or tenant_id is None:
        return ALL_TENANTS
    return tenant_room(tenant_id)


def is_hub_room(room: object) -> bool:
    """One of the rooms above (python-socketio also keeps a room per client and ``None``)."""
    return isinstance(room, str) and ":" in room
