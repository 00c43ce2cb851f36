// What the page says about its connection and its instances' changes: the stream's state in
// the top bar, the three banners (relay unreachable, Evolution unreachable, session expired),
// and the screen reader announcements of status changes.
//
// Data comes in from main.js (the live client's state and changes); it leaves to the DOM only.

import { formatTime, statusLabel } from "../labels.js";

const STREAM_TEXT = {
  idle: "desconectado",
  connecting: "conectando…",
  live: "ao vivo",
  reconnecting: "reconectando…",
  refused: "token recusado",
  expired: "sessão expirada",
  closed: "desconectado",
};
const ANNOUNCE_EVERY_MS = 1500;
const ANNOUNCE_MAX = 3;

const $ = (id) => document.getElementById(id);

export function streamState(state) {
  const node = $("stream-state");
  node.dataset.state = state;
  node.textContent = STREAM_TEXT[state] || state;
  $("relay-banner").hidden = state !== "reconnecting";
}

// down: [{server, since}] for each Evolution server that is down; empty hides the banner.
export function upstream(down) {
  const named = down.filter((entry) => entry.server && entry.server !== "default");
  const since = down.map((entry) => entry.since).filter(Boolean).sort()[0];
  let detail = named.length ? ` (${named.map((entry) => entry.server).join(", ")})` : "";
  if (since) detail += `, desde ${formatTime(since)}`;
  $("upstream-detail").textContent = detail;
  $("upstream-banner").hidden = down.length === 0;
}

export function session(expired) {
  $("session-banner").hidden = !expired;
  if (!expired) $("renew-token").value = "";
}

// Status changes read out by screen readers, a few at a time: under a flood of events a
// listener hears a count, not a thousand names.
export class Announcer {
  constructor() {
    this.region = $("announcer");
    this.queue = [];
    this.dropped = 0;
    this.timer = null;
  }

  status(name, status) {
    this.say(`${name}: ${statusLabel(status)}`);
  }

  say(text) {
    if (this.queue.length < ANNOUNCE_MAX) this.queue.push(text);
    else this.dropped += 1;
    if (!this.timer) this.timer = setTimeout(() => this.flush(), ANNOUNCE_EVERY_MS);
  }

  flush() {
    this.timer = null;
    if (!this.queue.length) return;
    let text = this.queue.join(". ");
    if (this.dropped) text += `. E mais ${this.dropped} ${this.dropped === 1 ? "mudança" : "mudanças"}.`;
    this.region.textContent = text;
    this.queue = [];
    this.dropped = 0;
  }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.dropped = 0;
    this.region.textContent = "";
  }
}
