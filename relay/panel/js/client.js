// evo-relay's live client: the instances of a token, kept up to date from the relay's stream.
// Served by the relay at /client.js (and /panel/js/client.js, where the built-in panel imports
// it). One ES module with no dependency; docs/panel.md shows it in a React and a plain page.
//
//   const client = new RelayClient({ url: "https://relay.example.com", token: () => getJwt() });
//   client.subscribe(() => draw([...client.instances.values()]));
//   client.start();
//
// Data comes in from the Server-Sent Events stream GET /api/events (EventSource). The client
// keeps the last seq it saw and resumes from it after any drop (the relay replays what was
// missed, then sends a fresh snapshot); it applies instances.snapshot, instance.status,
// instance.added, instance.removed, qrcode.updated and connection.update to `instances`, a Map
// from instance name to a record shaped like the API's instance object, plus:
//   qrReceivedAt, qrExpiresAt  ms since the epoch: when the relay got the QR, when it expires.
// Every change leaves to the subscribers as one object {type, ...}:
//   snapshot {recovered} · status {name, instance, previous} · added {name, instance} ·
//   removed {name, instance, reason} · qrcode {name, instance} · profile {name, instance} ·
//   upstream {server, state} · state {state}
// The connection's `state` is one of: idle, connecting, live, reconnecting, expired (the
// relay ended the session: give a new token with setToken), refused (the token was never
// accepted), closed.

export const STATUSES = ["WORKING", "SCAN_QR_CODE", "STARTING", "STOPPED", "FAILED"];
export const PAIRING = new Set(["STARTING", "SCAN_QR_CODE"]);
// Baileys' QR codes: the first of a connection lives about 60 s, each later one about 20 s.
export const QR_FIRST_TTL_MS = 60_000;
export const QR_NEXT_TTL_MS = 20_000;
// A QR written together with the status change into SCAN_QR_CODE is the connection's first.
const SAME_MOMENT_MS = 1500;

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const CLOSED = 2; // EventSource.CLOSED, also where EventSource is not a global
const LIFECYCLE = [
  "instances.snapshot",
  "instance.status",
  "instance.added",
  "instance.removed",
  "upstream.status",
  "session.expired",
  "qrcode.updated",
  "connection.update",
];

export class RelayClient {
  // url: the relay's origin ("" for this page's); token: a JWT, or a function returning one
  // (or a promise of one), asked again at every reconnect; events: more event names to hand to
  // onEvent (e.g. "messages.upsert"); onChange(change, client): a first subscriber;
  // onEvent(name, data): every event received, after it was applied.
  constructor({ url = "", token, events = [], onChange, onEvent, EventSource, fetch } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.token = token;
    this.names = [...new Set([...LIFECYCLE, ...events])];
    this.onEvent = onEvent || null;
    this.EventSource = EventSource || globalThis.EventSource;
    this.fetch = fetch || globalThis.fetch.bind(globalThis);
    this.instances = new Map();
    this.upstream = new Map(); // server -> {state, since}
    this.lastSeq = null; // a number, or {tenantId: seq} for a SUPERADMIN
    this.scope = null; // "tenant", or "all" (a SUPERADMIN's stream)
    this.state = "idle";
    this.version = 0; // bumped on every change: useSyncExternalStore's snapshot
    this.listeners = new Set();
    this.source = null;
    this.timer = null;
    this.backoff = MIN_BACKOFF_MS;
    this.generation = 0; // bumped by start, setToken and close: stale async work then stops
    this.wasLive = false;
    this.subscribe = this.subscribe.bind(this);
    if (onChange) this.subscribe(onChange);
  }

  // listener(change, client) on every change; returns the function that unsubscribes.
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start() {
    this.generation += 1;
    this.backoff = MIN_BACKOFF_MS;
    this.open(this.generation);
    return this;
  }

  close() {
    this.generation += 1;
    this.stopSource();
    this.setState("closed");
  }

  // A new token (after "expired", or any time): reconnects at once, resuming from lastSeq.
  setToken(token) {
    this.token = token;
    this.start();
  }

  // An instance object from an HTTP answer (e.g. connect's reply): its QR and profile are
  // taken; its status is not, since the stream may already have said something newer.
  merge(instance) {
    const record = instance && this.instances.get(instance.instanceName);
    if (!record) return;
    if (hasQr(instance.qrcode) && !sameQr(record.qrcode, instance.qrcode)) {
      setQr(record, instance.qrcode, time(instance.updatedAt) ?? Date.now(), QR_FIRST_TTL_MS);
      this.emit({ type: "qrcode", name: record.instanceName, instance: record });
    }
  }

  // Whether the Evolution server of `instance` (any server, when it names none) is down.
  upstreamDown(instance) {
    const server = instance && instance.server;
    if (server) return this.upstream.get(server)?.state === "down";
    return [...this.upstream.values()].some((entry) => entry.state === "down");
  }

  // What a page may show of an instance's QR right now: {qrcode, expiresAt} when it is valid,
  // else {hidden} with why: "none", "expired", "relay" (the stream is down) or "upstream".
  qr(instance, now = Date.now()) {
    if (!instance || !PAIRING.has(instance.status)) return { hidden: "none" };
    if (this.state !== "live") return { hidden: "relay" };
    if (this.upstreamDown(instance)) return { hidden: "upstream" };
    if (!hasQr(instance.qrcode)) return { hidden: "none" };
    if (!(instance.qrExpiresAt > now)) return { hidden: "expired" };
    return { qrcode: instance.qrcode, expiresAt: instance.qrExpiresAt };
  }

  // -- the connection ------------------------------------------------------------------------

  async open(generation) {
    this.stopSource();
    this.setState(this.wasLive ? "reconnecting" : "connecting");
    let token;
    try {
      token = await this.currentToken();
    } catch (err) {
      console.warn("evo-relay client: the token function failed", err);
      this.retry(generation);
      return;
    }
    if (generation !== this.generation) return;
    const params = new URLSearchParams({ token });
    if (typeof this.lastSeq === "number") params.set("lastEventId", String(this.lastSeq));
    const source = new this.EventSource(`${this.url}/api/events?${params}`);
    this.source = source;
    for (const name of this.names) {
      source.addEventListener(name, (message) => {
        if (this.source === source) this.receive(name, message.data);
      });
    }
    source.onopen = () => {
      if (this.source !== source) return;
      this.backoff = MIN_BACKOFF_MS;
      this.wasLive = true;
      this.setState("live");
    };
    source.onerror = () => {
      if (this.source !== source) return;
      // CONNECTING: the browser retries by itself, sending Last-Event-ID. CLOSED: it gave up
      // (an HTTP error): find out whether the token is still good, then reopen.
      if (source.readyState === CLOSED) this.retry(generation, true);
      else this.setState("reconnecting");
    };
  }

  async currentToken() {
    const token = typeof this.token === "function" ? await this.token() : this.token;
    if (!token) throw new Error("no token");
    return token;
  }

  retry(generation, check = false) {
    this.stopSource();
    this.setState(this.wasLive ? "reconnecting" : "connecting");
    const delay = this.backoff * (0.8 + Math.random() * 0.4);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (check && (await this.refused())) {
        if (generation !== this.generation) return;
        if (typeof this.token === "function") this.retry(generation); // it may mint a new one
        else this.setState(this.wasLive ? "expired" : "refused");
        return;
      }
      if (generation === this.generation) this.open(generation);
    }, delay);
  }

  // Whether the relay refuses the token (401); a network error or a 5xx is not a refusal.
  async refused() {
    try {
      const token = await this.currentToken();
      const response = await this.fetch(`${this.url}/api/instance-management/audit?limit=1`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      return response.status === 401;
    } catch (_err) {
      return false;
    }
  }

  expired() {
    this.stopSource();
    if (typeof this.token === "function") this.retry(this.generation);
    else this.setState("expired");
  }

  stopSource() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    this.source = null;
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit({ type: "state", state });
  }

  emit(change) {
    this.version += 1;
    for (const listener of this.listeners) {
      try {
        listener(change, this);
      } catch (err) {
        console.error("evo-relay client: a subscriber failed", err);
      }
    }
  }

  // -- the events ----------------------------------------------------------------------------

  receive(name, raw) {
    let data = {};
    if (raw) {
      try {
        data = JSON.parse(raw);
      } catch (_err) {
        console.warn("evo-relay client: unreadable event", name);
        return;
      }
    }
    if (name !== "instances.snapshot" && this.seen(data)) return;
    const apply = APPLY[name];
    if (apply) apply(this, data);
    if (this.onEvent) this.onEvent(name, data);
  }

  // True for an event at or before the position already applied (a replay overlap); else
  // records its position.
  seen(data) {
    const seq = data.seq;
    if (typeof seq !== "number") return false;
    if (this.scope === "tenant") {
      if (typeof this.lastSeq === "number" && seq <= this.lastSeq) return true;
      this.lastSeq = seq;
      return false;
    }
    const tenant = data.tenantId || (data.instance && data.instance.tenantId);
    if (this.scope !== "all" || !tenant) return false;
    if ((this.lastSeq[tenant] ?? -1) >= seq) return true;
    this.lastSeq[tenant] = seq;
    return false;
  }

  snapshot(data) {
    this.scope = data.seq !== null && typeof data.seq === "object" ? "all" : "tenant";
    this.lastSeq = this.scope === "all" ? { ...data.seq } : data.seq ?? null;
    const fresh = new Map();
    for (const entry of data.instances || []) {
      fresh.set(entry.instanceName, record(entry, this.instances.get(entry.instanceName)));
    }
    this.instances.clear();
    for (const [name, item] of fresh) this.instances.set(name, item);
    if (Array.isArray(data.upstream)) {
      this.upstream.clear();
      for (const entry of data.upstream) this.upstream.set(entry.server, entry);
    }
    this.emit({ type: "snapshot", recovered: data.recovered !== false });
  }

  status(data) {
    const name = data.instanceName;
    const item = this.instances.get(name) || { instanceName: name, qrcode: null };
    const previous = item.status;
    Object.assign(item, {
      status: data.status,
      previousStatus: data.previousStatus ?? previous ?? null,
      statusReason: data.reason ?? null,
      statusAt: data.at ?? item.statusAt,
    });
    for (const key of ["tenantId", "server"]) if (data[key]) item[key] = data[key];
    const at = time(data.at) ?? Date.now();
    if (data.status === "SCAN_QR_CODE" && hasQr(data.qrcode)) {
      if (!sameQr(item.qrcode, data.qrcode)) {
        // A reconciliation brings the QR stored earlier, of unknown age: shown only once a
        // fresh one arrives. Otherwise the change into SCAN_QR_CODE comes with the first QR.
        const reconciled = String(data.reason || "").startsWith("reconciled");
        setQr(item, data.qrcode, at, reconciled ? 0 : QR_FIRST_TTL_MS);
      }
    } else if (!PAIRING.has(data.status) || !(item.qrReceivedAt > at)) {
      clearQr(item); // STARTING is a new connection: a QR from before it is gone
    }
    this.instances.set(name, item);
    this.emit({ type: "status", name, instance: item, previous });
  }

  qrcode(envelope) {
    const item = this.instances.get(envelope.instance);
    const qr = envelope.data && envelope.data.qrcode;
    if (!item || !hasQr(qr) || sameQr(item.qrcode, qr)) return;
    const first = !hasQr(item.qrcode) && item.status !== "SCAN_QR_CODE";
    const at = time(envelope.receivedAt) ?? Date.now();
    setQr(item, qr, at, first ? QR_FIRST_TTL_MS : QR_NEXT_TTL_MS);
    this.emit({ type: "qrcode", name: item.instanceName, instance: item });
  }

  connection(envelope) {
    const item = this.instances.get(envelope.instance);
    const data = envelope.data || {};
    if (!item || data.state !== "open") return;
    if (data.profileName) item.profileName = data.profileName;
    if (data.wuid) item.wuid = data.wuid;
    this.emit({ type: "profile", name: item.instanceName, instance: item });
  }

  added(data) {
    const entry = data.instance;
    if (!entry || !entry.instanceName) return;
    const item = record(entry, this.instances.get(entry.instanceName));
    this.instances.set(entry.instanceName, item);
    this.emit({ type: "added", name: entry.instanceName, instance: item });
  }

  removed(data) {
    const item = this.instances.get(data.instanceName);
    if (!item) return;
    this.instances.delete(data.instanceName);
    this.emit({ type: "removed", name: data.instanceName, instance: item, reason: data.reason });
  }

  upstreamStatus(data) {
    if (!data.server) return;
    this.upstream.set(data.server, data);
    if (data.state === "down") {
      // A QR from before the outage will have expired by the time the server is back.
      for (const item of this.instances.values()) {
        if (!item.server || item.server === data.server) clearQr(item);
      }
    }
    this.emit({ type: "upstream", server: data.server, state: data.state });
  }
}

const APPLY = {
  "instances.snapshot": (client, data) => client.snapshot(data),
  "instance.status": (client, data) => client.status(data),
  "instance.added": (client, data) => client.added(data),
  "instance.removed": (client, data) => client.removed(data),
  "upstream.status": (client, data) => client.upstreamStatus(data),
  "session.expired": (client) => client.expired(),
  "qrcode.updated": (client, data) => client.qrcode(data),
  "connection.update": (client, data) => client.connection(data),
};

// A snapshot's or instance.added's entry as a record; `known`: the record it replaces, whose
// QR timing is kept when it is the same QR.
function record(entry, known) {
  const item = { ...entry };
  if (!PAIRING.has(item.status) || !hasQr(item.qrcode)) {
    clearQr(item);
  } else if (known && sameQr(known.qrcode, item.qrcode)) {
    item.qrReceivedAt = known.qrReceivedAt;
    item.qrExpiresAt = known.qrExpiresAt;
  } else {
    const updated = time(item.updatedAt) ?? Date.now();
    const changed = time(item.statusAt);
    const first =
      item.status === "SCAN_QR_CODE" && changed !== null && updated - changed < SAME_MOMENT_MS;
    setQr(item, item.qrcode, updated, first ? QR_FIRST_TTL_MS : QR_NEXT_TTL_MS);
  }
  return item;
}

function setQr(item, qr, receivedAt, ttl) {
  const { base64 = null, code = null, pairingCode = null } = qr;
  item.qrcode = { base64, code, pairingCode };
  item.qrReceivedAt = Math.min(receivedAt, Date.now()); // a clock ahead never lengthens a QR
  item.qrExpiresAt = item.qrReceivedAt + ttl;
}

function clearQr(item) {
  item.qrcode = null;
  item.qrReceivedAt = null;
  item.qrExpiresAt = null;
}

function hasQr(qr) {
  return Boolean(qr && (qr.base64 || qr.pairingCode));
}

function sameQr(a, b) {
  return Boolean(a && b && a.code === b.code && a.pairingCode === b.pairingCode && a.base64 === b.base64);
}

function time(iso) {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}
