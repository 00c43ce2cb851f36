"""The panel follows the relay's lifecycle events (instance.added, instance.removed,
upstream.status, session.expired) and says honestly when it cannot, in real Chromium against
the demo's wiring.

Two kinds of test. The first kind drives the whole system with a real fault or change: an
instance created over HTTP, one deleted from a second page, the relay stopped, the simulator
stopped, a token that runs out; the relay must emit the event (or go away) and the panel must
follow. The second kind publishes the event through the relay's own hub (``Hub.publish``, the
path every live event takes), so the panel's side is checked on its own, on any branch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from relay.appkeys import HUB
from relay.auth import Role
from relay.demo.wiring import SEED, TENANT_A, Demo
from tests.browser.conftest import Panel, api, scan
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)
DOWN_TEXT = "Evolution inacessível — status podem estar desatualizados"
RELAY_TEXT = "Sem conexão com o relay — reconectando…"


async def live(panel: Panel, who: str = "tenant-a") -> None:
    await panel.open(who)
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")


async def publish(demo: Demo, event: str, payload: dict[str, Any], name: str = "") -> None:
    await demo.app[HUB].publish(TENANT_A, name, event, payload)


def now() -> str:
    return datetime.now(UTC).isoformat()


# -- the whole system ---------------------------------------------------------------------------


async def test_rows_follow_an_instance_created_over_http_and_deleted_in_another_page(
    panel: Panel, other_panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await live(panel)
    status, body = await api(http, demo, "POST", "/instances", body={"instanceName": "a-nova"})
    assert status in (200, 201), body
    await expect(panel.row("a-nova")).to_be_visible(timeout=5_000)
    await eventually(lambda: panel.got("instance.added", "a-nova"), within=5)

    await other_panel.open("tenant-a")
    detail = await other_panel.open_detail("a-nova")
    await detail.get_by_role("button", name="Deletar").click()
    await other_panel.page.locator("#confirm-dialog").get_by_role("button", name="Deletar").click()
    await expect(other_panel.row("a-nova")).to_have_count(0)

    await expect(panel.row("a-nova")).to_have_count(0, timeout=5_000)
    await eventually(lambda: panel.got("instance.removed", "a-nova"), within=5)
    toast = panel.page.locator(".toast").filter(has_text="Instância a-nova removida")
    await expect(toast).to_be_visible()
    assert await panel.rows() == TENANT_A_NAMES


async def test_stopping_the_relay_shows_reconnecting_hides_the_qr_and_recovers(
    panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await live(panel)
    detail = await panel.open_detail("a-vendas")
    image = detail.locator("#detail-qr img.qr-img")
    await expect(image).to_be_visible()
    banner = panel.page.locator("#relay-banner")
    await expect(banner).to_be_hidden()

    await demo.relay.stop()
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text(RELAY_TEXT)
    await expect(panel.page.locator("#stream-state")).to_have_text("reconectando…")
    await expect(image).to_be_hidden()  # a QR is never shown while the relay is away
    await expect(detail.locator("#detail-qr .qr-note")).to_have_text(
        "QR oculto: sem conexão com o relay."
    )
    assert await panel.rows() == TENANT_A_NAMES  # the view stays
    await panel.docs_shot("relay-down")

    await scan(http, demo, "a-vendas")  # happens while the relay is away
    await demo.relay.start()
    await expect(banner).to_be_hidden(timeout=15_000)
    await expect(panel.page.locator("#stream-state")).to_have_text("ao vivo")
    # The relay reconciles a-vendas with Evolution; the page follows without a reload.
    await expect(detail.locator("#detail-badge")).to_have_text("Conectado", timeout=15_000)


async def test_stopping_evolution_shows_the_banner_and_hides_the_qr(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    detail = await panel.open_detail("a-vendas")
    image = detail.locator("#detail-qr img.qr-img")
    await expect(image).to_be_visible()
    banner = panel.page.locator("#upstream-banner")
    await expect(banner).to_be_hidden()

    await demo.simulator.stop()
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text(DOWN_TEXT)
    await expect(image).to_be_hidden()
    await expect(detail.locator("#detail-qr .qr-note")).to_have_text(
        "QR oculto: o Evolution está inacessível."
    )
    await expect(detail.locator("#detail-server")).to_contain_text("evo-1 · inacessível desde")
    assert await panel.rows() == TENANT_A_NAMES  # the view stays, marked as stale
    await panel.docs_shot("upstream-down")


async def test_a_token_that_runs_out_asks_for_a_new_one_and_keeps_the_view(
    panel: Panel, demo: Demo
) -> None:
    # A session ends at exp plus the accepted clock skew (RELAY_JWT_LEEWAY): 5 s from now.
    ttl = 5 - demo.settings.jwt_leeway
    await panel.open_with(demo.mint(TENANT_A, Role.ADMIN, "curta@tenant-a", ttl=ttl))
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await expect(panel.page.locator("#session-banner")).to_be_visible(timeout=15_000)
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "expired")
    await eventually(lambda: any(f.event == "session.expired" for f in panel.frames), within=5)
    assert await panel.rows() == TENANT_A_NAMES


# -- the panel's side, with events published through the relay's hub -----------------------------


async def test_instance_added_and_removed_events_add_and_remove_rows(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    await publish(demo, "something.new", {"instanceName": "a-vendas", "x": 1}, "a-vendas")
    instance = {"instanceName": "a-extra", "tenantId": TENANT_A, "status": "SCAN_QR_CODE",
                "statusReason": "api:adopt", "statusAt": now(), "qrcode": None,
                "updatedAt": now()}  # fmt: skip
    await publish(demo, "instance.added", {"instance": instance}, "a-extra")
    row = panel.row("a-extra")
    await expect(row.locator(".badge")).to_have_text("Aguardando leitura do QR")
    await expect(row.locator(".row-tenant")).to_have_text(TENANT_A)
    await expect(row.locator(".reason")).to_have_text("Adotada do Evolution pelo painel")
    assert await panel.rows() == sorted([*TENANT_A_NAMES, "a-extra"])
    await expect(panel.page.locator("#result-count")).to_have_text("4 instâncias")

    removed = {"instanceName": "a-financeiro", "tenantId": TENANT_A, "reason": "removed upstream",
               "at": now()}  # fmt: skip
    await publish(demo, "instance.removed", removed, "a-financeiro")
    await expect(panel.row("a-financeiro")).to_have_count(0)
    toast = panel.page.locator(".toast").filter(
        has_text="Instância a-financeiro removida (Removida no Evolution)"
    )
    await expect(toast).to_be_visible()
    await expect(panel.page.locator("#result-count")).to_have_text("3 instâncias")
    assert not panel.errors  # the unknown event was ignored, not choked on


async def test_upstream_status_event_shows_banner_and_hides_qr_until_back(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    detail = await panel.open_detail("a-vendas")
    image = detail.locator("#detail-qr img.qr-img")
    await expect(image).to_be_visible()
    banner = panel.page.locator("#upstream-banner")

    await publish(demo, "upstream.status", {"server": "evo-1", "state": "down", "since": now()})
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text(DOWN_TEXT + " (evo-1), desde ")  # a fleet: named
    await expect(image).to_be_hidden()
    rotations = sum(f.event == "qrcode.updated" for f in panel.frames)
    await eventually(lambda: sum(f.event == "qrcode.updated" for f in panel.frames) > rotations)
    await expect(image).to_be_hidden()  # a QR arriving while down is not shown either
    assert await image.get_attribute("src") is None

    await publish(demo, "upstream.status", {"server": "evo-1", "state": "up", "since": now()})
    await expect(banner).to_be_hidden()
    # The QR from before the outage is gone; the next rotation brings a fresh one.
    await expect(image).to_be_visible(timeout=8_000)


async def test_session_expired_event_asks_for_a_token_and_keeps_the_view(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    await panel.open_detail("a-vendas")
    await panel.page.keyboard.press("Escape")
    session = panel.page.locator("#session-banner")
    await expect(session).to_be_hidden()
    await publish(demo, "session.expired", {})
    await expect(session).to_be_visible()
    await expect(session).to_contain_text("Sua sessão expirou")
    await expect(panel.page.locator("#stream-state")).to_have_text("sessão expirada")
    assert await panel.rows() == TENANT_A_NAMES
    await expect(panel.row("a-vendas").locator(".row-qr")).to_be_disabled()  # no live QR now
    await panel.docs_shot("session-expired")

    await session.get_by_label("Novo token").fill(demo.tokens["tenant-a"])
    await session.get_by_label("Novo token").press("Enter")
    await expect(session).to_be_hidden()
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")
    assert await panel.rows() == TENANT_A_NAMES
    await expect(panel.row("a-vendas").locator(".row-qr")).to_be_enabled(timeout=8_000)
