#!/usr/bin/env node
// One load-generator process: N Socket.IO clients (the official socket.io-client), driven by
// JSON-line commands on stdin and answering JSON lines on stdout. bench/loadpool.py runs several.
//
// argv[2] is a JSON config:
//   {url, secret, tenants: ["t001", ...] (client first+i gets tenants[(first+i) % length]),
//    clients, first (index of this process's first client, for the `sub` claim),
//    concurrency (connections in flight), role}
//
// Commands (one JSON object per line, each answered by one line with the same "cmd"):
//   connect   open every client (websocket transport only), wait for each one's snapshot
//   reset     zero the counters and the latency histogram (start of a measurement window)
//   report    counters, per-second receipt counts and the latency histogram
//   storm     every client disconnects and reconnects at once; time until each has a snapshot
//   close     disconnect every client
// Latency = receipt time - the send time the simulator puts in messages.upsert data.key.id
// ("SIM-<epoch ms>-<seq>", simulator/load.py). Both clocks are CLOCK_REALTIME.
"use strict";

const { io } = require("socket.io-client");
const jwt = require("jsonwebtoken");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");

const cfg = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();

// Histogram: 0.1 ms buckets below 1 s, 1 ms buckets up to 120 s, then one overflow bucket.
const FINE = 10000;
const COARSE = 120000;
let fine = new Float64Array(FINE);
let coarse = new Float64Array(COARSE + 1);
let maxLatency = 0;
let deliveries = 0;
let latencySamples = 0;
let byEvent = Object.create(null);
let perSecond = Object.create(null);
let maxPerSecond = Object.create(null);
let snapshots = 0;

function reset() {
  fine = new Float64Array(FINE);
  coarse = new Float64Array(COARSE + 1);
  maxLatency = 0;
  deliveries = 0;
  latencySamples = 0;
  byEvent = Object.create(null);
  perSecond = Object.create(null);
  maxPerSecond = Object.create(null);
  snapshots = 0;
}

function record(ms) {
  if (ms < 0) ms = 0;
  if (ms > maxLatency) maxLatency = ms;
  latencySamples++;
  if (ms < 1000) fine[Math.floor(ms * 10)]++;
  else coarse[Math.min(COARSE, Math.floor(ms))]++;
}

function histogram() {
  // Sparse [[bucket lower bound in ms, count], ...].
  const out = [];
  for (let i = 0; i < FINE; i++) if (fine[i]) out.push([i / 10, fine[i]]);
  for (let i = 1000; i <= COARSE; i++) if (coarse[i]) out.push([i, coarse[i]]);
  return out;
}

function onEvent(event, payload) {
  const t = now();
  if (event === "instances.snapshot") return;
  deliveries++;
  byEvent[event] = (byEvent[event] || 0) + 1;
  const second = Math.floor(t / 1000);
  perSecond[second] = (perSecond[second] || 0) + 1;
  if (event !== "messages.upsert") return;
  const id = payload && payload.data && payload.data.key && payload.data.key.id;
  if (typeof id !== "string" || !id.startsWith("SIM-")) return;
  const sent = parseFloat(id.split("-")[1]);
  if (Number.isNaN(sent)) return;
  const ms = t - sent;
  record(ms);
  if (!(maxPerSecond[second] >= ms)) maxPerSecond[second] = ms;
}

const clients = [];
let connectErrors = 0;
let disconnects = 0;

function makeClient(index) {
  const tenant = cfg.tenants[(cfg.first + index) % cfg.tenants.length];
  const token = jwt.sign(
    { tenantId: tenant, role: cfg.role || "USER", sub: `bench-${cfg.first + index}` },
    cfg.secret,
    { algorithm: "HS256", expiresIn: 3600 },
  );
  const socket = io(cfg.url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    autoConnect: false,
    timeout: 60000,
    auth: { token },
  });
  const client = { socket, waiters: [] };
  socket.on("instances.snapshot", () => {
    snapshots++;
    const waiters = client.waiters;
    client.waiters = [];
    for (const w of waiters) w(true);
  });
  socket.on("connect_error", () => {
    connectErrors++;
    const waiters = client.waiters;
    client.waiters = [];
    for (const w of waiters) w(false);
  });
  socket.on("disconnect", (reason) => {
    if (reason !== "io client disconnect") disconnects++;
  });
  socket.onAny(onEvent);
  return client;
}

function untilSnapshot(client) {
  return new Promise((resolve) => {
    client.waiters.push(resolve);
  });
}

async function inBatches(items, concurrency, fn) {
  let next = 0;
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, items.length); w++) {
    workers.push(
      (async () => {
        while (next < items.length) await fn(items[next++]);
      })(),
    );
  }
  await Promise.all(workers);
}

async function connectAll() {
  const started = now();
  for (let i = clients.length; i < cfg.clients; i++) clients.push(makeClient(i));
  let ok = 0;
  await inBatches(clients, cfg.concurrency || 32, async (client) => {
    if (client.socket.connected) {
      ok++;
      return;
    }
    const got = untilSnapshot(client);
    client.socket.connect();
    if (await got) ok++;
  });
  return { connected: ok, failed: cfg.clients - ok, ms: now() - started };
}

async function storm() {
  // Every client drops and reconnects at once; count the time until each has its snapshot.
  const started = now();
  const times = [];
  const waits = clients.map((client) => {
    const got = untilSnapshot(client);
    client.socket.disconnect();
    client.socket.connect();
    return got.then((ok) => {
      if (ok) times.push(now() - started);
    });
  });
  await Promise.all(waits);
  times.sort((a, b) => a - b);
  return {
    started,
    got: times.length,
    failed: clients.length - times.length,
    last_ms: times.length ? times[times.length - 1] : null,
    last_at: times.length ? started + times[times.length - 1] : null,
    p50_ms: times.length ? times[Math.floor(times.length / 2)] : null,
  };
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function handle(line) {
  const msg = JSON.parse(line);
  switch (msg.cmd) {
    case "connect":
      return { ...(await connectAll()), connect_errors: connectErrors };
    case "reset":
      reset();
      return { at: now() };
    case "report":
      return {
        at: now(),
        deliveries,
        latency_samples: latencySamples,
        max_ms: maxLatency,
        by_event: byEvent,
        per_second: perSecond,
        max_per_second: maxPerSecond,
        histogram: histogram(),
        snapshots,
        connected: clients.filter((c) => c.socket.connected).length,
        connect_errors: connectErrors,
        disconnects,
      };
    case "storm":
      return await storm();
    case "close":
      for (const c of clients) c.socket.disconnect();
      return { closed: clients.length };
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on("line", (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let cmd = "?";
    try {
      cmd = JSON.parse(line).cmd;
      send({ cmd, ok: true, ...(await handle(line)) });
    } catch (err) {
      send({ cmd, ok: false, error: String((err && err.stack) || err) });
    }
  });
});
rl.on("close", () => {
  for (const c of clients) c.socket.disconnect();
  setTimeout(() => process.exit(0), 100);
});
send({ cmd: "hello", ok: true, pid: process.pid });
