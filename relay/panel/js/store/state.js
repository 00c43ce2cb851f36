// The panel's picture of the relay: the instances by name, and which Evolution servers are down.
//
// Data comes in from the stream (the snapshot and the live events) and from HTTP replies (the
// list, an action's reply). Every change leaves to the view through the listener:
//   put(record, upstreamDown)  a card to draw; upstreamDown: its Evolution server is down
//   drop(name)                 a card to remove
//   upstream(servers)          the names of the servers that are down (empty: all up)
// A record: {instanceName, tenantId, server, status, reason, qrcode, profileName, wuid,
// number, ownerJid, live}; live: the stream has spoken about it, so its status is the stream's.

export const QR_STATUSES = new Set(["STARTING", "SCAN_QR_CODE"]);
const DETAILS = ["status", "tenantId", "server", "profileName", "wuid", "number", "ownerJid"];

export function detailsOf(item) {
  const fields = {};
  for (const key of DETAILS) {
    if (item[key] !== undefined && item[key] !== null) fields[key] = item[key];
  }
  const reason = item.reason ?? item.statusReason;
  if (reason !== undefined) fields.reason = reason;
  if (item.qrcode !== undefined) fields.qrcode = item.qrcode;
  return fields;
}

function hasQr(qrcode) {
  return Boolean(qrcode && (qrcode.base64 || qrcode.pairingCode));
}

export class PanelState {
  constructor(listener) {
    this.listener = listener;
    this.instances = new Map();
    this.down = new Map(); // server -> since, for each server the relay says is down
    // A list fetched before a removal must not bring the instance back: removals are
    // numbered, and kept only while a list request is in flight.
    this.clock = 0;
    this.removedAt = new Map();
    this.listsInFlight = 0;
  }

  get size() {
    return this.instances.size;
  }

  clear() {
    for (const name of [...this.instances.keys()]) this.listener.drop(name);
    this.instances.clear();
    this.removedAt.clear();
    this.setUpstream([]);
  }

  // -- the stream --------------------------------------------------------------------------

  snapshot(data) {
    if (Array.isArray(data.upstream)) this.setUpstream(data.upstream);
    const seen = new Set();
    for (const item of data.instances || []) {
      seen.add(item.instanceName);
      this.put(item.instanceName, detailsOf(item), true);
    }
    for (const name of [...this.instances.keys()]) if (!seen.has(name)) this.forget(name);
  }

  // Returns false for an instance the panel does not know: the caller asks for the list.
  status(data) {
    if (!this.instances.has(data.instanceName)) return false;
    const fields = { status: data.status, reason: data.reason ?? null };
    for (const key of ["tenantId", "server", "qrcode"]) if (data[key]) fields[key] = data[key];
    this.put(data.instanceName, fields, true);
    return true;
  }

  added(data) {
    const item = data.instance;
    if (!item || !item.instanceName) return;
    this.put(item.instanceName, detailsOf(item), true);
  }

  // Returns whether the instance was shown.
  removed(data) {
    return this.forget(data.instanceName);
  }

  qrcode(envelope) {
    const qr = envelope.data && envelope.data.qrcode;
    if (qr && this.instances.has(envelope.instance)) {
      this.put(envelope.instance, { qrcode: qr }, true);
    }
  }

  connection(envelope) {
    const data = envelope.data || {};
    if (data.state === "open" && this.instances.has(envelope.instance)) {
      this.put(envelope.instance, { wuid: data.wuid, profileName: data.profileName }, true);
    }
  }

  upstreamStatus(data) {
    if (!data.server) return;
    const others = [...this.down].filter(([server]) => server !== data.server);
    const entries = others.map(([server, since]) => ({ server, state: "down", since }));
    this.setUpstream([...entries, data]);
  }

  // -- HTTP replies --------------------------------------------------------------------------

  beginList() {
    this.listsInFlight += 1;
    return this.clock;
  }

  // items: the list the relay returned, or null when the request failed.
  endList(mark, items) {
    this.listsInFlight -= 1;
    if (items !== null) this.mergeList(items, mark);
    if (this.listsInFlight === 0) this.removedAt.clear();
  }

  mergeList(items, mark) {
    const seen = new Set();
    for (const item of items) {
      const name = item.instanceName || item.name;
      seen.add(name);
      if ((this.removedAt.get(name) ?? -1) > mark) continue; // removed since the list was asked
      this.put(name, detailsOf(item), false);
    }
    for (const [name, record] of [...this.instances]) {
      if (!seen.has(name) && !record.live) this.forget(name);
    }
  }

  // An action's reply: profile details and a fresh QR. Its status may be older than an event
  // already shown, so statuses come from the stream only.
  actionReply(name, instance) {
    if (!this.instances.has(name)) return;
    const fields = detailsOf(instance);
    delete fields.status;
    delete fields.reason;
    if (!hasQr(fields.qrcode)) delete fields.qrcode;
    this.put(name, fields, true);
  }

  forget(name) {
    if (!this.instances.delete(name)) return false;
    this.clock += 1;
    if (this.listsInFlight > 0) this.removedAt.set(name, this.clock);
    this.listener.drop(name);
    return true;
  }

  // -- internals -----------------------------------------------------------------------------

  put(name, fields, fromStream) {
    const known = this.instances.get(name);
    const record = known || { instanceName: name, status: "STARTING", qrcode: null };
    if (known && known.live && !fromStream) {
      // A list fetched while the stream runs may be older than what the stream said.
      delete fields.status;
      delete fields.qrcode;
      delete fields.reason;
    }
    Object.assign(record, fields);
    if (fromStream) record.live = true;
    if (!QR_STATUSES.has(record.status)) record.qrcode = null;
    this.instances.set(name, record);
    this.listener.put(record, this.isDown(record.server));
  }

  // Without a server name (one Evolution, or a relay that does not say), any down server counts.
  isDown(server) {
    return server ? this.down.has(server) : this.down.size > 0;
  }

  setUpstream(entries) {
    const before = new Set(this.down.keys());
    this.down = new Map(entries.filter((e) => e.state === "down").map((e) => [e.server, e.since]));
    const changed =
      before.size !== this.down.size || [...this.down.keys()].some((s) => !before.has(s));
    if (!changed) return;
    for (const record of this.instances.values()) {
      // A QR shown before the server went down has expired by the time it is back.
      if (this.isDown(record.server)) record.qrcode = null;
      this.listener.put(record, this.isDown(record.server));
    }
    this.listener.upstream([...this.down.keys()]);
  }
}
