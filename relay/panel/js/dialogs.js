// The two dialogs: "Tem certeza?" before a delete, and the websocket-events dialog (a checkbox
// per Evolution event, the caller's setting and the list in force on Evolution).
// Data comes in from /panel/events.json and the API; the outcome leaves as a toast.

import { errorText, toast } from "./api.js";

const $ = (id) => document.getElementById(id);

// Resolves true when the user confirms.
export function confirmDelete(name) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = `A instância ${name} será removida do Evolution e do relay.`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
  });
}

export class WebsocketDialog {
  constructor(api) {
    this.api = api;
    this.dialog = $("ws-dialog");
    this.events = [];
    $("ws-form").addEventListener("submit", (event) => this.save(event));
    $("ws-all").addEventListener("click", () => this.check(this.events));
    $("ws-none").addEventListener("click", () => this.check([]));
  }

  async eventNames() {
    if (!this.events.length) {
      const response = await fetch("/panel/events.json");
      this.events = (await response.json()).events;
    }
    return this.events;
  }

  check(events) {
    const chosen = new Set(events);
    for (const box of $("ws-list").querySelectorAll("input")) box.checked = chosen.has(box.value);
  }

  showEffective(websocket) {
    const events = (websocket && websocket.events) || [];
    $("ws-effective").textContent = events.length ? events.join(", ") : "—";
    $("ws-effective-count").textContent = websocket ? `(${events.length})` : "";
  }

  async open(name) {
    this.dialog.dataset.instance = name;
    $("ws-name").textContent = name;
    const list = $("ws-list");
    list.replaceChildren();
    for (const event of await this.eventNames()) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "events";
      box.value = event;
      label.append(box, ` ${event}`);
      list.append(label);
    }
    this.showEffective(null);
    this.dialog.showModal();
    const result = await this.api.websocket(name);
    if (!result.ok) return toast(errorText(result.data), "error");
    const websocket = result.data.websocket;
    $("ws-enabled").checked = websocket ? Boolean(websocket.enabled) : true;
    this.check(websocket ? websocket.events : []);
    this.showEffective(websocket);
  }

  async save(event) {
    if (event.submitter && event.submitter.value === "close") return;
    event.preventDefault();
    const name = this.dialog.dataset.instance;
    const events = [...$("ws-list").querySelectorAll("input:checked")].map((box) => box.value);
    const body = { enabled: $("ws-enabled").checked, events };
    $("ws-save").disabled = true;
    try {
      const result = await this.api.setWebsocket(name, body);
      if (!result.ok) return toast(errorText(result.data), "error");
      toast(result.data.message || "WebSocket configurado");
      const websocket = result.data.websocket || { enabled: body.enabled, events: result.data.events };
      this.check(websocket.events || []);
      this.showEffective(websocket);
    } finally {
      $("ws-save").disabled = false;
    }
  }
}
