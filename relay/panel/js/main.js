// evo-relay panel: live QR and status per instance, over the relay's own API.
// Plain ES modules, no library, no build step. This module wires the others:
//   stream (EventSource on /api/events) ──▶ state (store/state.js) ──▶ cards, notices (view/)
//   forms and card buttons ──▶ api (HTTP + toasts), dialogs ──▶ state
// It renders only what the API and the stream give this token.

import { Api, errorText, refused, toast, toastResult } from "./api.js";
import { confirmDelete, WebsocketDialog } from "./dialogs.js";
import { PanelState } from "./store/state.js";
import { Stream } from "./stream.js";
import { Cards } from "./view/cards.js";
import * as notices from "./view/notices.js";

const TOKEN_KEY = "evo-relay.token";
const $ = (id) => document.getElementById(id);

const api = new Api();
const cards = new Cards(onAction);
const state = new PanelState({
  put: (record, upstreamDown) => cards.put(record, upstreamDown),
  drop: (name) => cards.drop(name),
  upstream: (servers) => notices.upstream(servers),
});
const websocketDialog = new WebsocketDialog(api);
const deleting = new Set(); // names this page is deleting: no "removed" toast for those

// The stream's events, by name. Any other event is not listened to, so it is ignored.
const handlers = {
  "instances.snapshot"(data) {
    state.snapshot(data);
    refreshDetails();
  },
  "instance.status"(data) {
    if (!state.status(data)) refreshDetails();
  },
  "instance.added"(data) {
    state.added(data);
  },
  "instance.removed"(data) {
    const name = data.instanceName;
    if (state.removed(data) && !deleting.has(name)) {
      toast(`Instância ${name} removida${data.reason ? ` (${data.reason})` : ""}`, "info");
    }
  },
  "upstream.status"(data) {
    state.upstreamStatus(data);
  },
  "session.expired"() {
    stream.stop();
    expired();
  },
  "qrcode.updated"(envelope) {
    state.qrcode(envelope);
  },
  "connection.update"(envelope) {
    state.connection(envelope);
  },
  // Evolution's own lifecycle events: the instance is gone upstream (another tab or tool).
  "remove.instance"(envelope) {
    state.forget(envelope.instance);
  },
  "instance.delete"(envelope) {
    state.forget(envelope.instance);
  },
};

const stream = new Stream({
  events: Object.keys(handlers),
  onEvent: (name, data) => handlers[name](data),
  onState(value) {
    if (value === "refused") expired();
    else notices.streamState(value);
  },
  check: async () => !refused(await loadInstances()),
});

// The view stays as it was; the user is asked for a new token.
function expired() {
  notices.streamState("expired");
  notices.session(true);
}

async function loadInstances() {
  const mark = state.beginList();
  const result = await api.list();
  const items = result.ok ? result.data.instances || result.data.data || [] : null;
  state.endList(mark, items);
  if (!result.ok) toast(errorText(result.data), "error");
  return result;
}

let detailsPending = null;
// Tenant, profile and number come from the list; bursts share one request.
function refreshDetails() {
  if (!detailsPending) {
    detailsPending = loadInstances().finally(() => {
      detailsPending = null;
    });
  }
}

// -- card buttons ------------------------------------------------------------------------------

async function onAction(name, action) {
  if (action === "websocket") return websocketDialog.open(name);
  if (action === "delete" && !(await confirmDelete(name))) return;
  cards.busy(name, true);
  if (action === "delete") deleting.add(name);
  try {
    const result = await api.act(action, name);
    if (!toastResult(result, "Feito")) return;
    if (action === "delete") state.forget(name);
    else if (result.data.instance) state.actionReply(name, result.data.instance);
  } finally {
    deleting.delete(name);
    cards.busy(name, false);
  }
}

// -- token and create --------------------------------------------------------------------------

function describeToken(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload));
    const tenant = claims.tenantId ? `tenant ${claims.tenantId}` : "todos os tenants";
    return `${claims.sub || "?"} · ${claims.role || "?"} · ${tenant}`;
  } catch (_err) {
    return "token não legível (o relay decide)";
  }
}

async function useToken(value) {
  stream.stop();
  api.token = value.trim();
  state.clear();
  notices.session(false);
  cards.signIn(Boolean(api.token));
  if (!api.token) return;
  sessionStorage.setItem(TOKEN_KEY, api.token);
  $("principal").hidden = false;
  $("principal").textContent = describeToken(api.token);
  notices.streamState("connecting");
  const result = await loadInstances();
  if (refused(result)) {
    notices.streamState("refused");
    return;
  }
  stream.start(api.token);
}

async function createInstance(event) {
  event.preventDefault();
  const form = event.target;
  const body = { instanceName: form.instanceName.value.trim() };
  if (form.tenantId.value.trim()) body.tenantId = form.tenantId.value.trim();
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const result = await api.create(body);
    if (!toastResult(result, `Instância ${body.instanceName} registrada`)) return;
    form.reset();
    await loadInstances(); // the card comes with instance.added too; a list is harmless
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
    useToken($("token-input").value);
  });
  $("session-renew").addEventListener("click", () => {
    $("token-input").value = "";
    $("token-input").focus();
  });
  $("create-form").addEventListener("submit", createInstance);
  cards.signIn(false);
  const token = tokenFromHash() || sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    $("token-input").value = token;
    useToken(token);
  }
}

start();
