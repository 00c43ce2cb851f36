"""``subscribe`` / ``unsubscribe``: a client narrows its stream to chosen instances (or tenants).

``{instanceName}`` is authorized against the caller: an instance of another tenant, or one
that does not exist, is ``{ok: false, error: "not found"}`` (the same answer, so names of
other tenants do not leak). ``{tenantId}`` is for a SUPERADMIN only.

The first ``subscribe`` takes the client out of its default room; from then on it gets only
the events of what it subscribed to. Unsubscribing the last one puts it back in its default
room (the whole tenant, or all tenants). Room changes are synchronous (see ``fanout``), and
before the client's welcome has run they are only recorded, then applied by the welcome.
"""

from __future__ import annotations

from typing import Any

from relay.hub.delivery import Fanout
from relay.hub.rooms import instance_room, tenant_room
from relay.hub.sio import Client
from relay.store import Store

Ack = dict[str, Any]


async def _target(store: Store, client: Client, data: dict[str, Any]) -> str | Ack:
    name = data.get("instanceName")
    tenant = data.get("tenantId")
    if isinstance(name, str) and name:
        instance = await store.get_instance(name)
        if instance is None or not client.principal.sees(instance.tenant_id):
            return {"ok": False, "error": "not found"}
        return instance_room(instance.tenant_id, instance.name)
    if isinstance(tenant, str | int) and str(tenant):
        if not client.principal.is_superadmin:
            return {"ok": False, "error": "forbidden"}
        return tenant_room(str(tenant))
    return {"ok": False, "error": "invalid: instanceName or tenantId is required"}


async def _connected_target(store: Store, fanout: Fanout, sid: str, client: Client,
                            data: dict[str, Any]) -> str | Ack:  # fmt: skip
    """The room ``data`` names, or the refusal to send back."""
    room = await _target(store, client, data)
    if isinstance(room, str) and not fanout.is_connected(sid):
        return {"ok": False, "error": "not connected"}
    return room


async def subscribe(store: Store, fanout: Fanout, sid: str, client: Client,
                    data: dict[str, Any]) -> Ack:  # fmt: skip
    room = await _connected_target(store, fanout, sid, client, data)
    if isinstance(room, dict):
        return room
    if client.joined and not client.subscriptions:
        fanout.leave(sid, client.room)
    client.subscribe(room)
    if client.joined:
        fanout.enter(sid, room)
    return {"ok": True}


async def unsubscribe(store: Store, fanout: Fanout, sid: str, client: Client,
                      data: dict[str, Any]) -> Ack:  # fmt: skip
    room = await _connected_target(store, fanout, sid, client, data)
    if isinstance(room, dict):
        return room
    if room in client.subscriptions:
        client.unsubscribe(room)
        if client.joined:
            fanout.leave(sid, room)
            if not client.subscriptions:
                fanout.enter(sid, client.room)
    return {"ok": True}
