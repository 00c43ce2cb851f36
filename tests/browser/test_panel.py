"""The built-in panel in real Chromium, against the demo's wiring (simulator, relay, Postgres).

Every wait is Playwright's ``expect`` with a timeout or a poll with a deadline; each step
leaves a screenshot in ``artifacts/browser/``. ``UPDATE_DOCS_SCREENSHOT=1`` also refreshes
``docs/panel.png`` from the first test.
"""

from __future__ import annotations

import os
import re

import aiohttp
import pytest
from playwright.async_api import expect

from relay.demo.wiring import DEMO_EVENTS, SEED, TENANT_A, TENANT_B, Demo
from tests.browser.conftest import PHONE, CuttableLink, Panel, api, scan, stored_status
from tests.conftest import REPO
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)
TENANT_B_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_B)
DOCS_SCREENSHOT = REPO / "docs" / "panel.png"
PNG_DATA_URL = re.compile(r"^data:image/png;base64,")


async def test_tenant_a_sees_exactly_its_instances(panel: Panel) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))
    assert await panel.cards() == TENANT_A_NAMES
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")

    working = panel.card("a-suporte")
    await expect(working.locator(".badge")).to_have_text("WORKING")
    await expect(working.locator(".profile-name")).to_have_text("Suporte Loja A")
    await expect(working.locator(".profile-number")).to_have_text("+5511990000001")
    await expect(panel.badge("a-financeiro")).to_have_text("STOPPED")
    await expect(panel.card("a-vendas").locator(".qr-img")).to_be_visible()
    await panel.shot("tenant-a")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        await panel.shot("docs", DOCS_SCREENSHOT, full_page=True)

    await panel.page.set_viewport_size(PHONE)
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))
    overflow = await panel.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    await panel.shot("phone", full_page=True)

    assert "token=" not in panel.page.url  # taken out of the address bar...
    await panel.page.reload()  # ...and kept for the tab's session
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))


async def test_qr_appears_and_changes_on_rotation(panel: Panel) -> None:
    await panel.open("tenant-a")
    card = panel.card("a-vendas")
    await expect(card.locator(".badge")).to_have_text("SCAN_QR_CODE")
    image = card.locator("img.qr-img")
    await expect(image).to_be_visible()
    await expect(image).to_have_attribute("src", PNG_DATA_URL)
    first = await image.get_attribute("src")
    await panel.shot("first-qr")
    await expect(image).not_to_have_attribute("src", first or "", timeout=8_000)
    second = await image.get_attribute("src")
    assert second and second.startswith("data:image/png;base64,") and second != first
    await panel.shot("rotated-qr")


async def test_scan_turns_badge_working_without_reload(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    card = panel.card("a-vendas")
    await expect(card.locator(".badge")).to_have_text("SCAN_QR_CODE")
    await panel.page.evaluate("window.__loadedOnce = true")

    await scan(http, demo, "a-vendas")
    await expect(card.locator(".badge")).to_have_text("WORKING", timeout=5_000)
    await expect(card.locator(".qr")).to_be_hidden()
    await expect(card.locator(".profile")).to_be_visible()
    assert await panel.page.evaluate("window.__loadedOnce") is True  # no reload happened
    await panel.shot("working")


async def test_logout_shows_toast_and_stopped(panel: Panel) -> None:
    await panel.open("tenant-a")
    card = panel.card("a-suporte")
    await expect(card.locator(".badge")).to_have_text("WORKING")
    await card.get_by_role("button", name="Desconectar a-suporte").click()
    toast = panel.page.locator(".toast").filter(has_text="Logout realizado com sucesso")
    await expect(toast).to_be_visible()
    await expect(card.locator(".badge")).to_have_text("STOPPED")
    await panel.shot("logged-out")


async def test_delete_asks_first_cancel_keeps_confirm_removes(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    card = panel.card("a-financeiro")
    dialog = panel.page.locator("#confirm-dialog")
    delete_button = card.get_by_role("button", name="Deletar a-financeiro")

    await delete_button.click()
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_have_text("Tem certeza?")
    await panel.shot("modal")
    await dialog.get_by_role("button", name="Cancelar").click()
    await expect(dialog).to_be_hidden()
    await expect(card).to_be_visible()
    status, _ = await api(http, demo, "GET", "/status/a-financeiro")
    assert status == 200  # cancel sent nothing

    await delete_button.click()
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Deletar").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância deletada com sucesso")
    await expect(toast).to_be_visible()
    await expect(card).to_have_count(0)
    await panel.shot("deleted")
    status, body = await api(http, demo, "GET", "/status/a-financeiro")
    assert status == 404 and body["code"] == "INSTANCE_NOT_FOUND"


async def test_websocket_dialog_saves_and_shows_effective_list(panel: Panel) -> None:
    await panel.open("tenant-a")
    card = panel.card("a-suporte")
    await card.get_by_role("button", name="WebSocket a-suporte").click()
    dialog = panel.page.locator("#ws-dialog")
    await expect(dialog).to_be_visible()
    boxes = dialog.locator("#ws-list input[type=checkbox]")
    await expect(boxes).to_have_count(31)
    for event in DEMO_EVENTS:  # the current config is loaded into the checkboxes
        await expect(dialog.get_by_label(event, exact=True)).to_be_checked()

    await dialog.get_by_role("button", name="Nenhum").click()
    await dialog.get_by_label("MESSAGES_UPSERT", exact=True).check()
    await dialog.get_by_label("CALL", exact=True).check()
    await dialog.get_by_role("button", name="Salvar").click()

    effective = dialog.locator("#ws-effective")
    await expect(dialog.locator("#ws-effective-count")).to_have_text("(4)")
    text = await effective.text_content() or ""
    assert set(text.split(", ")) == {
        "CALL",
        "CONNECTION_UPDATE",
        "MESSAGES_UPSERT",
        "QRCODE_UPDATED",
    }
    await expect(dialog.get_by_label("CONNECTION_UPDATE", exact=True)).to_be_checked()
    await expect(dialog.get_by_label("QRCODE_UPDATED", exact=True)).to_be_checked()
    toast = panel.page.locator(".toast").filter(has_text="WebSocket configurado com sucesso")
    await expect(toast).to_be_visible()
    await panel.shot("websocket-saved")
    await panel.page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()


async def test_tenant_b_never_sees_tenant_a(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open(None)
    bad = panel.page.locator(".toast.error")
    await panel.page.get_by_label("Token (JWT)").fill("not-a-token")
    await panel.page.get_by_label("Token (JWT)").press("Enter")
    await expect(bad).to_contain_text("UNAUTHENTICATED")

    # Keyboard only: the token field, Enter.
    await panel.page.get_by_label("Token (JWT)").fill(demo.tokens["tenant-b"])
    await panel.page.get_by_label("Token (JWT)").press("Enter")
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_B_NAMES))
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")

    # Tenant A changes while B watches; then B changes, and B's page shows B's change.
    await scan(http, demo, "a-vendas")
    await stored_status(http, demo, "a-vendas", "WORKING")
    status, _ = await api(http, demo, "POST", "/logout/a-suporte")
    assert status == 200
    status, _ = await api(http, demo, "POST", "/logout/b-recepcao", who="tenant-b")
    assert status == 200
    await expect(panel.badge("b-recepcao")).to_have_text("STOPPED")

    assert await panel.cards() == TENANT_B_NAMES
    seen = set().union(*(frame.names() for frame in panel.frames))
    assert "b-recepcao" in seen and seen <= set(TENANT_B_NAMES), seen  # on the wire, too
    body = await panel.page.locator("body").inner_text()
    assert not any(name in body for name in TENANT_A_NAMES)
    await panel.shot("tenant-b")


async def test_stream_drop_resumes_without_missing_a_status(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession, link: CuttableLink
) -> None:
    await panel.open("tenant-a", base=link.url)
    badge = panel.badge("a-vendas")
    stream_state = panel.page.locator("#stream-state")
    await expect(badge).to_have_text("SCAN_QR_CODE")
    await expect(stream_state).to_have_attribute("data-state", "live")
    before = panel.last_id()

    link.cut()  # the network drops: the browser retries by itself, and is refused for now
    await expect(stream_state).to_have_attribute("data-state", "reconnecting")
    await scan(http, demo, "a-vendas")
    await stored_status(http, demo, "a-vendas", "WORKING")
    await expect(badge).to_have_text("SCAN_QR_CODE")  # the page is really cut off
    await panel.shot("dropped")

    link.restore()
    await expect(badge).to_have_text("WORKING", timeout=10_000)
    await expect(stream_state).to_have_attribute("data-state", "live")

    def working() -> list[int]:
        return [
            i for i, f in enumerate(panel.frames)
            if f.event == "instance.status" and f.data["instanceName"] == "a-vendas"
            and f.data["status"] == "WORKING"
        ]  # fmt: skip

    # DevTools reports frames on its own channel: give it a moment to catch up with the DOM.
    replayed = await eventually(working, within=5)
    events = [f.event for f in panel.frames]
    assert all(panel.frames[i].id is not None and panel.frames[i].id > before for i in replayed)
    # Replayed from Last-Event-ID: it comes before the new connection's snapshot.
    second_snapshot = [i for i, e in enumerate(events) if e == "instances.snapshot"][1]
    assert replayed[0] < second_snapshot, events
    await panel.shot("resumed")


async def test_create_form_adopts_and_creates(panel: Panel, demo: Demo) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))
    await panel.page.get_by_label("Nome da instância").fill("a-novo")
    await panel.page.get_by_role("button", name="Criar / adotar").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância criada com sucesso")
    await expect(toast).to_be_visible()
    await expect(panel.card("a-novo")).to_be_visible()
    assert demo.simulator.store.get("a-novo") is not None
    await panel.shot("created")


async def test_connect_shows_a_qr_and_restart_a_toast(panel: Panel) -> None:
    await panel.open("tenant-a")
    stopped = panel.card("a-financeiro")
    await expect(stopped.locator(".badge")).to_have_text("STOPPED")
    await stopped.get_by_role("button", name="Conectar a-financeiro", exact=True).click()
    toast = panel.page.locator(".toast").filter(has_text="Conexão iniciada com sucesso")
    await expect(toast).to_be_visible()
    await expect(stopped.locator(".badge")).to_have_text("SCAN_QR_CODE")
    await expect(stopped.locator("img.qr-img")).to_have_attribute("src", PNG_DATA_URL)
    await panel.shot("connected")

    working = panel.card("a-suporte")
    await working.get_by_role("button", name="Reiniciar a-suporte").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância reiniciada com sucesso")
    await expect(toast).to_be_visible()
    await panel.shot("restarted")
