// What the list shows: the client's instances, filtered, counted and sorted.
//
// Records come in from the live client (client.instances, read on each compute); filters and
// the sort order come from the toolbar. compute() leaves:
//   rows     the records to list, in order
//   counts   per status, and "all", under every filter except the status one (so the summary
//            bar says how many each status button would show)
//   tenants, servers   the values seen, for the toolbar's selects
// It is recomputed only after invalidate(): at most once per frame, however many events came.

import { STATUSES } from "../client.js";

// Sorting by status puts what needs attention first.
const STATUS_RANK = { FAILED: 0, STOPPED: 1, SCAN_QR_CODE: 2, STARTING: 3, WORKING: 4 };
export const SORTS = ["name", "status", "changed"];

const byName = (a, b) => (a.instanceName < b.instanceName ? -1 : a.instanceName > b.instanceName ? 1 : 0);

function changedAt(record) {
  const ms = Date.parse(record.statusAt || record.updatedAt || "");
  return Number.isFinite(ms) ? ms : 0;
}

const COMPARE = {
  name: byName,
  status: (a, b) => (STATUS_RANK[a.status] ?? 9) - (STATUS_RANK[b.status] ?? 9) || byName(a, b),
  changed: (a, b) => changedAt(b) - changedAt(a) || byName(a, b),
};

export class ListState {
  constructor(instances) {
    this.instances = instances; // the client's Map, read live
    this.filters = { status: "", search: "", tenant: "", server: "" };
    this.sort = "name";
    this.knownServers = new Set(); // from GET /servers, when the relay has it
    this.rows = [];
    this.counts = emptyCounts();
    this.tenants = [];
    this.servers = [];
    this.dirty = true;
  }

  invalidate() {
    this.dirty = true;
  }

  setFilter(name, value) {
    if (this.filters[name] === value) return false;
    this.filters[name] = value;
    this.dirty = true;
    return true;
  }

  setSort(value) {
    if (!SORTS.includes(value) || value === this.sort) return false;
    this.sort = value;
    this.dirty = true;
    return true;
  }

  compute() {
    if (!this.dirty) return false;
    this.dirty = false;
    const { status, tenant, server } = this.filters;
    const search = this.filters.search.trim().toLowerCase();
    const counts = emptyCounts();
    const tenants = new Set();
    const servers = new Set(this.knownServers);
    const rows = [];
    for (const record of this.instances.values()) {
      if (record.tenantId) tenants.add(record.tenantId);
      if (record.server) servers.add(record.server);
      if (tenant && record.tenantId !== tenant) continue;
      if (server && record.server !== server) continue;
      if (search && !matches(record, search)) continue;
      counts.all += 1;
      if (record.status in counts) counts[record.status] += 1;
      if (status && record.status !== status) continue;
      rows.push(record);
    }
    rows.sort(COMPARE[this.sort]);
    this.rows = rows;
    this.counts = counts;
    this.tenants = [...tenants].sort();
    this.servers = [...servers].sort();
    return true;
  }

  indexOf(name) {
    return this.rows.findIndex((record) => record.instanceName === name);
  }
}

function emptyCounts() {
  const counts = { all: 0 };
  for (const status of STATUSES) counts[status] = 0;
  return counts;
}

// By name, profile name or phone number.
function matches(record, search) {
  if (record.instanceName.toLowerCase().includes(search)) return true;
  if (record.profileName && record.profileName.toLowerCase().includes(search)) return true;
  return Boolean(record.wuid && /^\+?\d+$/.test(search) && record.wuid.includes(search.replace("+", "")));
}
