// The detail view's two editors: the instance's websocket output and its webhook, each with a
// checkbox per Evolution event that the instance's server accepts.
//
// Data comes in from the API (GET /websocket, GET /webhook) and from /panel/events.json (the
// names per Evolution version); saving leaves as POST /websocket or /webhook, reported by a
// toast. The server's version comes from versionOf(record): the hook for a relay that says it
// (GET /servers, or an instance's serverVersion). Without a version every server is offered the
// 31 names of Evolution 2.3; a 2.2 server gets its 27.

import { errorText, toast } from "../api.js";

const $ = (id) => document.getElementById(id);
let catalog = null;

async function loadCatalog() {
  if (!catalog) {
    const response = await fetch("/panel/events.json");
    catalog = await response.json();
  }
  return catalog;
}

// "2.2.3" -> the 27 names of 2.2; "2.3.6", unknown or unreadable -> the 31 of 2.3.
export function eventsFor(version, names) {
  const match = /^v?(\d+)\.(\d+)/.exec(String(version || ""));
  const older = match && (Number(match[1]) < 2 || (Number(match[1]) === 2 && Number(match[2]) < 3));
  return older ? names.byVersion["2.2"] : names.events;
}

function fillEvents(form, events) {
  const list = form.querySelector("[data-events]");
  const prefix = form.id.replace("-form", "");
  list.replaceChildren();
  for (const event of events) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "events";
    box.value = event;
    box.id = `${prefix}-event-${event}`;
    label.htmlFor = box.id;
    label.append(box, ` ${event}`);
    list.append(label);
  }
}

function check(form, events) {
  const chosen = new Set(events || []);
  for (const box of form.querySelectorAll("[data-events] input")) box.checked = chosen.has(box.value);
}

function checked(form) {
  return [...form.querySelectorAll("[data-events] input:checked")].map((box) => box.value);
}

function listText(events) {
  return events && events.length ? events.join(", ") : "—";
}

export class SettingsEditors {
  constructor(api, versionOf) {
    this.api = api;
    this.versionOf = versionOf;
    this.name = null;
    this.ws = $("ws-form");
    this.wh = $("wh-form");
    for (const form of [this.ws, this.wh]) {
      form.addEventListener("click", (event) => {
        const bulk = event.target.closest("[data-bulk]");
        if (!bulk) return;
        const all = [...form.querySelectorAll("[data-events] input")].map((box) => box.value);
        check(form, bulk.dataset.bulk === "all" ? all : []);
      });
    }
    this.ws.addEventListener("submit", (event) => this.saveWebsocket(event));
    this.wh.addEventListener("submit", (event) => this.saveWebhook(event));
  }

  async open(record) {
    const name = record.instanceName;
    this.name = name;
    const names = await loadCatalog();
    const version = this.versionOf(record);
    const events = eventsFor(version, names);
    const offered = version
      ? `(${events.length} aceitos pelo Evolution ${version})`
      : `(${events.length})`;
    for (const form of [this.ws, this.wh]) fillEvents(form, events);
    $("ws-offered").textContent = offered;
    $("wh-offered").textContent = offered;
    this.showWebsocket(null);
    this.showWebhook(null);
    const [ws, wh] = await Promise.all([this.api.websocket(name), this.api.webhook(name)]);
    if (this.name !== name) return;
    if (ws.ok) this.showWebsocket(ws.data.websocket);
    else toast(errorText(ws.data), "error");
    if (wh.ok) this.showWebhook(wh.data.webhook);
    else toast(errorText(wh.data), "error");
  }

  showWebsocket(setting) {
    $("ws-enabled").checked = setting ? Boolean(setting.enabled) : true;
    check(this.ws, setting ? setting.events : []);
    const events = setting ? setting.events || [] : [];
    $("ws-effective").textContent = setting ? listText(events) : "—";
    $("ws-effective-count").textContent = setting ? `(${events.length})` : "";
    const evolution = setting && setting.evolution;
    $("ws-evolution").textContent = evolution
      ? `${evolution.enabled ? "ativada" : "desativada"}: ${listText(evolution.events)}`
      : "—";
  }

  showWebhook(webhook) {
    $("wh-enabled").checked = webhook ? Boolean(webhook.enabled) : false;
    $("wh-url").value = webhook ? webhook.url || "" : "";
    $("wh-by-events").checked = Boolean(webhook && webhook.byEvents);
    $("wh-base64").checked = Boolean(webhook && webhook.base64);
    $("wh-headers").value = "";
    const names = (webhook && webhook.headerNames) || [];
    $("wh-headers-hint").textContent = names.length
      ? `Cabeçalhos salvos: ${names.join(", ")}. Os valores nunca são exibidos: informe-os de novo ao salvar para mantê-los.`
      : "Os valores salvos nunca são exibidos.";
    check(this.wh, webhook ? webhook.events : []);
  }

  async saveWebsocket(event) {
    event.preventDefault();
    const name = this.name;
    const body = { enabled: $("ws-enabled").checked, events: checked(this.ws) };
    const result = await this.busy(this.ws, () => this.api.setWebsocket(name, body));
    if (!result.ok) return toast(errorText(result.data), "error");
    toast(result.data.message || "WebSocket configurado");
    if (this.name === name) this.showWebsocket(result.data.websocket);
  }

  async saveWebhook(event) {
    event.preventDefault();
    const name = this.name;
    const headers = parseHeaders($("wh-headers").value);
    if (headers === null) {
      return toast("Cabeçalhos inválidos: use uma linha por cabeçalho, no formato Nome: valor", "error");
    }
    const body = {
      enabled: $("wh-enabled").checked,
      url: $("wh-url").value.trim(),
      events: checked(this.wh),
      byEvents: $("wh-by-events").checked,
      base64: $("wh-base64").checked,
    };
    if (Object.keys(headers).length) body.headers = headers;
    const result = await this.busy(this.wh, () => this.api.setWebhook(name, body));
    if (!result.ok) return toast(errorText(result.data), "error");
    toast(result.data.message || "Webhook configurado");
    if (this.name === name) this.showWebhook(result.data.webhook);
  }

  async busy(form, call) {
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      return await call();
    } finally {
      submit.disabled = false;
    }
  }
}

// "X-Token: abc" per line -> {"X-Token": "abc"}; null when a line is not of that form.
function parseHeaders(text) {
  const headers = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at <= 0) return null;
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}
