"""Accessibility: axe-core (npm, ``tests/node_modules``) finds no serious or critical violation
in any state of the panel; dialogs take focus, keep it, and give it back; status changes are
announced through an ``aria-live`` region.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from playwright.async_api import expect

from relay.appkeys import HUB
from relay.demo.wiring import SEED, TENANT_A, Demo
from tests.browser.conftest import Panel, scan

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)


def now() -> str:
    return datetime.now(UTC).isoformat()


async def no_violations(panel: Panel, state: str) -> None:
    found = await panel.axe()
    assert not found, f"axe-core, {state}: {found}"


async def test_axe_finds_no_serious_violation_in_any_state(panel: Panel, demo: Demo) -> None:
    await panel.open(None)
    await expect(panel.page.locator("#login")).to_be_visible()
    await no_violations(panel, "sign-in")

    await panel.open("tenant-a")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await no_violations(panel, "list")

    detail = await panel.open_detail("a-vendas")
    await expect(detail.locator("#ws-form [data-events] input")).to_have_count(31)
    await expect(detail.locator("#history tbody tr").first).to_be_visible()
    await no_violations(panel, "detail")
    await detail.get_by_role("button", name="QR grande").click()
    await expect(panel.page.locator("#qr-dialog img.qr-img")).to_be_visible()
    await no_violations(panel, "large QR")
    await panel.page.keyboard.press("Escape")
    await detail.get_by_role("button", name="Deletar").click()
    await expect(panel.page.locator("#confirm-dialog")).to_be_visible()
    await no_violations(panel, "confirm")
    await panel.page.keyboard.press("Escape")
    await panel.page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()

    hub = demo.app[HUB]
    await hub.publish(TENANT_A, "", "upstream.status", {"server": "evo-1", "state": "down",
                                                         "since": now()})  # fmt: skip
    await hub.publish(TENANT_A, "", "session.expired", {})
    await expect(panel.page.locator("#upstream-banner")).to_be_visible()
    await expect(panel.page.locator("#session-banner")).to_be_visible()
    await no_violations(panel, "banners")

    await panel.page.set_viewport_size({"width": 390, "height": 844})
    await no_violations(panel, "phone")


async def test_dialogs_take_keep_and_give_back_focus(panel: Panel) -> None:
    await panel.open("tenant-a")
    page = panel.page
    opener = panel.row("a-suporte").locator(".row-open")
    await opener.focus()
    await page.keyboard.press("Enter")
    detail = panel.detail
    await expect(detail).to_be_visible()
    await expect(detail.get_by_role("button", name="Fechar detalhes")).to_be_focused()
    for _ in range(40):  # Tab through everything: focus never lands behind the modal
        await page.keyboard.press("Tab")
        inside = await page.evaluate(
            "document.activeElement === document.body"
            " || document.getElementById('detail').contains(document.activeElement)"
        )
        assert inside, await page.evaluate("document.activeElement.outerHTML")
    await page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()
    await expect(opener).to_be_focused()


async def test_status_changes_are_announced(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    announcer = panel.page.locator("#announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")
    await expect(panel.badge("a-vendas")).to_have_text("Aguardando leitura do QR")
    await scan(http, demo, "a-vendas")
    await expect(announcer).to_contain_text("a-vendas: Conectado", timeout=8_000)
