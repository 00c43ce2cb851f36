#!/usr/bin/env node
// The Node peer: a minimal socket.io 4.8 relay doing the live job of evo-relay, to measure
// evo-relay against on the same machine in the same run (bench/run.py starts it).
//
// - Upstream: ONE socket.io-client connection to Evolution's root namespace "/" with the
//   `apikey` header, i.e. global mode (WEBSOCKET_GLOBAL_EVENTS=true). evo-relay is run with
//   RELAY_EVOLUTION_EVENTS_MODE=global for the scenarios it is compared on, so both servers
//   receive exactly the same single stream.
// - Frontends: socket.io 4.8 on its own port, JWT (HS256, claims tenantId/role/sub) verified at
//   connect from auth.token, an Authorization Bearer header or ?token=; a bad token gets
//   connect_error {message: "unauthorized"}. A client joins room tenant:<tenantId> (SUPERADMIN:
//   the all-tenants room) and gets `instances.snapshot` from an in-memory status map (evo-relay
//   reads Postgres instead).
// - Every upstream event of a known instance is re-emitted to its tenant's room (and the
//   all-tenants room) under its own name, without `apikey`, plus a per-tenant `seq` and
//   `receivedAt` (what evo-relay adds). connection.update / qrcode.updated also update the
//   status map and emit `instance.status` on a change. No database: status writes are not
//   part of the peer's cost.
//
// Environment: PORT, UPSTREAM_URL, UPSTREAM_APIKEY, JWT_SECRET, TENANTS_FILE (JSON object
// {instanceName: tenantId}). GET /readyz answers 200 once the upstream connection is up.
"use strict";

const http = require("node:http");
const fs = require("node:fs");
const { Server } = require("socket.io");
const { io: connectUpstream } = require("socket.io-client");
const jwt = require("jsonwebtoken");

const PORT = Number(process.env.PORT || 3101);
const SECRET = process.env.JWT_SECRET;
const tenantOf = new Map(Object.entries(JSON.parse(fs.readFileSync(process.env.TENANTS_FILE))));
const ALL_TENANTS = "tenants:all";

const status = new Map(); // instance -> {instanceName, status, qrcode, updatedAt}
for (const name of tenantOf.keys()) {
  status.set(name, { instanceName: name, status: "STARTING", qrcode: null, updatedAt: null });
}
const seqByTenant = new Map();
function nextSeq(tenant) {
  const seq = (seqByTenant.get(tenant) || 0) + 1;
  seqByTenant.set(tenant, seq);
  return seq;
}

let upstreamUp = false;
const httpServer = http.createServer((req, res) => {
  if (req.url === "/readyz" || req.url === "/healthz") {
    const ok = req.url === "/healthz" || upstreamUp;
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok, clients: ioServer.engine.clientsCount }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const ioServer = new Server(httpServer, { cors: { origin: "*" } });

function tokenOf(socket) {
  const hs = socket.handshake;
  if (hs.auth && typeof hs.auth.token === "string") return hs.auth.token;
  const header = hs.headers.authorization || "";
  if (header.startsWith("Bearer ")) return header.slice(7);
  return typeof hs.query.token === "string" ? hs.query.token : null;
}

ioServer.use((socket, next) => {
  try {
    const claims = jwt.verify(tokenOf(socket) || "", SECRET, { algorithms: ["HS256"] });
    const role = String(claims.role || "").toUpperCase();
    if (!["USER", "ADMIN", "SUPERADMIN"].includes(role) || !claims.sub) throw new Error("claims");
    if (role !== "SUPERADMIN" && !claims.tenantId) throw new Error("tenant");
    socket.data.tenant = claims.tenantId ? String(claims.tenantId) : null;
    socket.data.role = role;
    next();
  } catch {
    next(new Error("unauthorized"));
  }
});

ioServer.on("connection", (socket) => {
  const { tenant, role } = socket.data;
  const all = role === "SUPERADMIN" && tenant === null;
  socket.join(all ? ALL_TENANTS : `tenant:${tenant}`);
  const instances = [];
  for (const [name, s] of status) if (all || tenantOf.get(name) === tenant) instances.push(s);
  socket.emit("instances.snapshot", { instances, seq: all ? 0 : seqByTenant.get(tenant) || 0 });
});

function track(name, tenant, event, data) {
  let next = null;
  let qrcode;
  if (event === "qrcode.updated" && data && data.qrcode) {
    next = "SCAN_QR_CODE";
    const q = data.qrcode;
    qrcode = { base64: q.base64 || null, code: q.code || null, pairingCode: q.pairingCode || null };
  } else if (event === "connection.update" && data) {
    next = { open: "WORKING", connecting: "STARTING", refused: "STOPPED" }[data.state] || null;
    if (data.state === "close") next = data.statusReason === 401 ? "STOPPED" : "FAILED";
  }
  if (next === null) return;
  const before = status.get(name);
  const at = new Date().toISOString();
  status.set(name, {
    instanceName: name,
    status: next,
    qrcode: qrcode !== undefined ? qrcode : next === "SCAN_QR_CODE" ? before.qrcode : null,
    updatedAt: at,
  });
  if (before.status !== next) {
    const change = {
      instanceName: name,
      tenantId: tenant,
      status: next,
      previousStatus: before.status,
      reason: event,
      at,
      seq: nextSeq(tenant),
    };
    ioServer.to(`tenant:${tenant}`).to(ALL_TENANTS).emit("instance.status", change);
  }
}

function relayEvent(event, payload) {
  if (!payload || typeof payload.instance !== "string") return;
  const tenant = tenantOf.get(payload.instance);
  if (tenant === undefined) return;
  track(payload.instance, tenant, event, payload.data);
  const { apikey, ...rest } = payload; // eslint-disable-line no-unused-vars
  rest.seq = nextSeq(tenant);
  rest.receivedAt = new Date().toISOString();
  ioServer.to(`tenant:${tenant}`).to(ALL_TENANTS).emit(event, rest);
}

const upstream = connectUpstream(process.env.UPSTREAM_URL, {
  transports: ["websocket"],
  extraHeaders: { apikey: process.env.UPSTREAM_APIKEY },
  reconnectionDelay: 500,
  reconnectionDelayMax: 2000,
});
upstream.on("connect", () => {
  upstreamUp = true;
});
upstream.on("disconnect", () => {
  upstreamUp = false;
});
upstream.onAny(relayEvent);

httpServer.listen(PORT, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ listening: PORT, pid: process.pid }) + "\n");
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    upstream.close();
    ioServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
