// The instance cards: one <li> per instance from #card-template, kept in name order.
// Records come in from the state (put, drop); a button's click leaves as onAction(name, action).

import { QR_STATUSES } from "../store/state.js";

const STATUSES = new Set(["STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED", "FAILED"]);

function phoneNumber(record) {
  const jid = record.wuid || record.ownerJid || record.number;
  if (!jid) return "—";
  const digits = String(jid).split("@")[0].split(":")[0];
  return /^\d+$/.test(digits) ? `+${digits}` : digits;
}

export class Cards {
  constructor(onAction) {
    this.list = document.getElementById("instances");
    this.template = document.getElementById("card-template");
    this.empty = document.getElementById("empty");
    this.count = document.getElementById("instance-count");
    this.onAction = onAction;
    this.signedIn = false;
  }

  card(name) {
    return this.list.querySelector(`li[data-instance="${CSS.escape(name)}"]`);
  }

  put(record, upstreamDown) {
    const name = record.instanceName;
    const card = this.card(name) || this.create(name);
    card.dataset.status = record.status;
    const badge = card.querySelector(".badge");
    badge.dataset.status = STATUSES.has(record.status) ? record.status : "STOPPED";
    badge.textContent = record.status;
    badge.setAttribute("aria-label", `Status: ${record.status}`);
    card.querySelector(".tenant").textContent = record.tenantId ? `tenant ${record.tenantId}` : "";
    card.querySelector(".reason").textContent = record.reason ? `motivo: ${record.reason}` : "";
    this.showQr(card, record, upstreamDown);
    card.querySelector(".profile").hidden = record.status !== "WORKING";
    card.querySelector(".profile-name").textContent = record.profileName || "—";
    card.querySelector(".profile-number").textContent = phoneNumber(record);
    this.updateCount();
  }

  // While its Evolution server is down, a card shows no QR: the one it had may have expired.
  showQr(card, record, upstreamDown) {
    const pairing = QR_STATUSES.has(record.status);
    const qr = (!upstreamDown && record.qrcode) || {};
    const shown = pairing && Boolean(qr.base64 || qr.pairingCode);
    card.querySelector(".qr").hidden = !shown;
    card.querySelector(".qr-wait").hidden = !(pairing && upstreamDown);
    const img = card.querySelector(".qr-img");
    img.hidden = !qr.base64;
    if (shown && qr.base64) {
      if (img.getAttribute("src") !== qr.base64) img.src = qr.base64;
    } else {
      img.removeAttribute("src");
    }
    card.querySelector(".pairing").hidden = !qr.pairingCode;
    card.querySelector(".pairing-code").textContent = qr.pairingCode || "";
  }

  drop(name) {
    const card = this.card(name);
    if (card) card.remove();
    this.updateCount();
  }

  busy(name, value) {
    const card = this.card(name);
    if (card) for (const button of card.querySelectorAll(".actions button")) button.disabled = value;
  }

  signIn(value) {
    this.signedIn = value;
    this.updateCount();
  }

  updateCount() {
    const count = this.list.children.length;
    this.count.textContent = this.signedIn ? `(${count})` : "";
    this.empty.hidden = count > 0;
    this.empty.textContent = this.signedIn
      ? "Nenhuma instância neste tenant."
      : "Entre com um token para ver as instâncias do seu tenant.";
  }

  create(name) {
    const card = this.template.content.firstElementChild.cloneNode(true);
    card.dataset.instance = name;
    card.querySelector(".name").textContent = name;
    card.querySelector(".qr-img").alt = `QR code para parear ${name}`;
    for (const button of card.querySelectorAll("button[data-action]")) {
      button.setAttribute("aria-label", `${button.textContent} ${name}`);
      button.addEventListener("click", () => this.onAction(name, button.dataset.action));
    }
    const next = [...this.list.children].find((other) => other.dataset.instance.localeCompare(name) > 0);
    this.list.insertBefore(card, next || null);
    return card;
  }
}
