"""The hub: every live event a frontend sees leaves through here, numbered and kept.

``publish`` gives the event its tenant's next ``seq``, keeps it in the tenant's bounded
history, encodes it once, and hands the same bytes to every Socket.IO and SSE recipient in the
event's rooms. It does not await between numbering and delivering, and a client joins its room
in the same uninterrupted step that computes its welcome (see ``welcome``), so no client can
miss or repeat an event between its replay and the live stream.

A session lives as long as its token: when the relay stops accepting it (``exp`` plus
``RELAY_JWT_LEEWAY``), the client gets ``session.expired`` and the stream ends (Socket.IO:
disconnected; SSE: the response ends).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from relay.auth import Principal, TokenVerifier
from relay.config import Settings
from relay.errors import DatabaseUnavailable
from relay.hub import narrowing, sse, welcome
from relay.hub.delivery import event_frame
from relay.hub.history import History
from relay.hub.rooms import default_room, event_rooms
from relay.hub.sio import Client, SocketIoServer
from relay.metrics import Metrics
from relay.store import Instance, Status, StatusChange, Store
from relay.tasks import Tasks

log = logging.getLogger(__name__)

SNAPSHOT: Final = "instances.snapshot"
STATUS: Final = "instance.status"
ADDED: Final = "instance.added"
REMOVED: Final = "instance.removed"
UPSTREAM: Final = "upstream.status"
EXPIRED: Final = "session.expired"
CONNECT_SETTLE_TRIES: Final = 100
CLOSE_GRACE: Final = 1.0  # seconds clients get to close their websockets at shutdown


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Hub:
    def __init__(self, settings: Settings, store: Store, verifier: TokenVerifier,
                 metrics: Metrics, tasks: Tasks, *, fast: bool = True) -> None:  # fmt: skip
        """``fast``: the direct fan-out may be used (``relay.internals``, at start-up)."""
        self._store = store
        self._tasks = tasks
        self._history = History(settings.history_size)
        self._sse = sse.SseRooms()
        self._ended = metrics.sessions_ended
        self._io = SocketIoServer(
            settings, verifier, tasks.spawn, fast=fast,
            on_unauthenticated=self._ended.labels("socketio", "unauthenticated").inc,
        )  # fmt: skip
        # no wrapper coroutine: each one would stay on the stack of every open connection
        self.handle_socketio = self._io.handle_request
        self._io.bind(self._on_connect, self._on_disconnect, self._subscribe, self._unsubscribe)
        self._sio_deliveries = metrics.deliveries.labels("socketio")
        self._sse_deliveries = metrics.deliveries.labels("sse")
        self._sio_clients = metrics.clients.labels("socketio")
        self._sse_clients = metrics.clients.labels("sse")
        self._upstream: dict[str, dict[str, str]] = {}  # server -> {server, state, since}

    # -- what the live side calls --------------------------------------------------------

    async def publish(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int:
        """Number, keep and deliver one event; returns its seq."""
        seq = self._history.current(tenant_id) + 1
        body = {**payload, "seq": seq}
        body.pop("apikey", None)  # upstream strips it already; a frontend never sees one anyway
        payload_json = dumps(body)  # before numbering: a payload that is not JSON raises here
        self._history.next_seq(tenant_id)
        entry = self._history.append(tenant_id, instance_name, event, payload_json, seq)
        rooms = event_rooms(tenant_id, instance_name)
        self._sio_deliveries.inc(self._io.fanout.deliver(rooms, event_frame(event, payload_json)))
        self._sse_deliveries.inc(self._sse.deliver(rooms, entry))
        return seq

    async def status_changed(self, change: StatusChange) -> int:
        payload: dict[str, Any] = {
            "instanceName": change.instance_name,
            "tenantId": change.tenant_id,
            "status": change.status.value,
            "previousStatus": change.previous_status.value if change.previous_status else None,
            "reason": change.reason,
            "at": change.at.isoformat(),
            "server": change.server,
        }
        if change.status is Status.SCAN_QR_CODE and change.qrcode is not None:
            payload["qrcode"] = change.qrcode.model_dump()
        return await self.publish(change.tenant_id, change.instance_name, STATUS, payload)

    async def instance_added(self, instance: Instance) -> int:
        payload = {"instance": welcome.instance_entry(instance)}
        return await self.publish(instance.tenant_id, instance.name, ADDED, payload)

    async def instance_removed(self, instance: Instance, reason: str) -> int:
        payload = {
            "instanceName": instance.name,
            "tenantId": instance.tenant_id,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(),
        }
        return await self.publish(instance.tenant_id, instance.name, REMOVED, payload)

    def upstream_status(self, server: str, state: str, since: datetime) -> None:
        """To every client (not numbered: it is not a tenant's event), and into snapshots."""
        entry = self._upstream[server] = {
            "server": server, "state": state, "since": since.isoformat()
        }  # fmt: skip
        payload_json = dumps(entry)
        self._sio_deliveries.inc(self._io.fanout.broadcast(event_frame(UPSTREAM, payload_json)))
        self._sse_deliveries.inc(self._sse.broadcast(sse.frame(UPSTREAM, payload_json, None)))

    # -- the two transports --------------------------------------------------------------

    async def handle_sse(self, request: web.Request, principal: Principal) -> web.StreamResponse:
        """The SSE stream for ``principal`` (authenticated by the auth middleware)."""
        scope = _scope(principal)
        last = sse.parse_last_event_id(request) if scope is not None else None
        positions, instances = await self._read_snapshot(scope)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        })  # fmt: skip
        await response.prepare(request)
        sub = sse.Subscriber(default_room(principal.tenant, superadmin=principal.is_superadmin),
                             with_ids=scope is not None)  # fmt: skip
        # From the welcome to joining the room: no await, so nothing slips in between.
        greeting = self._greeting(scope, positions, instances, last)
        sub.push(self._sse_welcome(greeting, with_ids=scope is not None))
        self._sse.add(sub)
        self._sse_clients.inc()
        expiry = _at(principal.expires_at, self._expire_sse, sub)
        try:
            await sse.pump(request, response, sub)
        except ConnectionResetError:
            log.debug("SSE client of %s went away", principal.tenant)
        finally:
            if expiry is not None:
                expiry.cancel()
            self._sse.remove(sub)
            self._sse_clients.dec()
        return response

    def _expire_sse(self, sub: sse.Subscriber) -> None:
        self._ended.labels("sse", "expired").inc()
        sub.end(sse.frame(EXPIRED, dumps(_expired_payload()), None))

    def _expire_sio(self, sid: str) -> None:
        if sid not in self._io.clients:
            return
        self._ended.labels("socketio", "expired").inc()
        frame = event_frame(EXPIRED, dumps(_expired_payload()))
        self._tasks.spawn(self._io.end_session(sid, frame), name=f"hub-expire-{sid}")

    async def close(self) -> None:
        """At shutdown: end every SSE stream and disconnect every Socket.IO client."""
        self._sse.close_all()
        await self._io.close_all(grace=CLOSE_GRACE)

    # -- internals -----------------------------------------------------------------------

    async def _read_snapshot(self, scope: str | None) -> tuple[dict[str, int], list[Instance]]:
        """Positions first, then the rows: the welcome replays what came in between."""
        tenants = [scope] if scope is not None else self._history.known_tenants()
        positions = self._history.currents(tenants)
        return positions, await self._store.list_instances(scope)

    def _greeting(self, scope: str | None, positions: dict[str, int],
                  instances: list[Instance], last: welcome.LastSeq) -> welcome.Welcome:  # fmt: skip
        greeting = welcome.build(self._history, scope, positions, instances, last)
        greeting.snapshot["upstream"] = list(self._upstream.values())
        return greeting

    def _sse_welcome(self, greeting: welcome.Welcome, *, with_ids: bool) -> bytes:
        seq = greeting.snapshot["seq"]
        parts = [sse.entry_frame(entry, with_id=with_ids) for entry in greeting.before]
        parts.append(sse.frame(SNAPSHOT, dumps(greeting.snapshot),
                               seq if with_ids and isinstance(seq, int) else None))  # fmt: skip
        parts.extend(sse.entry_frame(entry, with_id=with_ids) for entry in greeting.after)
        return b"".join(parts)

    def _on_connect(self, sid: str, client: Client, last: welcome.LastSeq) -> None:
        self._sio_clients.inc()
        client.expiry = _at(client.principal.expires_at, self._expire_sio, sid)
        self._tasks.spawn(self._welcome(sid, client, last), name=f"hub-welcome-{sid}")

    def _on_disconnect(self, sid: str) -> None:
        self._sio_clients.dec()

    async def _welcome(self, sid: str, client: Client, last: welcome.LastSeq) -> None:
        try:
            positions, instances = await self._read_snapshot(client.scope)
        except DatabaseUnavailable:
            log.warning("no snapshot for a client of %s: database unavailable; disconnecting it",
                        client.principal.tenant)  # fmt: skip
            await self._io.disconnect(sid)
            return
        if not await self._settled(sid):
            return
        # From the welcome to joining the room: no await, so nothing slips in between.
        greeting = self._greeting(client.scope, positions, instances, last)
        frames = [event_frame(entry.event, entry.payload_json) for entry in greeting.before]
        frames.append(event_frame(SNAPSHOT, dumps(greeting.snapshot)))
        frames.extend(event_frame(entry.event, entry.payload_json) for entry in greeting.after)
        if self._io.fanout.send(sid, frames):
            for room in client.rooms():
                self._io.fanout.enter(sid, room)
            client.joined = True

    async def _settled(self, sid: str) -> bool:
        """Wait for python-socketio to finish the connect (its CONNECT must go out first)."""
        for _ in range(CONNECT_SETTLE_TRIES):
            if sid not in self._io.clients:
                return False
            if self._io.fanout.is_connected(sid):
                return True
            await asyncio.sleep(0)
        log.warning("client %s never finished connecting; dropping its welcome", sid)
        return False

    async def _subscribe(self, sid: str, client: Client, data: dict[str, Any]) -> dict[str, Any]:
        return await narrowing.subscribe(self._store, self._io.fanout, sid, client, data)

    async def _unsubscribe(self, sid: str, client: Client, data: dict[str, Any]) -> dict[str, Any]:
        return await narrowing.unsubscribe(self._store, self._io.fanout, sid, client, data)


def _at(when: float | None, callback: Any, arg: Any) -> asyncio.TimerHandle | None:
    """``callback(arg)`` at epoch time ``when`` (at once if past); None when ``when`` is."""
    if when is None:
        return None
    loop = asyncio.get_running_loop()
    return loop.call_later(max(0.0, when - time.time()), callback, arg)


def _expired_payload() -> dict[str, Any]:
    return {"reason": "token expired", "at": datetime.now(UTC).isoformat()}


def _scope(principal: Principal) -> str | None:
    return None if principal.is_superadmin else principal.tenant
