"""panel: the built-in panel in Chromium with 1,000 instances and 100 ``instance.status``/s.

evo-relay only, global mode. The simulator (its own process) has N open instances (1,000)
spread over 10 tenants; the relay records them. Debian's Chromium (``/usr/bin/chromium``,
headless, through Playwright) opens the panel with a SUPERADMIN token, as an operator would,
with a ``PerformanceObserver`` for ``longtask`` entries installed before any of the page's
scripts run. Figures:

- **first render**: the panel's ``evo-relay:render`` performance mark (set when the first
  snapshot's instances are on screen), in ms from navigation start; also the
  ``evo-relay:snapshot`` mark (the snapshot received and applied);
- **long tasks while loading**: every main-thread task over 50 ms from navigation until 1 s
  after the first render;
- then the simulator emits ``connection.update`` at 100 events/s round-robin over the
  instances, alternating ``connecting`` and ``open``, so each event is a status change and
  the page receives 100 ``instance.status``/s (counted from Chromium's DevTools protocol) plus
  Evolution's own envelopes; over the window (15 s): **long tasks** and the longest one, and
  **search under load**: from typing a name into the search box until the list shows that one
  instance (in the page, through the next frame);
- **caught up**: after the load stops, seconds until the summary bar's counts equal the
  relay's (``GET /instances``).

Targets: first render ≤ 500 ms; no long task over 50 ms, loading or under load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.common.harness import Harness, names, spread, tenant_ids
from bench.common.servers import JWT_SECRET
from bench.common.tenant import API
from relay.auth import Role, mint_token
from relay.config import Settings

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
TARGET_RENDER_MS = 500.0
LONG_TASK_MS = 50.0
MIX = {"connection.update": 1.0}

LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
}).observe({ type: "longtask", buffered: true });
"""

SEARCH = """async (name) => {
  const input = document.getElementById("search");
  const count = document.getElementById("result-count");
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const started = performance.now();
  input.value = name;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  while (!count.textContent.startsWith("1 de")) await frame();
  await frame();
  const ms = performance.now() - started;
  input.value = "";
  input.dispatchEvent(new Event("input", { bubbles: true }));
  return ms;
}"""

SUMMARY = """() => Object.fromEntries([...document.querySelectorAll("#summary button")].map(
  (b) => [b.dataset.status || "all",
          Number(b.querySelector(".n").textContent.replace(/\\D/g, ""))]))"""
MARK = """(name) => {
  const marks = performance.getEntriesByName(name);
  return marks.length ? marks[0].startTime : null;
}"""


def superadmin_token() -> str:
    """A SUPERADMIN's token (no tenant: it sees every tenant, as the operator of a fleet)."""
    settings = Settings(_env_file=None, jwt_secret=JWT_SECRET)  # type: ignore[call-arg]
    return mint_token(settings, tenant=None, role=Role.SUPERADMIN, user="bench-panel")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Python playwright is missing (pip install -e '.[test]')"
    return None


async def _mark(page: Any, name: str) -> float | None:
    value = await page.evaluate(MARK, name)
    return None if value is None else round(float(value), 1)


async def _long_tasks(page: Any, since_ms: float, until_ms: float | None = None) -> list[float]:
    tasks: list[list[float]] = await page.evaluate("window.__longTasks")
    return [
        round(duration, 1)
        for start, duration in tasks
        if start >= since_ms and (until_ms is None or start < until_ms)
    ]


async def _truth(url: str, jwt: str) -> Counter[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + API + "/instances", headers={"Authorization": f"Bearer {jwt}"}) as resp,
    ):
        body = await resp.json()
    counts = Counter(i["status"] for i in body["instances"])
    counts["all"] = len(body["instances"])
    return counts


async def _caught_up(page: Any, url: str, jwt: str, within: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        shown = await page.evaluate(SUMMARY)
        truth = await _truth(url, jwt)
        if all(shown.get(k, 0) == truth.get(k, 0) for k in {*shown, *truth}):
            return round(time.monotonic() - started, 2)
        await asyncio.sleep(0.25)
    return None


async def panel(h: Harness) -> dict[str, Any]:
    if "relay" not in h.servers:
        return {"skipped": "evo-relay only"}
    missing = _missing()
    if missing is not None:
        return {"skipped" if h.smoke else "error": missing}
    from playwright.async_api import async_playwright

    s = h.sizes
    instances = names(s.panel_instances)
    tenants = spread(instances, tenant_ids(s.panel_tenants))
    jwt = superadmin_token()
    async with (
        h.simulator(len(instances), global_events=True) as sim,
        h.server("relay", sim, tenants, "panel", mode="global") as server,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            context = await browser.new_context(viewport=VIEWPORT)
            page = await context.new_page()
            await page.add_init_script(LONG_TASKS)
            statuses: list[float] = []
            cdp = await context.new_cdp_session(page)
            cdp.on(
                "Network.eventSourceMessageReceived",
                lambda m: (
                    statuses.append(time.monotonic())
                    if m.get("eventName") == "instance.status"
                    else None
                ),
            )
            await cdp.send("Network.enable")

            await page.goto(f"{server.url}/#token={jwt}")
            await page.wait_for_function(
                "() => performance.getEntriesByName('evo-relay:render').length > 0", timeout=30_000
            )
            rendered = await _mark(page, "evo-relay:render") or 0.0
            snapshot = await _mark(page, "evo-relay:snapshot")
            shown = (await page.evaluate(SUMMARY)).get("all")
            await asyncio.sleep(s.panel_settle)
            loading = await _long_tasks(page, 0.0)

            window_start = await page.evaluate("performance.now()")
            await sim.call("load", rate=s.panel_rate, mix=MIX, payload_bytes=0, seed=h.seed)
            await asyncio.sleep(s.panel_window / 2)
            received_from = len(statuses)
            t0 = time.monotonic()
            search_ms = await page.evaluate(SEARCH, instances[len(instances) // 2])
            await asyncio.sleep(s.panel_window / 2)
            received = len(statuses) - received_from
            received_s = time.monotonic() - t0
            sent = await sim.call("stop_load")
            window_end = await page.evaluate("performance.now()")
            under_load = await _long_tasks(page, window_start, window_end)
            caught_up = await _caught_up(page, server.url, jwt, s.panel_catch_up)
        finally:
            await browser.close()

    out = {
        "instances": len(instances), "tenants": s.panel_tenants, "shown_at_first_render": shown,
        "first_render_ms": rendered, "snapshot_ms": snapshot,
        "render_after_snapshot_ms": None if snapshot is None else round(rendered - snapshot, 1),
        "loading_long_tasks": len(loading), "loading_longest_task_ms": max(loading, default=None),
        "rate": s.panel_rate, "window_s": s.panel_window, "events_sent": sent.get("total"),
        "instance_status_per_s": round(received / received_s, 1) if received_s else None,
        "long_tasks": len(under_load), "longest_task_ms": max(under_load, default=None),
        "long_task_durations_ms": under_load[:50], "search_ms": round(float(search_ms), 1),
        "caught_up_s": caught_up,
        "render_met": rendered <= TARGET_RENDER_MS and shown == len(instances),
        "long_tasks_met": not loading and not under_load,
    }  # fmt: skip
    log.info("panel: %s", {k: v for k, v in out.items() if k != "long_task_durations_ms"})
    return {"servers": {"evo-relay": out}}
