// The instance list: one row per instance, drawn only where the window can see it, so 1,000
// instances cost the DOM of about thirty rows.
//
// Rows come in from the list state (render(rows)); a click or Enter on a row leaves as
// onOpen(name), on its QR button as onQr(name). Rows have one height (CSS --row-height) and
// are placed by index, in document order, inside a list as tall as all of them; scrolling the
// window redraws the visible slice. Keyboard: one tab stop (the active row), arrows, Page Up
// and Down, Home and End move it.

import { formatDate, reasonText, relativeTime, statusLabel } from "../labels.js";

const OVERSCAN = 6;

export class InstanceList {
  // qrShown(record): whether a valid QR can be shown now (the row then offers its button).
  constructor({ onOpen, onQr, qrShown }) {
    this.el = document.getElementById("instances");
    this.template = document.getElementById("row-template");
    this.onOpen = onOpen;
    this.onQr = onQr;
    this.qrShown = qrShown;
    this.rows = [];
    this.elements = new Map(); // name -> <li>, for the rows in the DOM
    this.signatures = new WeakMap(); // <li> -> what it shows, to skip unchanged rows
    this.active = null; // the name of the row that holds the tab stop
    this.rowHeight = 0;
    this.frame = 0;
    this.el.addEventListener("click", (event) => this.click(event));
    this.el.addEventListener("keydown", (event) => this.key(event));
    const later = () => this.later();
    window.addEventListener("scroll", later, { passive: true });
    window.addEventListener("resize", () => {
      this.rowHeight = 0;
      later();
    });
  }

  later() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  render(rows) {
    this.rows = rows;
    if (this.active === null || !rows.some((r) => r.instanceName === this.active)) {
      this.active = rows.length ? rows[0].instanceName : null;
    }
    this.draw();
  }

  // Redraws the rows that changed, e.g. when a QR expires.
  refresh() {
    this.draw(true);
  }

  measure() {
    if (!this.rowHeight) {
      const value = getComputedStyle(this.el).getPropertyValue("--row-height");
      this.rowHeight = Number.parseFloat(value) || 56;
    }
    return this.rowHeight;
  }

  range() {
    const height = this.measure();
    const top = this.el.getBoundingClientRect().top;
    const first = Math.floor(Math.max(0, -top) / height) - OVERSCAN;
    const last = Math.ceil((window.innerHeight - top) / height) + OVERSCAN;
    return [Math.max(0, first), Math.min(this.rows.length, Math.max(0, last))];
  }

  draw(force = false) {
    const count = this.rows.length;
    if (!count) {
      for (const li of this.elements.values()) li.remove();
      this.elements.clear();
      this.el.style.height = "0px";
      return; // nothing to place: no layout to read
    }
    const height = this.measure();
    this.el.style.height = `${count * height}px`;
    const [first, last] = this.range();
    const wanted = [];
    for (let i = first; i < last; i += 1) wanted.push(i);
    const activeIndex = this.indexOf(this.active);
    if (activeIndex >= 0 && (activeIndex < first || activeIndex >= last)) {
      wanted.push(activeIndex); // the tab stop stays in the DOM, where it is in the order
      wanted.sort((a, b) => a - b);
    }
    const focused = this.el.contains(document.activeElement) ? document.activeElement : null;
    const keep = new Set(wanted.map((i) => this.rows[i].instanceName));
    for (const [name, li] of this.elements) {
      if (!keep.has(name)) {
        li.remove();
        this.elements.delete(name);
      }
    }
    let cursor = this.el.firstElementChild;
    for (const index of wanted) {
      const record = this.rows[index];
      const li = this.elements.get(record.instanceName) || this.create(record.instanceName);
      this.update(li, record, index, count, force);
      if (li !== cursor) this.el.insertBefore(li, cursor);
      else cursor = cursor.nextElementSibling;
    }
    if (focused && !this.el.contains(document.activeElement)) this.focusActive();
  }

  create(name) {
    const li = this.template.content.firstElementChild.cloneNode(true);
    li.dataset.instance = name;
    li.querySelector(".name").textContent = name;
    li.querySelector(".row-qr").setAttribute("aria-label", `QR grande de ${name}`);
    this.elements.set(name, li);
    return li;
  }

  update(li, record, index, count, force) {
    const name = record.instanceName;
    const qr = this.qrShown(record);
    const tabbable = name === this.active;
    const signature = [
      record.status, record.statusReason, record.tenantId, record.server, record.statusAt,
      qr, index, count, tabbable, this.measure(),
    ].join("|");
    if (!force && this.signatures.get(li) === signature) return;
    this.signatures.set(li, signature);
    li.style.transform = `translateY(${index * this.measure()}px)`;
    li.setAttribute("aria-posinset", String(index + 1));
    li.setAttribute("aria-setsize", String(count));
    li.dataset.status = record.status;
    const badge = li.querySelector(".badge");
    badge.dataset.status = record.status;
    badge.textContent = statusLabel(record.status);
    badge.title = `Código: ${record.status}`;
    const reason = li.querySelector(".reason");
    reason.textContent = reasonText(record.statusReason);
    reason.title = record.statusReason ? `Motivo: ${record.statusReason}` : "";
    li.querySelector(".row-tenant").textContent = record.tenantId || "";
    li.querySelector(".row-server").textContent = record.server || "";
    const time = li.querySelector(".row-time");
    const at = record.statusAt || record.updatedAt || "";
    time.dateTime = at;
    time.title = at ? formatDate(at) : "";
    time.textContent = at ? relativeTime(at) : "";
    const open = li.querySelector(".row-open");
    open.tabIndex = tabbable ? 0 : -1;
    const qrButton = li.querySelector(".row-qr");
    qrButton.classList.toggle("off", !qr); // its slot stays, so the columns line up
    qrButton.disabled = !qr;
    qrButton.tabIndex = tabbable && qr ? 0 : -1;
  }

  // Every second: the relative times of the rows on screen.
  tick(now) {
    for (const li of this.elements.values()) {
      const time = li.querySelector(".row-time");
      if (!time.dateTime) continue;
      const text = relativeTime(time.dateTime, now);
      if (time.textContent !== text) time.textContent = text;
    }
  }

  indexOf(name) {
    if (name === null) return -1;
    return this.rows.findIndex((record) => record.instanceName === name);
  }

  click(event) {
    const li = event.target.closest("li.row");
    if (!li) return;
    const name = li.dataset.instance;
    this.active = name;
    if (event.target.closest(".row-qr")) this.onQr(name);
    else if (event.target.closest(".row-open")) this.onOpen(name);
  }

  key(event) {
    if (!event.target.closest("li.row")) return;
    const index = this.indexOf(this.active);
    const page = Math.max(1, Math.floor(window.innerHeight / this.measure()) - 2);
    const moves = {
      ArrowDown: index + 1,
      ArrowUp: index - 1,
      PageDown: index + page,
      PageUp: index - page,
      Home: 0,
      End: this.rows.length - 1,
    };
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const li = event.target.closest("li.row");
      const target = li.querySelector(event.key === "ArrowRight" ? ".row-qr" : ".row-open");
      if (!target.disabled) target.focus();
      event.preventDefault();
      return;
    }
    if (!(event.key in moves) || !this.rows.length) return;
    event.preventDefault();
    this.moveTo(Math.max(0, Math.min(this.rows.length - 1, moves[event.key])));
  }

  moveTo(index) {
    this.active = this.rows[index].instanceName;
    this.reveal(index);
    this.draw();
    this.focusActive();
  }

  // Scrolls the window so that row `index` is in view.
  reveal(index) {
    const height = this.measure();
    const top = this.el.getBoundingClientRect().top + index * height;
    const header = 8;
    if (top < header) window.scrollBy(0, top - header);
    else if (top + height > window.innerHeight) window.scrollBy(0, top + height - window.innerHeight);
  }

  focusActive() {
    const li = this.active !== null ? this.elements.get(this.active) : null;
    if (li) li.querySelector(".row-open").focus({ preventScroll: true });
    else this.el.focus({ preventScroll: true });
  }

  // The active row's button, if it is drawn (to give focus back after a dialog).
  activeButton() {
    const li = this.active !== null ? this.elements.get(this.active) : null;
    return li ? li.querySelector(".row-open") : null;
  }
}
