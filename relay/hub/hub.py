"""The hub: every live event a frontend sees leaves through here, numbered and kept.

``publish`` gives the event its tenant's next ``seq``, keeps it in the tenant's bounded
history, encodes it once, and hands the same bytes to every Socket.IO and SSE recipient in the
event's rooms. It does not await between numbering and delivering, and a client joins its room
in the same uninterrupted step that computes its welcome (see ``welcome``), so no client can
miss or repeat an event between its replay and the live stream.

In a cluster (``RELAY_REDIS_URL``) the numbering and the history live in Redis
(:mod:`relay.bus`): ``publish`` hands the event to the bus, and every node, this one included,
delivers it when its bus reader reads it (``bus_event``), in the cluster's one order. A
client's first welcome on a node primes its tenant's mirror from Redis. While the bus is down,
live events pause, every client hears ``cluster.status`` and HTTP and snapshots go on; where
events were lost, clients are welcomed again (a fresh snapshot with ``recovered: false``).

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
from relay.bus import Bus, BusUnavailable
from relay.config import Settings
from relay.errors import DatabaseUnavailable
from relay.hub import narrowing, sse, welcome
from relay.hub.deadlines import Deadline, Deadlines
from relay.hub.delivery import event_frame
from relay.hub.history import Entry, History
from relay.hub.rooms import default_room, event_rooms
from relay.hub.sio import Client, SocketIoServer
from relay.hub.snapshots import SnapshotReader
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
CLUSTER: Final = "cluster.status"
CONNECT_SETTLE_TRIES: Final = 100
CLOSE_GRACE: Final = 1.0  # seconds clients get to close their websockets at shutdown


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Hub:
    def __init__(self, settings: Settings, store: Store, verifier: TokenVerifier,
                 metrics: Metrics, tasks: Tasks, *, fast: bool = True,
                 bus: Bus | None = None) -> None:  # fmt: skip
        """``fast``: the direct fan-out may be used (``relay.internals``, at start-up).
        ``bus``: this node is one of a cluster's."""
        self._store = store
        self._tasks = tasks
        self._bus = bus
        self._history = History(settings.history_size, mirror=bus is not None)
        self._metrics = metrics
        self._snapshots = SnapshotReader(store, self._history, bus)
        self.cluster: dict[str, Any] | None = None
        if bus is not None:
            self.cluster = {"node": bus.node, "state": "down", "since": _iso(bus.since)}
        self._sse = sse.SseRooms()
        self._ended = metrics.sessions_ended
        self._deadlines = Deadlines()  # every session's token expiry, on one timer
        self._io = SocketIoServer(
            settings, verifier, tasks.spawn, fast=fast, deadlines=self._deadlines,
            on_unauthenticated=self._ended.labels("socketio", "unauthenticated").inc,
        )  # fmt: skip
        # no wrapper coroutine: each one would stay on the stack of every open connection
        self.handle_socketio = self._io.handle_request
        self._io.bind(self._on_connect, self._on_disconnect, self._subscribe, self._unsubscribe)
        self._sio_deliveries = metrics.deliveries.labels("socketio")
        self._sse_deliveries = metrics.deliveries.labels("sse")
        self._sio_clients = metrics.clients.labels("socketio")
        self._sse_clients = metrics.clients.labels("sse")
        # per event on the bus: the labelled children looked up once
        self._bus_published = metrics.bus_events.labels("published")
        self._bus_received = metrics.bus_events.labels("received")
        self._upstream: dict[str, dict[str, str]] = {}  # server -> {server, state, since}

    # -- what the live side calls --------------------------------------------------------

    async def publish(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int:
        """Number, keep and deliver one event; returns its seq (0: the bus could not take it)."""
        if self._bus is not None:
            return await self._publish_on_bus(tenant_id, instance_name, event, payload)
        seq = self._history.current(tenant_id) + 1
        body = {**payload, "seq": seq}
        body.pop("apikey", None)  # upstream strips it already; a frontend never sees one anyway
        payload_json = dumps(body)  # before numbering: a payload that is not JSON raises here
        self._history.next_seq(tenant_id)
        self._deliver(self._history.append(tenant_id, instance_name, event, payload_json, seq))
        return seq

    def _deliver(self, entry: Entry) -> None:
        rooms = event_rooms(entry.tenant_id, entry.instance_name)
        frame = event_frame(entry.event, entry.payload_json)
        self._sio_deliveries.inc(self._io.fanout.deliver(rooms, frame))
        self._sse_deliveries.inc(self._sse.deliver(rooms, entry))

    async def _publish_on_bus(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int:
        assert self._bus is not None
        body = {key: value for key, value in payload.items() if key not in ("apikey", "seq")}
        head = dumps(body)[:-1]  # the bus's script closes it with the seq it gives
        try:
            seq = await self._bus.publish(tenant_id, instance_name, event, head)
        except BusUnavailable:
            self._metrics.bus_dropped.inc()
            return 0
        self._bus_published.inc()
        return seq

    # -- what the bus's reader calls (relay.bus.Receiver) ---------------------------------

    def bus_event(self, tenant_id: str, instance: str, event: str, seq: int,
                  payload_json: str, ordinal: int, node: str) -> None:  # fmt: skip
        entry = self._history.receive(tenant_id, instance, event, seq, payload_json, ordinal)
        if entry is not None:
            self._bus_received.inc()
            self._deliver(entry)

    def bus_reset(self, tenant_id: str, seq: int) -> None:
        log.info("tenant %s missed live events while the bus was down: its clients get a "
                 "fresh snapshot", tenant_id)  # fmt: skip
        self._history.reset(tenant_id, seq)
        self._welcome_again({tenant_id})

    def bus_state(self, up: bool, *, data_lost: bool) -> None:
        assert self._bus is not None
        self._metrics.bus_up.set(1 if up else 0)
        state = "up" if up else "down"
        self.cluster = {"node": self._bus.node, "state": state, "since": _iso(self._bus.since)}
        payload_json = dumps(self.cluster)
        self._sio_deliveries.inc(self._io.fanout.broadcast(event_frame(CLUSTER, payload_json)))
        self._sse_deliveries.inc(self._sse.broadcast(sse.frame(CLUSTER, payload_json, None)))
        if not up:
            return
        if data_lost:
            self._history.forget_all()
            self._snapshots.forget()
            self._snapshots.unprimed.clear()
            self._welcome_again(None)
        elif self._snapshots.unprimed:
            scopes, self._snapshots.unprimed = self._snapshots.unprimed, set()
            self._welcome_again(None if None in scopes else {s for s in scopes if s})

    def _welcome_again(self, tenants: set[str] | None) -> None:
        """Clients of ``tenants`` (None: all) get a fresh snapshot, ``recovered: false``:
        Socket.IO clients leave their rooms and are welcomed again; SSE streams end (the
        browser reconnects with Last-Event-ID, which now reads as a gap)."""
        for sid, client in list(self._io.clients.items()):
            if not client.joined or (tenants is not None and client.scope not in tenants
                                     and client.scope is not None):  # fmt: skip
                continue
            for room in client.rooms():
                self._io.fanout.leave(sid, room)
            client.joined = False
            self._tasks.spawn(self._welcome(sid, client, None, recovered=False),
                              name=f"hub-rewelcome-{sid}")  # fmt: skip
        rooms = None if tenants is None else {default_room(t, superadmin=False) for t in tenants}
        self._sse.end_rooms(rooms, sse.frame(CLUSTER, dumps(self.cluster), None))

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
        """To every client (not numbered: it is not a tenant's event), and into snapshots. In a
        cluster, through the bus: every node's clients hear the node that follows the server."""
        entry = {"server": server, "state": state, "since": since.isoformat()}
        if self._bus is None:
            self.upstream_entry(entry)
        else:
            self._tasks.spawn(self._share_upstream(entry), name=f"hub-upstream-{server}")

    async def _share_upstream(self, entry: dict[str, str]) -> None:
        assert self._bus is not None
        if not await self._bus.signal("upstream", entry["server"], dumps(entry), keep=True):
            self.upstream_entry(entry)  # the bus is down: this node's clients hear it at least

    def upstream_entry(self, entry: dict[str, str]) -> None:
        """The same, as it comes over the bus from the node that follows the server."""
        self._upstream[entry["server"]] = entry
        payload_json = dumps(entry)
        self._sio_deliveries.inc(self._io.fanout.broadcast(event_frame(UPSTREAM, payload_json)))
        self._sse_deliveries.inc(self._sse.broadcast(sse.frame(UPSTREAM, payload_json, None)))

    # -- the two transports --------------------------------------------------------------

    async def handle_sse(self, request: web.Request, principal: Principal) -> web.StreamResponse:
        """The SSE stream for ``principal`` (authenticated by the auth middleware)."""
        scope = _scope(principal)
        last = sse.parse_last_event_id(request) if scope is not None else None
        positions, rows = await self._snapshots.read(scope, last)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        })  # fmt: skip
        await response.prepare(request)
        sub = sse.Subscriber(default_room(principal.tenant, superadmin=principal.is_superadmin),
                             with_ids=scope is not None)  # fmt: skip
        # From the welcome to joining the room: no await, so nothing slips in between.
        greeting = self._greeting(scope, positions, rows, last)
        sub.push(self._sse_welcome(greeting, with_ids=scope is not None))
        self._sse.add(sub)
        self._sse_clients.inc()
        expiry = self._at(principal.expires_at, self._expire_sse, sub)
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
        self._deadlines.stop()

    def _at(self, when: float | None, callback: Any, arg: Any) -> Deadline | None:
        """``callback(arg)`` at epoch time ``when`` (at once if past); None when ``when`` is."""
        if when is None:
            return None
        return self._deadlines.call_later(when - time.time(), callback, arg)

    # -- internals -----------------------------------------------------------------------

    def _greeting(self, scope: str | None, positions: dict[str, int], rows: welcome.Rows,
                  last: welcome.LastSeq) -> welcome.Welcome:  # fmt: skip
        greeting = welcome.build(self._history, scope, positions, rows, last)
        greeting.snapshot["upstream"] = list(self._upstream.values())
        if self.cluster is not None:
            greeting.snapshot["cluster"] = self.cluster
        return greeting

    def _sse_welcome(self, greeting: welcome.Welcome, *, with_ids: bool) -> bytes:
        seq = greeting.snapshot["seq"]
        parts = [sse.entry_frame(entry, with_id=with_ids) for entry in greeting.before]
        parts.append(sse.frame(SNAPSHOT, greeting.snapshot_json(),
                               seq if with_ids and isinstance(seq, int) else None))  # fmt: skip
        parts.extend(sse.entry_frame(entry, with_id=with_ids) for entry in greeting.after)
        return b"".join(parts)

    def _on_connect(self, sid: str, client: Client, last: welcome.LastSeq) -> None:
        self._sio_clients.inc()
        client.expiry = self._at(client.principal.expires_at, self._expire_sio, sid)
        self._tasks.spawn(self._welcome(sid, client, last), name=f"hub-welcome-{sid}")

    def _on_disconnect(self, sid: str) -> None:
        self._sio_clients.dec()

    async def _welcome(self, sid: str, client: Client, last: welcome.LastSeq,
                       *, recovered: bool = True) -> None:  # fmt: skip
        try:
            positions, rows = await self._snapshots.read(client.scope, last)
        except DatabaseUnavailable:
            log.warning("no snapshot for a client of %s: database unavailable; disconnecting it",
                        client.principal.tenant)  # fmt: skip
            await self._io.disconnect(sid)
            return
        if not await self._settled(sid):
            return
        # From the welcome to joining the room: no await, so nothing slips in between.
        greeting = self._greeting(client.scope, positions, rows, last)
        if not recovered:
            greeting.snapshot["recovered"] = False
        frames = [event_frame(entry.event, entry.payload_json) for entry in greeting.before]
        frames.append(event_frame(SNAPSHOT, greeting.snapshot_json()))
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


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _expired_payload() -> dict[str, Any]:
    return {"reason": "token expired", "at": datetime.now(UTC).isoformat()}


def _scope(principal: Principal) -> str | None:
    return None if principal.is_superadmin else principal.tenant
