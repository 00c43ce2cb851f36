"""The panel with a thousand instances, as a SUPERADMIN sees them: counts, filters, search,
sorting and the keyboard stay usable. Timing is not asserted here (bench scenario ``panel``).

The instances are written straight into the relay's store (:func:`seed_many`), spread over ten
tenants and every status; the relay's snapshot reads the store, so the page gets all of them
from the stream.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import expect

from relay.appkeys import HUB
from relay.demo.wiring import SEED, Demo
from tests.browser.conftest import DOCS, Panel, seed_many

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

COUNT = 1000
LABELS = {
    "WORKING": "Conectado",
    "SCAN_QR_CODE": "Aguardando leitura do QR",
    "STARTING": "Iniciando",
    "STOPPED": "Desconectado",
    "FAILED": "Falha",
}


def n(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # pt-BR thousands


@pytest.fixture
async def seeded(demo: Demo, database_url: str) -> dict[str, tuple[str, str]]:
    return await seed_many(database_url, COUNT)


async def superadmin(panel: Panel) -> None:
    await panel.open("superadmin")
    total = COUNT + len(SEED)
    await expect(panel.page.locator("#result-count")).to_have_text(f"{n(total)} instâncias")
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")


async def test_counts_filters_search_and_sort_with_a_thousand_instances(
    panel: Panel, seeded: dict[str, tuple[str, str]]
) -> None:
    await superadmin(panel)
    page = panel.page
    rows = page.locator("li.row")
    drawn = await rows.count()
    assert 0 < drawn < 100, drawn  # the list draws what the window shows, not a thousand rows
    summary = page.locator("#summary")
    await expect(
        summary.get_by_role("button", name=f"Todas {n(COUNT + len(SEED))}")
    ).to_be_visible()
    # The demo is a fleet of two servers: a SUPERADMIN can filter by server.
    await expect(page.get_by_label("Servidor")).to_contain_text("evo-1")
    await expect(page.get_by_label("Servidor")).to_contain_text("evo-2")
    await panel.docs_shot("list")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(DOCS / "panel-list.png", DOCS / "panel.png")  # the README's picture

    # A tenant: the counts become that tenant's; a status button then filters inside it.
    tenant = "t-03"
    mine = Counter(status for t, status in seeded.values() if t == tenant)
    await page.get_by_label("Tenant", exact=True).select_option(tenant)
    await expect(page.locator("#result-count")).to_have_text(
        f"{sum(mine.values())} de {n(COUNT + len(SEED))} instâncias"
    )
    for status, label in LABELS.items():
        await expect(
            summary.get_by_role("button", name=f"{label} {mine[status]}", exact=True)
        ).to_be_visible()
    failed = summary.get_by_role("button", name=f"Falha {mine['FAILED']}", exact=True)
    await failed.click()
    await expect(failed).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#result-count")).to_have_text(
        f"{mine['FAILED']} de {n(COUNT + len(SEED))} instâncias"
    )
    await expect(rows.locator(".badge").first).to_have_text("Falha")
    assert set(await rows.locator(".badge").all_text_contents()) == {"Falha"}
    assert set(await rows.locator(".row-tenant").all_text_contents()) == {tenant}
    await expect(rows.first.locator(".reason")).to_have_text(
        "Conexão encerrada: acesso negado pelo WhatsApp (número banido ou bloqueado)"
    )
    await panel.docs_shot("filters")

    # Back to everything; search by name.
    await summary.get_by_role("button", name=f"Todas {sum(mine.values())}", exact=True).click()
    await page.get_by_label("Tenant", exact=True).select_option("")
    await page.get_by_label("Buscar").fill("load-0421")
    await expect(rows).to_have_count(1)
    tenant_0421, status_0421 = seeded["load-0421"]
    await expect(panel.badge("load-0421")).to_have_text(LABELS[status_0421])
    await expect(panel.row("load-0421").locator(".row-tenant")).to_have_text(tenant_0421)
    await page.get_by_label("Buscar").fill("")

    # Sorting by status puts failures first; by name, a-financeiro (a demo instance) leads.
    await page.get_by_label("Ordenar por").select_option("status")
    await expect(rows.first.locator(".badge")).to_have_text("Falha")
    await page.get_by_label("Ordenar por").select_option("name")
    await expect(rows.first).to_have_attribute("data-instance", "a-financeiro")
    await page.get_by_label("Ordenar por").select_option("changed")
    await expect(rows.first.locator(".row-time")).to_be_visible()


async def test_keyboard_walks_a_thousand_rows_and_opens_one(
    panel: Panel, seeded: dict[str, tuple[str, str]]
) -> None:
    await superadmin(panel)
    page = panel.page
    names = sorted([*seeded, *(s.name for s in SEED)])
    await page.keyboard.press("/")
    await expect(page.get_by_label("Buscar")).to_be_focused()
    first = panel.row(names[0]).locator(".row-open")
    await first.focus()
    await expect(first).to_have_attribute("tabindex", "0")  # the one tab stop of the list

    await page.keyboard.press("End")
    last = panel.row(names[-1]).locator(".row-open")
    await expect(last).to_be_focused()
    await expect(last).to_be_in_viewport()
    await expect(panel.row(names[-1])).to_have_attribute("aria-posinset", str(len(names)))
    await expect(panel.row(names[-1])).to_have_attribute("aria-setsize", str(len(names)))
    await expect(first).to_have_count(0)  # scrolled away: no longer drawn

    await page.keyboard.press("Home")
    await expect(panel.row(names[0]).locator(".row-open")).to_be_focused()
    await page.keyboard.press("PageDown")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowUp")
    focused = await page.evaluate("document.activeElement.closest('li').dataset.instance")
    index = names.index(focused)
    assert index > 5, focused
    await page.keyboard.press("Enter")
    detail = panel.detail
    await expect(detail).to_be_visible()
    await expect(detail.locator("#detail-title")).to_have_text(focused)
    if focused in seeded:  # its creation is in its history
        await expect(detail.locator("#history tbody tr")).to_have_count(1)
    await page.keyboard.press("Escape")
    await expect(panel.row(focused).locator(".row-open")).to_be_focused()


async def test_the_server_filter_follows_the_servers_instances_name(
    panel: Panel, demo: Demo, seeded: dict[str, tuple[str, str]]
) -> None:
    await superadmin(panel)
    page = panel.page
    await expect(page.locator("#server-field")).to_be_visible()
    await expect(page.get_by_label("Servidor")).not_to_contain_text("evo-sp-2")
    moved = ["load-0007", "load-0008", "load-0501"]
    for name in moved:  # as a relay with a fleet of Evolution servers sends them
        tenant, status = seeded[name]
        payload: dict[str, Any] = {
            "instanceName": name, "tenantId": tenant, "status": status, "previousStatus": status,
            "reason": "reconciled: open", "at": datetime.now(UTC).isoformat(), "server": "evo-sp-2",
        }  # fmt: skip
        await demo.app[HUB].publish(tenant, name, "instance.status", payload)
    await expect(page.get_by_label("Servidor")).to_contain_text("evo-sp-2")
    await page.get_by_label("Servidor").select_option("evo-sp-2")
    await expect(page.locator("li.row")).to_have_count(len(moved))
    assert await panel.rows() == moved
    await expect(panel.row("load-0007").locator(".row-server")).to_have_text("evo-sp-2")
    detail = await panel.open_detail("load-0007")
    await expect(detail.locator("#detail-server")).to_have_text("evo-sp-2")


async def test_a_2_2_server_is_offered_its_27_event_names(
    panel: Panel, demo: Demo, seeded: dict[str, tuple[str, str]]
) -> None:
    """The hook for the fleet's ``GET /servers`` (another branch): this relay has no such route,
    so the page's request is answered here with the shape the panel reads, and the websocket
    editor offers only what the instance's server accepts."""
    servers = {"success": True, "servers": [{"name": "evo-legado", "version": "2.2.3"},
                                             {"name": "evo-sp-2", "version": "2.3.6"}]}  # fmt: skip
    await panel.page.route(
        "**/api/instance-management/servers",
        lambda route: route.fulfill(json=servers),
    )
    await superadmin(panel)
    tenant, status = seeded["load-0009"]
    payload: dict[str, Any] = {
        "instanceName": "load-0009", "tenantId": tenant, "status": status,
        "previousStatus": status, "reason": "reconciled: open",
        "at": datetime.now(UTC).isoformat(), "server": "evo-legado",
    }  # fmt: skip
    await demo.app[HUB].publish(tenant, "load-0009", "instance.status", payload)
    await expect(panel.row("load-0009").locator(".row-server")).to_have_text("evo-legado")
    await expect(panel.page.get_by_label("Servidor")).to_contain_text("evo-sp-2")  # from /servers
    detail = await panel.open_detail("load-0009")
    await expect(detail.locator("#detail-server")).to_have_text("evo-legado · Evolution 2.2.3")
    form = detail.locator("#ws-form")
    await expect(form.locator("[data-events] input")).to_have_count(27)
    await expect(form.locator("#ws-offered")).to_have_text("(27 aceitos pelo Evolution 2.2.3)")
    for newer in ("INSTANCE_CREATE", "INSTANCE_DELETE", "STATUS_INSTANCE", "SEND_MESSAGE_UPDATE"):
        await expect(form.get_by_label(newer, exact=True)).to_have_count(0)
    await expect(detail.locator("#wh-form [data-events] input")).to_have_count(27)
