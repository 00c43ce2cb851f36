// An instance's story: the detail dialog with its status, QR and pairing, the actions, the
// status history (GET /status/{name}), the audit trail (GET /audit?instanceName=), the
// websocket and webhook editors, and the server it lives on.
//
// Data comes in from the live client (update(record) on every change of the open instance) and
// from the API (history and audit, fetched on open and again after each change). Buttons leave
// as onAction(name, action), the pairing form as onPair(name, number).

import { openModal } from "../dialogs.js";
import { errorText, toast } from "../api.js";
import {
  CONNECTION_STATES,
  actionLabel,
  auditDetail,
  formatDate,
  formatTime,
  phoneNumber,
  reasonText,
  relativeTime,
  statusLabel,
} from "../labels.js";
import { QrView } from "./qr.js";
import { SettingsEditors } from "./settings.js";

const $ = (id) => document.getElementById(id);
const REFETCH_MS = 600;

function cell(row, text, title = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (title) td.title = title;
  row.append(td);
  return td;
}

function when(row, at) {
  const td = cell(row, formatDate(at));
  const time = document.createElement("time");
  time.dateTime = at || "";
  time.className = "relative";
  time.textContent = ` (${relativeTime(at)})`;
  td.append(time);
}

function emptyRow(body, columns, text) {
  const row = document.createElement("tr");
  const td = cell(row, text);
  td.colSpan = columns;
  td.className = "empty";
  body.replaceChildren(row);
}

export class DetailView {
  // qrOf(record): the client's verdict on the record's QR; serverOf(record): {name, version,
  // down} of its Evolution server; fallbackFocus(): where focus goes when the opener is gone.
  constructor({ api, qrOf, serverOf, versionOf, onAction, onPair, onExpire, fallbackFocus }) {
    this.api = api;
    this.qrOf = qrOf;
    this.serverOf = serverOf;
    this.fallbackFocus = fallbackFocus;
    this.dialog = $("detail");
    this.name = null;
    this.record = null;
    this.timer = null;
    this.qr = new QrView($("detail-qr"), { onExpire });
    this.settings = new SettingsEditors(api, versionOf);
    $("detail-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      this.name = null;
      this.record = null;
      clearTimeout(this.timer);
    });
    for (const button of this.dialog.querySelectorAll(".actions [data-action]")) {
      button.addEventListener("click", () => onAction(this.name, button.dataset.action));
    }
    $("pair-form").addEventListener("submit", (event) => {
      event.preventDefault();
      onPair(this.name, $("pair-number").value.trim());
    });
  }

  get isOpen() {
    return this.dialog.open && this.name !== null;
  }

  open(record) {
    this.name = record.instanceName;
    $("pair-number").value = "";
    this.update(record);
    if (!this.dialog.open) {
      openModal(this.dialog, { focus: $("detail-close"), fallback: this.fallbackFocus });
    }
    this.dialog.scrollTop = 0;
    this.fetchStory();
    this.settings.open(record);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  // The open instance changed (status, QR, profile), or was removed (record null).
  update(record) {
    if (!record) {
      this.close();
      return;
    }
    const changed = this.record && this.record.statusAt !== record.statusAt;
    this.record = record;
    const name = record.instanceName;
    $("detail-title").textContent = name;
    const badge = $("detail-badge");
    badge.dataset.status = record.status;
    badge.textContent = statusLabel(record.status);
    badge.title = `Código: ${record.status}`;
    const reason = $("detail-reason");
    reason.textContent = reasonText(record.statusReason) || "—";
    reason.title = record.statusReason ? `Motivo: ${record.statusReason}` : "";
    const at = record.statusAt || record.updatedAt;
    const time = $("detail-changed");
    time.dateTime = at || "";
    time.textContent = at ? `${formatDate(at)} (${relativeTime(at)})` : "—";
    $("detail-tenant").textContent = record.tenantId || "—";
    $("detail-server").textContent = this.serverText(record);
    $("detail-profile").textContent = record.profileName || "—";
    $("detail-number").textContent = phoneNumber(record.wuid);
    this.renderQr();
    if (changed) this.refetchSoon();
  }

  serverText(record) {
    const server = this.serverOf(record);
    let text = server.name || "Evolution";
    if (server.version) text += ` · Evolution ${server.version}`;
    if (server.down) text += ` · inacessível${server.since ? ` desde ${formatTime(server.since)}` : ""}`;
    else if (server.up) text += " · no ar";
    return text;
  }

  renderQr(now = Date.now()) {
    if (this.record) this.qr.render(this.record, this.qrOf(this.record, now), now);
  }

  tick(now) {
    if (!this.isOpen) return;
    this.qr.tick(now);
    const at = $("detail-changed").dateTime;
    if (at) $("detail-changed").textContent = `${formatDate(at)} (${relativeTime(at, now)})`;
  }

  refetchSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fetchStory(), REFETCH_MS);
  }

  async fetchStory() {
    const name = this.name;
    if (!name) return;
    const [status, audit] = await Promise.all([this.api.status(name), this.api.audit(name)]);
    if (this.name !== name) return;
    if (status.ok) this.showHistory(status.data);
    else if (status.status !== 404) toast(errorText(status.data), "error");
    if (audit.ok) this.showAudit(audit.data.entries || []);
    else if (audit.status !== 404) toast(errorText(audit.data), "error");
  }

  showHistory(data) {
    const live = data.connectionState;
    $("history-state").textContent = live
      ? `Estado no Evolution agora: ${CONNECTION_STATES[live] || live}.`
      : `Estado no Evolution agora: desconhecido${data.upstreamError ? ` (${data.upstreamError})` : ""}.`;
    const body = $("history").tBodies[0];
    const history = data.history || [];
    if (!history.length) return emptyRow(body, 4, "Nenhuma mudança registrada.");
    body.replaceChildren(
      ...history.map((change) => {
        const row = document.createElement("tr");
        when(row, change.at);
        cell(row, change.from ? statusLabel(change.from) : "—", change.from || "");
        cell(row, statusLabel(change.to), change.to);
        cell(row, reasonText(change.reason) || "—", change.reason || "");
        return row;
      }),
    );
  }

  showAudit(entries) {
    const body = $("audit").tBodies[0];
    if (!entries.length) return emptyRow(body, 5, "Nenhuma ação registrada.");
    body.replaceChildren(
      ...entries.map((entry) => {
        const row = document.createElement("tr");
        when(row, entry.at);
        cell(row, `${entry.actor} (${entry.role})`);
        cell(row, actionLabel(entry.action), entry.action);
        const outcome = cell(row, entry.outcome === "success" ? "sucesso" : "falha", entry.outcome);
        outcome.className = `outcome ${entry.outcome}`;
        cell(row, auditDetail(entry.detail), JSON.stringify(entry.detail || {}));
        return row;
      }),
    );
  }
}
