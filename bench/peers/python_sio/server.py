"""The stock python-socketio peer: what a Python user gets without this project.

The same live job as the Node peer (``bench/peers/node-relay/relay.js``), written the way the
python-socketio documentation shows it: ``socketio.AsyncServer`` on aiohttp, one
``socketio.AsyncClient`` upstream in global mode, and every event re-emitted with
``AsyncServer.emit(event, data, to=room)``. No fast path, no database; uvloop as the relay
has it, so the loop is not what differs.

- Frontends: JWT (HS256, claims tenantId/role/sub) from ``auth.token``, an ``Authorization:
  Bearer`` header or ``?token=``; a bad token is refused (``connect_error``). A client joins
  ``tenant:<id>`` (SUPERADMIN without a tenant: the all-tenants room) and gets
  ``instances.snapshot`` from an in-memory status map.
- Every upstream event of a known instance goes to its tenant's room and the all-tenants room
  under its own name, without ``apikey``, with a per-tenant ``seq`` and ``receivedAt``.
  ``connection.update`` / ``qrcode.updated`` update the map and emit ``instance.status`` on a
  change.

Environment: PORT, UPSTREAM_URL, UPSTREAM_APIKEY, JWT_SECRET, TENANTS_FILE (JSON object
``{instanceName: tenantId}``). ``GET /readyz`` answers 200 once the upstream connection is up.
Run: ``python -m bench.peers.python_sio.server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
import socketio
import uvloop
from aiohttp import web

ALL_TENANTS = "tenants:all"
ROLES = ("USER", "ADMIN", "SUPERADMIN")
STATES = {"open": "WORKING", "connecting": "STARTING", "refused": "STOPPED"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Peer:
    def __init__(self, tenants: dict[str, str], secret: str) -> None:
        self.tenant_of = tenants
        self.secret = secret
        self.status: dict[str, dict[str, Any]] = {
            name: {"instanceName": name, "status": "STARTING", "qrcode": None, "updatedAt": None}
            for name in tenants
        }
        self.seq: dict[str, int] = {}
        self.upstream_up = False
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
        self.sio.on("connect", self.on_connect)
        self.upstream = socketio.AsyncClient(reconnection_delay=0.5, reconnection_delay_max=2)
        self.upstream.on("connect", self.on_upstream_up)
        self.upstream.on("disconnect", self.on_upstream_down)
        self.upstream.on("*", self.on_upstream_event)

    def next_seq(self, tenant: str) -> int:
        seq = self.seq.get(tenant, 0) + 1
        self.seq[tenant] = seq
        return seq

    def _token(self, environ: dict[str, Any], auth: Any) -> str:
        if isinstance(auth, dict) and isinstance(auth.get("token"), str):
            return str(auth["token"])
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        if header.startswith("Bearer "):
            return header[7:]
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        return query.get("token", [""])[0]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        try:
            claims = jwt.decode(self._token(environ, auth), self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        role = str(claims.get("role", "")).upper()
        tenant = claims.get("tenantId")
        if role not in ROLES or not claims.get("sub") or (role != "SUPERADMIN" and not tenant):
            return False
        every = role == "SUPERADMIN" and tenant is None
        await self.sio.enter_room(sid, ALL_TENANTS if every else f"tenant:{tenant}")
        instances = [
            s for name, s in self.status.items() if every or self.tenant_of.get(name) == tenant
        ]
        seq = 0 if every else self.seq.get(str(tenant), 0)
        await self.sio.emit("instances.snapshot", {"instances": instances, "seq": seq}, to=sid)
        return True

    async def on_upstream_up(self) -> None:
        self.upstream_up = True

    async def on_upstream_down(self, *args: Any) -> None:
        self.upstream_up = False

    async def track(self, name: str, tenant: str, event: str, data: Any) -> None:
        nxt: str | None = None
        qrcode: Any = ...
        if event == "qrcode.updated" and isinstance(data, dict) and data.get("qrcode"):
            nxt = "SCAN_QR_CODE"
            q = data["qrcode"]
            qrcode = {k: q.get(k) for k in ("base64", "code", "pairingCode")}
        elif event == "connection.update" and isinstance(data, dict):
            nxt = STATES.get(str(data.get("state")))
            if data.get("state") == "close":
                nxt = "STOPPED" if data.get("statusReason") == 401 else "FAILED"
        if nxt is None:
            return
        before = self.status[name]
        at = _now()
        if qrcode is ...:
            qrcode = before["qrcode"] if nxt == "SCAN_QR_CODE" else None
        self.status[name] = {"instanceName": name, "status": nxt, "qrcode": qrcode, "updatedAt": at}
        if before["status"] != nxt:
            change = {
                "instanceName": name, "tenantId": tenant, "status": nxt,
                "previousStatus": before["status"], "reason": event, "at": at,
                "seq": self.next_seq(tenant),
            }  # fmt: skip
            await self.sio.emit("instance.status", change, to=[f"tenant:{tenant}", ALL_TENANTS])

    async def on_upstream_event(self, event: str, payload: Any = None) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("instance"), str):
            return
        name = payload["instance"]
        tenant = self.tenant_of.get(name)
        if tenant is None:
            return
        await self.track(name, tenant, event, payload.get("data"))
        rest = {k: v for k, v in payload.items() if k != "apikey"}
        rest["seq"] = self.next_seq(tenant)
        rest["receivedAt"] = _now()
        await self.sio.emit(event, rest, to=[f"tenant:{tenant}", ALL_TENANTS])


async def main() -> None:
    port = int(os.environ.get("PORT", "3102"))
    with open(os.environ["TENANTS_FILE"]) as f:  # noqa: ASYNC230 (at start-up, once)
        tenants = json.load(f)
    peer = Peer(tenants, os.environ["JWT_SECRET"])
    app = web.Application()
    peer.sio.attach(app)

    async def ready(request: web.Request) -> web.Response:
        ok = request.path == "/healthz" or peer.upstream_up
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    app.router.add_get("/readyz", ready)
    app.router.add_get("/healthz", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    await peer.upstream.connect(
        os.environ["UPSTREAM_URL"], headers={"apikey": os.environ["UPSTREAM_APIKEY"]},
        transports=["websocket"], wait_timeout=10,
    )  # fmt: skip
    sys.stdout.write(json.dumps({"listening": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await peer.upstream.disconnect()
    await runner.cleanup()


if __name__ == "__main__":
    uvloop.run(main())
