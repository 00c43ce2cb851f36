// One QR area (in the detail view, or large for a phone): the image, the pairing code in large
// type, a countdown to the QR's expiry, or why no QR is shown.
//
// Data comes in as (record, view) from the live client: view is client.qr(record), which
// already says when a QR may not be shown (expired, relay down, Evolution down). tick(now)
// moves the countdown between events; an expired QR is hidden at its second, not at the next
// event.

import { countdown, pairingText } from "../labels.js";

const NOTES = {
  expired: "QR expirado — aguardando um novo do Evolution.",
  relay: "QR oculto: sem conexão com o relay.",
  upstream: "QR oculto: o Evolution está inacessível.",
};

const IDLE_NOTES = {
  STARTING: "Aguardando o QR code do Evolution…",
  SCAN_QR_CODE: "Aguardando o QR code do Evolution…",
  WORKING: "Conectada: não há o que parear.",
  STOPPED: "Desconectada. Use Conectar para gerar um QR code, ou Conectar com número.",
  FAILED: "Com falha. Use Conectar para tentar de novo.",
};

export class QrView {
  // container: the element to fill; onExpire(): called once when a shown QR expires.
  constructor(container, { large = false, onExpire = () => {} } = {}) {
    const template = document.getElementById("qr-template");
    this.root = template.content.firstElementChild.cloneNode(true);
    this.root.classList.toggle("large", large);
    container.replaceChildren(this.root);
    this.img = this.root.querySelector(".qr-img");
    this.pairing = this.root.querySelector(".pairing-code");
    this.countdown = this.root.querySelector(".qr-countdown");
    this.left = this.root.querySelector(".qr-left");
    this.bar = this.root.querySelector(".qr-bar > span");
    this.note = this.root.querySelector(".qr-note");
    this.onExpire = onExpire;
    this.record = null;
    this.shown = null; // {expiresAt, receivedAt} of the QR on screen
  }

  render(record, view, now = Date.now()) {
    this.record = record;
    const name = record ? record.instanceName : "";
    this.img.alt = `QR code para conectar ${name}`;
    if (!view || !view.qrcode) {
      this.hide(view ? view.hidden : "none");
      return;
    }
    const { base64, pairingCode } = view.qrcode;
    this.root.dataset.state = "shown";
    this.img.hidden = !base64;
    if (base64 && this.img.getAttribute("src") !== base64) this.img.src = base64;
    this.pairing.hidden = !pairingCode;
    this.pairing.querySelector("strong").textContent = pairingText(pairingCode);
    this.shown = { expiresAt: view.expiresAt, receivedAt: record.qrReceivedAt ?? now };
    this.countdown.hidden = false;
    this.note.textContent = "";
    this.tick(now);
  }

  hide(why) {
    const was = this.shown;
    this.shown = null;
    this.root.dataset.state = why;
    this.img.hidden = true;
    this.img.removeAttribute("src");
    this.pairing.hidden = true;
    this.countdown.hidden = true;
    const status = this.record ? this.record.status : "";
    this.note.textContent = NOTES[why] || IDLE_NOTES[status] || "";
    if (was && why === "expired") this.onExpire();
  }

  // The countdown; at zero the QR goes.
  tick(now = Date.now()) {
    if (!this.shown) return;
    const left = this.shown.expiresAt - now;
    if (left <= 0) {
      this.hide("expired");
      return;
    }
    const total = Math.max(1, this.shown.expiresAt - this.shown.receivedAt);
    const text = countdown(left);
    if (this.left.textContent !== text) this.left.textContent = text;
    this.bar.style.width = `${Math.min(100, (100 * left) / total).toFixed(1)}%`;
  }
}
