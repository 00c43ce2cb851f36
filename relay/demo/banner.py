"""What ``evo-relay demo`` prints once everything is up: URLs, tokens and curl lines."""

from __future__ import annotations

import shlex

from relay.demo.wiring import SEED, TENANT_A, TENANT_B, Demo

API = "/api/instance-management"


def _curl(demo: Demo, method: str, path: str, body: str | None = None) -> str:
    parts = ["curl", "-sS"]
    if method != "GET":
        parts += ["-X", method]
    line = " ".join(parts) + f" {demo.relay_url}{API}{path}"
    line += ' -H "Authorization: Bearer $TOKEN_A"'
    if body is not None:
        line += f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    return line


def _busy(wanted: int, url: str) -> str:
    return "" if url.endswith(f":{wanted}") else f"   ({wanted} was busy)"


def banner(demo: Demo) -> str:
    by_tenant = {
        tenant: ", ".join(f"{s.name} ({s.state}, {s.server})" for s in SEED if s.tenant == tenant)
        for tenant in (TENANT_A, TENANT_B)
    }
    servers = [
        f"  {name}:      {sim.base_url}   (Evolution 2.3.6 simulator; apikey {sim.config.apikey})"
        + _busy(demo.options.sim_port + offset, sim.base_url or "")
        for offset, (name, sim) in enumerate(demo.simulators.items())
    ]
    tokens = demo.tokens
    lines = [
        "",
        "evo-relay demo is running (Ctrl-C stops everything)",
        "",
        f"  panel (tenant A):    {demo.panel_url('tenant-a')}",
        f"  panel (tenant B):    {demo.panel_url('tenant-b')}",
        f"  panel (SUPERADMIN):  {demo.panel_url('superadmin')}",
        "",
        f"  relay:      {demo.relay_url}   (API {API}, live events /api/events, /socket.io/)"
        + _busy(demo.options.port, demo.relay_url),
        *(f"  node {n}:     {peer.url}   (same cluster: any node serves any client)"
          for n, peer in enumerate(demo.peers, start=2)),
        "  Evolution servers (a fleet of two; POST <server>/_sim/scan/<name> pairs an instance):",
        *servers,
        f"  tenant A:   {by_tenant[TENANT_A]}",
        f"  tenant B:   {by_tenant[TENANT_B]}",
        "",
        "Tokens (ADMIN of tenant A, ADMIN of tenant B, SUPERADMIN):",
        f"  export TOKEN_A={tokens['tenant-a']}",
        f"  export TOKEN_B={tokens['tenant-b']}",
        f"  export TOKEN_SUPER={tokens['superadmin']}",
        "",
        "The five seed endpoints, with tenant A's token (in this order, each one works):",
        "  " + _curl(demo, "GET", "/websocket/a-suporte"),
        "  " + _curl(demo, "POST", "/websocket/a-suporte",
                     '{"enabled": true, "events": ["MESSAGES_UPSERT"]}'),
        "  " + _curl(demo, "POST", "/restart/a-suporte"),
        "  " + _curl(demo, "POST", "/logout/a-suporte"),
        "  " + _curl(demo, "DELETE", "/delete/a-financeiro"),
        "",
        "Pair the QR instance as a phone would:",
        f"  curl -sS -X POST {demo.simulator_url}/_sim/scan/a-vendas",
        "",
    ]  # fmt: skip
    return "\n".join(lines)
