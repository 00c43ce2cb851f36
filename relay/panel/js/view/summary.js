// The summary bar (a count per status, each one a filter button) and the toolbar (search,
// tenant, server, sort). Counts and the values to offer come in from the list state
// (render(state, {tenants, servers})); the user's choices leave as onFilter(name, value) and
// onSort(value).

import { STATUS_LABELS, number } from "../labels.js";

const ORDER = ["", "WORKING", "SCAN_QR_CODE", "STARTING", "STOPPED", "FAILED"];
const $ = (id) => document.getElementById(id);

export class Summary {
  constructor({ onFilter, onSort }) {
    this.bar = $("summary");
    this.buttons = new Map();
    for (const status of ORDER) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "summary-item";
      button.dataset.status = status;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = status ? STATUS_LABELS[status] : "Todas";
      const count = document.createElement("span");
      count.className = "n";
      count.textContent = "0";
      button.append(label, " ", count);
      if (status) button.title = `Código: ${status}`;
      button.addEventListener("click", () => onFilter("status", status));
      this.bar.append(button);
      this.buttons.set(status, button);
    }
    $("search").addEventListener("input", (event) => onFilter("search", event.target.value));
    $("tenant-filter").addEventListener("change", (event) => onFilter("tenant", event.target.value));
    $("server-filter").addEventListener("change", (event) => onFilter("server", event.target.value));
    $("sort").addEventListener("change", (event) => onSort(event.target.value));
    this.offered = { tenant: "", server: "" };
  }

  // showTenants: the token sees several tenants (a SUPERADMIN).
  render(state, showTenants) {
    const { counts, filters } = state;
    for (const [status, button] of this.buttons) {
      const n = status ? counts[status] : counts.all;
      const text = number(n);
      const count = button.querySelector(".n");
      if (count.textContent !== text) count.textContent = text;
      button.setAttribute("aria-pressed", String(filters.status === status));
    }
    this.options("tenant", $("tenant-field"), $("tenant-filter"), state.tenants, showTenants);
    this.options("server", $("server-field"), $("server-filter"), state.servers, state.servers.length > 0);
    const total = state.instances.size;
    const shown = state.rows.length;
    const text =
      shown === total
        ? `${number(total)} ${total === 1 ? "instância" : "instâncias"}`
        : `${number(shown)} de ${number(total)} instâncias`;
    const result = $("result-count");
    if (result.textContent !== text) result.textContent = text;
  }

  options(kind, field, select, values, show) {
    field.hidden = !show;
    const chosen = select.value;
    if (chosen && !values.includes(chosen)) values = [...values, chosen]; // keep the filter on
    const key = values.join("\n");
    if (this.offered[kind] === key) return;
    this.offered[kind] = key;
    const first = select.firstElementChild;
    select.replaceChildren(first);
    for (const value of values) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.append(option);
    }
    select.value = chosen;
  }

  reset() {
    $("search").value = "";
    $("tenant-filter").value = "";
    $("server-filter").value = "";
    $("sort").value = "name";
  }
}
