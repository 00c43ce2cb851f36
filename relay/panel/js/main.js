// evo-relay panel: live statuses and QR codes of a token's instances, over the relay's own API.
// Plain ES modules, no library, no build step. This module wires the others:
//   client.js (the live stream) ──▶ store/state.js (filter, count, sort) ──▶ view/summary.js,
//   view/list.js; the open instance ──▶ view/detail.js, view/qr.js; connection ──▶ view/notices.js
//   buttons and forms ──▶ api.js (HTTP + toasts) ──▶ the relay, whose events come back above
// It renders only what the API and the stream give this token.

import { Api, errorText, toast, toastResult } from "./api.js";
import { RelayClient } from "./client.js";
import { confirmDelete, openModal } from "./dialogs.js";
import { reasonText, warmUp } from "./labels.js";
import { ListState } from "./store/state.js";
import { DetailView } from "./view/detail.js";
import { InstanceList } from "./view/list.js";
import * as notices from "./view/notices.js";
import { QrView } from "./view/qr.js";
import { Summary } from "./view/summary.js";

const TOKEN_KEY = "evo-relay.token";
const $ = (id) => document.getElementById(id);

const api = new Api();
const announcer = new notices.Announcer();
const servers = new Map(); // name -> {version, ...}, from GET /servers when the relay has it
const deleting = new Set(); // names this page is deleting: no "removed" toast for those
let client = null;
let state = null;
let frame = 0;
let firstSnapshot = false;
let serversAsked = false;

const list = new InstanceList({
  onOpen: openDetail,
  onQr: openQr,
  qrShown: (record) => Boolean(client && client.qr(record).qrcode),
});
const summary = new Summary({
  onFilter: (name, value) => {
    if (state && state.setFilter(name, value)) schedule();
  },
  onSort: (value) => {
    if (state && state.setSort(value)) schedule();
  },
});
const detail = new DetailView({
  api,
  qrOf: (record, now) => client.qr(record, now),
  serverOf,
  versionOf,
  onAction,
  onPair,
  onExpire: () => announcer.say("QR expirado"),
  fallbackFocus: () => list.activeButton() || $("instances"),
});
const qrDialog = $("qr-dialog");
const largeQr = new QrView($("qr-large"), { large: true });
let largeName = null;

// -- the live client ---------------------------------------------------------------------------

function onChange(change) {
  const name = change.name;
  switch (change.type) {
    case "state":
      notices.streamState(change.state);
      if (change.state === "expired") notices.session(true);
      if (change.state === "refused") refusedToken();
      refreshOpen();
      break;
    case "snapshot":
      if (!firstSnapshot) {
        firstSnapshot = true;
        performance.mark("evo-relay:snapshot");
        if ([...client.instances.values()].some((i) => i.server)) loadServers(client);
      }
      upstreamBanner();
      refreshOpen();
      break;
    case "status":
      if (list.elements.has(name) || detail.name === name) announcer.status(name, change.instance.status);
      refreshOpen(name);
      break;
    case "removed":
      if (!deleting.has(name)) {
        const why = reasonText(change.reason);
        toast(`Instância ${name} removida${why ? ` (${why})` : ""}`, "info");
      }
      refreshOpen(name);
      break;
    case "upstream":
      upstreamBanner();
      refreshOpen();
      break;
    default: // added, qrcode, profile
      refreshOpen(name);
  }
  if (change.instance && change.instance.server) loadServers(client);
  if (state) state.invalidate();
  schedule();
}

// The detail and the large QR follow their instance; name undefined: whatever they show.
function refreshOpen(name) {
  if (!client) return;
  if (detail.isOpen && (name === undefined || name === detail.name)) {
    detail.update(client.instances.get(detail.name) || null);
  }
  if (qrDialog.open && (name === undefined || name === largeName)) renderLargeQr();
}

function upstreamBanner() {
  const down = [...client.upstream.values()].filter((entry) => entry.state === "down");
  notices.upstream(down);
}

// The Evolution server an instance lives on: its own `server`, or the relay's only one.
function serverOf(record) {
  const followed = client ? [...client.upstream.values()] : [];
  const name = record.server || (followed.length === 1 ? followed[0].server : null);
  const entry = name && client ? client.upstream.get(name) : null;
  return {
    name,
    version: versionOf(record),
    down: client ? client.upstreamDown(record) : false,
    up: Boolean(entry && entry.state === "up"),
    since: entry ? entry.since : null,
  };
}

// The hook for the server's version: an instance's own serverVersion, else GET /servers'.
function versionOf(record) {
  if (record.serverVersion) return record.serverVersion;
  const known = record.server ? servers.get(record.server) : null;
  return (known && known.version) || null;
}

// -- drawing -----------------------------------------------------------------------------------

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  if (!state) return;
  state.compute();
  summary.render(state, client.scope === "all" || state.tenants.length > 1);
  list.render(state.rows);
  const empty = $("empty");
  empty.hidden = state.rows.length > 0 || !firstSnapshot;
  empty.textContent = state.instances.size
    ? "Nenhuma instância com estes filtros."
    : "Nenhuma instância neste tenant ainda.";
  $("create-tenant-field").hidden = client.scope !== "all";
  $("app").classList.toggle("with-servers", state.servers.length > 0);
  if (firstSnapshot && !performance.getEntriesByName("evo-relay:render").length) {
    performance.mark("evo-relay:render");
  }
}

function tick() {
  if (!state) return;
  const now = Date.now();
  list.draw(); // a row whose QR just expired loses its QR button
  list.tick(now);
  detail.tick(now);
  if (qrDialog.open) largeQr.tick(now);
}

// -- the open instance -------------------------------------------------------------------------

function openDetail(name) {
  const record = client && client.instances.get(name);
  if (record) detail.open(record);
}

function openQr(name) {
  largeName = name;
  $("qr-dialog-title").textContent = `QR de ${name}`;
  renderLargeQr();
  if (!qrDialog.open) {
    openModal(qrDialog, {
      focus: $("qr-dialog-close"),
      fallback: () => list.activeButton() || $("instances"),
    });
  }
}

function renderLargeQr() {
  const record = client && client.instances.get(largeName);
  if (!record) {
    largeQr.render(null, { hidden: "none" });
    return;
  }
  largeQr.render(record, client.qr(record));
}

async function onAction(name, action) {
  if (!name) return;
  if (action === "qr") return openQr(name);
  if (action === "delete" && !(await confirmDelete(name))) return;
  const buttons = document.querySelectorAll("#detail .actions button, #pair-form button");
  for (const button of buttons) button.disabled = true;
  if (action === "delete") deleting.add(name);
  try {
    const result = await api.act(action, name);
    if (!toastResult(result, "Feito")) return;
    if (action === "delete") detail.close();
    else if (result.data.instance) client.merge(result.data.instance);
    detail.refetchSoon();
  } finally {
    // Its instance.removed may come just after the answer: no "removed" toast for it either.
    setTimeout(() => deleting.delete(name), 5000);
    for (const button of buttons) button.disabled = false;
  }
}

async function onPair(name, number) {
  if (!name) return;
  const result = await api.act("connect", name, { number });
  if (!toastResult(result, "Conexão iniciada")) return;
  if (result.data.instance) client.merge(result.data.instance);
  detail.refetchSoon();
}

// -- signing in and out ------------------------------------------------------------------------

function describeToken(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    const tenant = claims.tenantId ? `tenant ${claims.tenantId}` : "todos os tenants";
    return `${claims.sub || "?"} · ${claims.role || "?"} · ${tenant}`;
  } catch (_err) {
    return "token não legível (o relay decide o que você vê)";
  }
}

function signIn(token) {
  signOut({ keepInput: true });
  api.token = token.trim();
  if (!api.token) return;
  sessionStorage.setItem(TOKEN_KEY, api.token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  $("principal").textContent = describeToken(api.token);
  client = new RelayClient({ token: api.token, onChange });
  state = new ListState(client.instances);
  firstSnapshot = false;
  client.start();
  checkToken(client);
  schedule();
}

// In parallel with the stream: a refused token goes back to the sign-in form, with the reason.
async function checkToken(started) {
  const result = await api.call("GET", "/audit?limit=1");
  if (client !== started || result.status !== 401) return;
  toast(errorText(result.data), "error");
  signOut({ keepInput: true });
}

// The Evolution servers, for the server filter and their versions: asked once, when the first
// instance names its server (a relay with a fleet). Only a SUPERADMIN may read the list; for
// anyone else, or a relay without GET /servers, the panel does without.
async function loadServers(started) {
  if (!started || started.scope !== "all" || serversAsked) return;
  serversAsked = true;
  const result = await api.servers();
  if (client !== started || !result.ok) return;
  const found = Array.isArray(result.data.servers) ? result.data.servers : [];
  servers.clear();
  for (const entry of found) {
    const name = entry.name || entry.server || entry.id;
    if (name) servers.set(name, entry);
  }
  state.knownServers = new Set(servers.keys());
  state.invalidate();
  schedule();
}

function refusedToken() {
  toast("Token recusado pelo relay (UNAUTHENTICATED)", "error");
  signOut({ keepInput: true });
}

function signOut({ keepInput = false } = {}) {
  if (client) client.close();
  client = null;
  state = null;
  api.token = "";
  servers.clear();
  serversAsked = false;
  sessionStorage.removeItem(TOKEN_KEY);
  detail.close();
  if (qrDialog.open) qrDialog.close();
  list.render([]);
  summary.reset();
  announcer.clear();
  notices.session(false);
  notices.upstream([]);
  notices.streamState("idle");
  $("app").hidden = true;
  $("account").hidden = true;
  $("login").hidden = false;
  if (!keepInput) $("token-input").value = "";
}

function renew(event) {
  event.preventDefault();
  const token = $("renew-token").value.trim();
  if (!token || !client) return;
  api.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("principal").textContent = describeToken(token);
  notices.session(false);
  client.setToken(token); // resumes from the last event seen: the view stays
}

api.onExpired = () => {
  if (client && client.state === "live") {
    notices.session(true);
    notices.streamState("expired");
  }
};

async function createInstance(event) {
  event.preventDefault();
  const form = event.target;
  const body = { instanceName: form.instanceName.value.trim() };
  if (form.tenantId.value.trim()) body.tenantId = form.tenantId.value.trim();
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const result = await api.create(body);
    if (toastResult(result, `Instância ${body.instanceName} registrada`)) form.reset();
  } finally {
    submit.disabled = false;
  }
}

function tokenFromHash() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // Keep the token out of the address bar and history; sessionStorage survives a reload.
  if (token) history.replaceState(null, "", location.pathname + location.search);
  return token;
}

function start() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value);
  });
  $("logout").addEventListener("click", () => signOut());
  $("renew-form").addEventListener("submit", renew);
  $("create-form").addEventListener("submit", createInstance);
  $("qr-dialog-close").addEventListener("click", () => qrDialog.close());
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select, dialog[open]");
    if (event.key === "/" && !typing && !$("app").hidden) {
      event.preventDefault();
      $("search").focus();
    }
  });
  // A #token= link opened in this tab later (the demo prints them) signs in with that token.
  window.addEventListener("hashchange", () => {
    const token = tokenFromHash();
    if (token) signIn(token);
  });
  setInterval(tick, 1000);
  // The date formatters, built while the page waits for its first events.
  if (window.requestIdleCallback) requestIdleCallback(warmUp, { timeout: 1000 });
  const token = tokenFromHash() || sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else $("token-input").focus();
}

start();
