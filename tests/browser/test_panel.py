"""The built-in panel in real Chromium, against the demo's wiring (simulator, relay, Postgres).

Every wait is Playwright's ``expect`` with a timeout or a poll with a deadline; each step
leaves a screenshot in ``artifacts/browser/``. ``UPDATE_DOCS_SCREENSHOT=1`` also refreshes
``docs/panel.png`` and ``docs/panel-*.png``.
"""

from __future__ import annotations

import os
import re

import aiohttp
import pytest
from playwright.async_api import expect

from relay.demo.wiring import DEMO_EVENTS, SEED, TENANT_A, TENANT_B, Demo
from tests.browser.conftest import DOCS, PHONE, CuttableLink, Panel, api, scan, stored_status
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)
TENANT_B_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_B)
PNG_DATA_URL = re.compile(r"^data:image/png;base64,")
PAIRING = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")


async def test_tenant_a_sees_its_instances_in_portuguese(panel: Panel, demo: Demo) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    assert await panel.rows() == TENANT_A_NAMES
    await expect(panel.page.locator("#stream-state")).to_have_text("ao vivo")

    await expect(panel.badge("a-suporte")).to_have_text("Conectado")
    await expect(panel.badge("a-suporte")).to_have_attribute("title", "Código: WORKING")
    await expect(panel.badge("a-financeiro")).to_have_text("Desconectado")
    await expect(panel.badge("a-vendas")).to_have_text("Aguardando leitura do QR")
    reason = panel.row("a-suporte").locator(".reason")
    await expect(reason).to_have_text("Instância de demonstração")
    await expect(reason).to_have_attribute("title", "Motivo: demo seed")
    await expect(panel.row("a-suporte").locator(".row-time")).to_have_text(
        re.compile(r"^(agora|há \d+ s)$")
    )
    summary = panel.page.locator("#summary")
    await expect(summary.get_by_role("button", name="Todas 3", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(summary.get_by_role("button", name="Conectado 1", exact=True)).to_be_visible()
    await expect(panel.page.locator("#result-count")).to_have_text("3 instâncias")
    await expect(
        panel.row("a-vendas").get_by_role("button", name="QR grande de a-vendas")
    ).to_be_enabled()
    assert not panel.failed_loads, panel.failed_loads  # the favicon is there: no 404 on load
    await panel.docs_shot("tenant")

    await panel.page.set_viewport_size(PHONE)
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    overflow = await panel.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    await panel.docs_shot("phone", full_page=True)

    assert "token=" not in panel.page.url  # taken out of the address bar...
    await panel.page.reload()  # ...and kept for the tab's session
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))


async def test_detail_shows_the_qr_with_its_countdown_and_follows_rotation(panel: Panel) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-vendas")
    await expect(detail.locator("#detail-badge")).to_have_text("Aguardando leitura do QR")
    image = detail.locator("#detail-qr img.qr-img")
    await expect(image).to_be_visible()
    await expect(image).to_have_attribute("src", PNG_DATA_URL)
    await expect(detail.locator("#detail-qr .qr-left")).to_have_text(re.compile(r"^0:\d\d$"))
    first = await image.get_attribute("src")
    await panel.docs_shot("detail")
    await expect(image).not_to_have_attribute("src", first or "", timeout=8_000)

    await detail.get_by_role("button", name="QR grande").click()
    large = panel.page.locator("#qr-dialog")
    await expect(large).to_be_visible()
    await expect(large.get_by_role("heading")).to_have_text("QR de a-vendas")
    big = large.locator("img.qr-img")
    await expect(big).to_have_attribute("src", PNG_DATA_URL)
    box = await big.bounding_box()
    assert box and box["width"] >= 300, box  # large enough for a phone's camera across a desk
    await panel.docs_shot("qr-large")
    await panel.page.keyboard.press("Escape")
    await expect(large).to_be_hidden()
    await expect(detail.get_by_role("button", name="QR grande")).to_be_focused()


async def test_scan_turns_the_row_conectado_without_reload(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    badge = panel.badge("a-vendas")
    await expect(badge).to_have_text("Aguardando leitura do QR")
    await panel.page.evaluate("window.__loadedOnce = true")

    await scan(http, demo, "a-vendas")
    await expect(badge).to_have_text("Conectado", timeout=5_000)
    await expect(panel.row("a-vendas").locator(".reason")).to_have_text("Conectado ao WhatsApp")
    await expect(panel.row("a-vendas").locator(".row-qr")).to_be_disabled()
    assert await panel.page.evaluate("window.__loadedOnce") is True  # no reload happened
    # Screen readers hear it: the row is on screen.
    await expect(panel.page.locator("#announcer")).to_contain_text("a-vendas: Conectado")


async def test_logout_from_the_detail_and_its_story_in_history_and_audit(panel: Panel) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-suporte")
    await expect(detail.locator("#detail-profile")).to_have_text("Suporte Loja A")
    await expect(detail.locator("#detail-number")).to_have_text("+5511990000001")
    await expect(detail.locator("#detail-server")).to_have_text("evo-1 · no ar")
    history = detail.locator("#history tbody tr")
    await expect(history.first).to_contain_text("Conectado")
    before = await history.count()

    await detail.get_by_role("button", name="Desconectar").click()
    toast = panel.page.locator(".toast").filter(has_text="Logout realizado com sucesso")
    await expect(toast).to_be_visible()
    await expect(detail.locator("#detail-badge")).to_have_text("Desconectado")
    await expect(detail.locator("#detail-reason")).to_have_text("Desconectado pelo painel")
    await expect(detail.locator("#detail-reason")).to_have_attribute("title", "Motivo: api:logout")

    # The history (GET /status) and the audit trail (GET /audit?instanceName=) follow.
    await expect(history).to_have_count(before + 1)
    newest = history.first.locator("td")
    await expect(newest.nth(0)).to_contain_text(re.compile(r"\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}"))
    await expect(newest.nth(1)).to_have_text("Conectado")
    await expect(newest.nth(2)).to_have_text("Desconectado")
    await expect(newest.nth(3)).to_have_text("Desconectado pelo painel")
    audit = detail.locator("#audit tbody tr").first.locator("td")
    await expect(audit.nth(1)).to_have_text("ana@tenant-a (ADMIN)")
    await expect(audit.nth(2)).to_have_text("Desconexão")
    await expect(audit.nth(3)).to_have_text("sucesso")
    await expect(detail.locator("#history-state")).to_contain_text("Estado no Evolution agora")
    await detail.locator("#history-title").scroll_into_view_if_needed()
    await panel.docs_shot("history")
    await panel.page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()
    await expect(panel.badge("a-suporte")).to_have_text("Desconectado")


async def test_delete_asks_first_cancel_keeps_confirm_removes(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-financeiro")
    dialog = panel.page.locator("#confirm-dialog")
    delete_button = detail.get_by_role("button", name="Deletar")

    await delete_button.click()
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_have_text("Tem certeza?")
    await expect(dialog.get_by_role("button", name="Cancelar")).to_be_focused()
    await dialog.get_by_role("button", name="Cancelar").click()
    await expect(dialog).to_be_hidden()
    await expect(delete_button).to_be_focused()  # focus comes back to what opened it
    status, _ = await api(http, demo, "GET", "/status/a-financeiro")
    assert status == 200  # cancel sent nothing

    await delete_button.click()
    await dialog.get_by_role("button", name="Deletar").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância deletada com sucesso")
    await expect(toast).to_be_visible()
    await expect(panel.row("a-financeiro")).to_have_count(0)
    await expect(detail).to_be_hidden()
    status, body = await api(http, demo, "GET", "/status/a-financeiro")
    assert status == 404 and body["code"] == "INSTANCE_NOT_FOUND"


async def test_websocket_editor_saves_and_shows_the_effective_list(panel: Panel) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-suporte")
    form = detail.locator("#ws-form")
    boxes = form.locator("[data-events] input[type=checkbox]")
    await expect(boxes).to_have_count(31)  # no version from the API: the 31 of Evolution 2.3
    for event in DEMO_EVENTS:  # the current config is loaded into the checkboxes
        await expect(form.get_by_label(event, exact=True)).to_be_checked()

    await form.get_by_role("button", name="Nenhum").click()
    await form.get_by_label("MESSAGES_UPSERT", exact=True).check()
    await form.get_by_label("CALL", exact=True).check()
    await form.get_by_role("button", name="Salvar WebSocket").click()

    await expect(form.locator("#ws-effective-count")).to_have_text("(4)")
    text = await form.locator("#ws-effective").text_content() or ""
    assert set(text.split(", ")) == {
        "CALL",
        "CONNECTION_UPDATE",
        "MESSAGES_UPSERT",
        "QRCODE_UPDATED",
    }
    await expect(form.get_by_label("CONNECTION_UPDATE", exact=True)).to_be_checked()
    toast = panel.page.locator(".toast").filter(has_text="WebSocket configurado com sucesso")
    await expect(toast).to_be_visible()
    await form.scroll_into_view_if_needed()
    await panel.docs_shot("websocket")


async def test_webhook_editor_saves_url_and_events(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-suporte")
    form = detail.locator("#wh-form")
    await expect(form.locator("[data-events] input")).to_have_count(31)
    await form.get_by_label("Webhook ativado").check()
    await form.get_by_label("URL", exact=True).fill("https://example.com/hook")
    await form.get_by_label("MESSAGES_UPSERT", exact=True).check()
    await form.get_by_label("Cabeçalhos").fill("X-Token: segredo")
    await form.get_by_role("button", name="Salvar webhook").click()
    toast = panel.page.locator(".toast").filter(has_text="Webhook configurado com sucesso")
    await expect(toast).to_be_visible()
    await expect(form.locator("#wh-headers-hint")).to_contain_text("Cabeçalhos salvos: X-Token")
    status, body = await api(http, demo, "GET", "/webhook/a-suporte")
    assert status == 200, body
    assert body["webhook"]["url"] == "https://example.com/hook"
    assert body["webhook"]["events"] == ["MESSAGES_UPSERT"]


async def test_tenant_b_never_sees_tenant_a(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open(None)
    await expect(panel.page.get_by_role("heading", name="Entrar no painel")).to_be_visible()
    await panel.page.get_by_label("Token de acesso (JWT)").fill("not-a-token")
    await panel.page.get_by_label("Token de acesso (JWT)").press("Enter")
    await expect(panel.page.locator(".toast.error")).to_contain_text("UNAUTHENTICATED")
    await expect(panel.page.locator("#login")).to_be_visible()  # still asked to sign in

    # Keyboard only: the token field, Enter.
    await panel.page.get_by_label("Token de acesso (JWT)").fill(demo.tokens["tenant-b"])
    await panel.page.get_by_label("Token de acesso (JWT)").press("Enter")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_B_NAMES))
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")

    # Tenant A changes while B watches; then B changes, and B's page shows B's change.
    await scan(http, demo, "a-vendas")
    await stored_status(http, demo, "a-vendas", "WORKING")
    status, _ = await api(http, demo, "POST", "/logout/a-suporte")
    assert status == 200
    status, _ = await api(http, demo, "POST", "/logout/b-recepcao", who="tenant-b")
    assert status == 200
    await expect(panel.badge("b-recepcao")).to_have_text("Desconectado")

    assert await panel.rows() == TENANT_B_NAMES
    seen = set().union(*(frame.names() for frame in panel.frames))
    assert "b-recepcao" in seen and seen <= set(TENANT_B_NAMES), seen  # on the wire, too
    body = await panel.page.locator("body").inner_text()
    assert not any(name in body for name in TENANT_A_NAMES)


async def test_stream_drop_shows_reconnecting_and_resumes_without_missing_a_status(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession, link: CuttableLink
) -> None:
    await panel.open("tenant-a", base=link.url)
    badge = panel.badge("a-vendas")
    stream_state = panel.page.locator("#stream-state")
    banner = panel.page.locator("#relay-banner")
    await expect(badge).to_have_text("Aguardando leitura do QR")
    await expect(stream_state).to_have_attribute("data-state", "live")
    await expect(banner).to_be_hidden()
    await expect(panel.row("a-vendas").locator(".row-qr")).to_be_enabled()
    before = panel.last_id()

    link.cut()  # the network drops: the browser retries by itself, and is refused for now
    await expect(stream_state).to_have_text("reconectando…")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Sem conexão com o relay — reconectando…")
    await expect(panel.row("a-vendas").locator(".row-qr")).to_be_disabled()  # no QR while cut off
    await scan(http, demo, "a-vendas")
    await stored_status(http, demo, "a-vendas", "WORKING")
    await expect(badge).to_have_text("Aguardando leitura do QR")  # the page is really cut off

    link.restore()
    await expect(badge).to_have_text("Conectado", timeout=10_000)
    await expect(stream_state).to_have_attribute("data-state", "live")
    await expect(banner).to_be_hidden()

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


async def test_create_form_adopts_and_creates(panel: Panel, demo: Demo) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await panel.page.get_by_text("Nova instância").click()
    await expect(panel.page.locator("#create-tenant")).to_be_hidden()  # an ADMIN: one tenant
    await panel.page.get_by_label("Nome da instância").fill("a-novo")
    await panel.page.get_by_role("button", name="Criar ou adotar").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância criada com sucesso")
    await expect(toast).to_be_visible()
    await expect(panel.row("a-novo")).to_be_visible()
    await expect(panel.row("a-novo").locator(".reason")).to_have_text("Criada pelo painel")
    assert demo.simulator.store.get("a-novo") is not None


async def test_connect_shows_a_qr_and_restart_a_toast(panel: Panel) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-financeiro")
    await expect(detail.locator("#detail-badge")).to_have_text("Desconectado")
    await expect(detail.locator("#detail-qr .qr-note")).to_contain_text("Use Conectar")
    await detail.get_by_role("button", name="Conectar", exact=True).click()
    toast = panel.page.locator(".toast").filter(has_text="Conexão iniciada com sucesso")
    await expect(toast).to_be_visible()
    await expect(detail.locator("#detail-badge")).to_have_text("Aguardando leitura do QR")
    await expect(detail.locator("#detail-qr img.qr-img")).to_have_attribute("src", PNG_DATA_URL)

    await detail.get_by_role("button", name="Reiniciar").click()
    toast = panel.page.locator(".toast").filter(has_text="Instância reiniciada com sucesso")
    await expect(toast).to_be_visible()


async def test_connect_with_a_number_shows_the_pairing_code_in_large_type(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await panel.open("tenant-a")
    detail = await panel.open_detail("a-financeiro")
    await detail.get_by_label("Conectar com número").fill("5511999998888")
    await detail.get_by_role("button", name="Gerar código").click()
    toast = panel.page.locator(".toast").filter(has_text="Conexão iniciada com sucesso")
    await expect(toast).to_be_visible()
    code = detail.locator("#detail-qr .pairing-code strong")
    await expect(code).to_have_text(PAIRING, timeout=8_000)
    size = await code.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 32, size
    _, body = await api(http, demo, "GET", "/audit?instanceName=a-financeiro")
    assert body["entries"][0]["detail"].get("pairingCode") is True
    await panel.docs_shot("pairing-code")


async def test_sair_forgets_the_token(panel: Panel) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await panel.page.get_by_role("button", name="Sair").click()
    await expect(panel.page.locator("#login")).to_be_visible()
    await expect(panel.page.locator("li.row")).to_have_count(0)
    await expect(panel.page.locator("#stream-state")).to_have_text("desconectado")
    assert await panel.page.evaluate("sessionStorage.length") == 0
    await panel.page.reload()
    await expect(panel.page.locator("#login")).to_be_visible()  # nothing left to sign in with
    await expect(panel.page.locator("#app")).to_be_hidden()
    await panel.docs_shot("login")


def test_docs_show_the_main_screenshots() -> None:
    text = (DOCS / "panel.md").read_text()
    for name in ("panel-list", "panel-detail", "panel-qr-large", "panel-pairing-code"):
        assert f"({name}.png)" in text, name
        assert (DOCS / f"{name}.png").exists() or os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1"
