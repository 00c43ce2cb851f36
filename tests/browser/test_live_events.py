"""The panel follows the relay's lifecycle events: instance.added, instance.removed,
upstream.status and session.expired, in real Chromium against the demo's wiring.

Two kinds of test. The first kind drives the whole system: an instance created over HTTP, one
deleted from a second page, the simulator stopped, a token that runs out; the relay must emit
the event and the panel must follow. The second kind publishes the event
through the relay's own hub (``Hub.publish``, the path every live event takes), so the panel's
side is checked on its own, on any branch.
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
from tests.browser.conftest import Panel, api
from tests.support import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)
DOWN_TEXT = "Evolution indisponível — os status podem estar desatualizados"


async def live(panel: Panel, who: str = "tenant-a") -> None:
    await panel.open(who)
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")


async def publish(demo: Demo, event: str, payload: dict[str, Any], name: str = "") -> None:
    await demo.app[HUB].publish(TENANT_A, name, event, payload)


def now() -> str:
    return datetime.now(UTC).isoformat()


# -- the whole system ---------------------------------------------------------------------------


async def test_cards_follow_an_instance_created_over_http_and_deleted_in_another_page(
    panel: Panel, other_panel: Panel, demo: Demo, http: aiohttp.ClientSession
) -> None:
    await live(panel)
    status, body = await api(http, demo, "POST", "/instances", body={"instanceName": "a-nova"})
    assert status in (200, 201), body
    await expect(panel.card("a-nova")).to_be_visible(timeout=5_000)
    await eventually(lambda: panel.got("instance.added", "a-nova"), within=5)
    await panel.shot("added")

    await other_panel.open("tenant-a")
    other_card = other_panel.card("a-nova")
    await other_card.get_by_role("button", name="Deletar a-nova").click()
    await other_panel.page.locator("#confirm-dialog").get_by_role("button", name="Deletar").click()
    await expect(other_card).to_have_count(0)

    await expect(panel.card("a-nova")).to_have_count(0, timeout=5_000)
    await eventually(lambda: panel.got("instance.removed", "a-nova"), within=5)
    toast = panel.page.locator(".toast").filter(has_text="Instância a-nova removida")
    await expect(toast).to_be_visible()
    assert await panel.cards() == TENANT_A_NAMES
    await panel.shot("removed")


async def test_stopping_evolution_shows_the_banner_and_hides_the_qr(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    card = panel.card("a-vendas")
    await expect(card.locator("img.qr-img")).to_be_visible()
    banner = panel.page.locator("#upstream-banner")
    await expect(banner).to_be_hidden()

    await demo.simulator.stop()
    await expect(banner).to_be_visible(timeout=10_000)
    await expect(banner).to_contain_text(DOWN_TEXT)
    await expect(card.locator("img.qr-img")).to_be_hidden()
    await expect(card.locator(".qr-wait")).to_be_visible()
    assert await panel.cards() == TENANT_A_NAMES  # the view stays, marked as stale
    await panel.shot("upstream-down")


async def test_a_token_that_runs_out_asks_for_a_new_one_and_keeps_the_view(
    panel: Panel, demo: Demo
) -> None:
    # A session ends at exp plus the accepted clock skew (RELAY_JWT_LEEWAY): 5 s from now.
    ttl = 5 - demo.settings.jwt_leeway
    await panel.open_with(demo.mint(TENANT_A, Role.ADMIN, "curta@tenant-a", ttl=ttl))
    await expect(panel.page.locator("li.card")).to_have_count(len(TENANT_A_NAMES))
    await expect(panel.page.locator("#session-banner")).to_be_visible(timeout=15_000)
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "expired")
    await eventually(lambda: any(f.event == "session.expired" for f in panel.frames), within=5)
    assert await panel.cards() == TENANT_A_NAMES
    await panel.shot("session-expired")


# -- the panel's side, with events published through the relay's hub -----------------------------


async def test_instance_added_and_removed_events_add_and_remove_cards(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    await publish(demo, "something.new", {"instanceName": "a-vendas", "x": 1}, "a-vendas")
    instance = {"instanceName": "a-extra", "tenantId": TENANT_A, "status": "SCAN_QR_CODE",
                "qrcode": None, "updatedAt": now()}  # fmt: skip
    await publish(demo, "instance.added", {"instance": instance}, "a-extra")
    card = panel.card("a-extra")
    await expect(card.locator(".badge")).to_have_text("SCAN_QR_CODE")
    await expect(card.locator(".tenant")).to_have_text(f"tenant {TENANT_A}")
    assert await panel.cards() == sorted([*TENANT_A_NAMES, "a-extra"])  # kept in name order
    await expect(panel.page.locator("#instance-count")).to_have_text("(4)")

    removed = {"instanceName": "a-financeiro", "tenantId": TENANT_A, "reason": "removido",
               "at": now()}  # fmt: skip
    await publish(demo, "instance.removed", removed, "a-financeiro")
    await expect(panel.card("a-financeiro")).to_have_count(0)
    toast = panel.page.locator(".toast").filter(has_text="Instância a-financeiro removida")
    await expect(toast).to_be_visible()
    await expect(panel.page.locator("#instance-count")).to_have_text("(3)")
    assert not panel.errors  # the unknown event was ignored, not choked on


async def test_upstream_status_event_shows_banner_and_hides_qr_until_back(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    card = panel.card("a-vendas")
    image = card.locator("img.qr-img")
    await expect(image).to_be_visible()
    banner = panel.page.locator("#upstream-banner")

    await publish(demo, "upstream.status", {"server": "default", "state": "down", "since": now()})
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text(DOWN_TEXT)  # one server: no name to add
    await expect(image).to_be_hidden()
    await expect(card.locator(".qr-wait")).to_be_visible()
    rotations = sum(f.event == "qrcode.updated" for f in panel.frames)
    await eventually(lambda: sum(f.event == "qrcode.updated" for f in panel.frames) > rotations)
    await expect(image).to_be_hidden()  # a QR arriving while down is not shown either
    assert await image.get_attribute("src") is None
    await panel.shot("upstream-down")

    await publish(demo, "upstream.status", {"server": "default", "state": "up", "since": now()})
    await expect(banner).to_be_hidden()
    await expect(card.locator(".qr-wait")).to_be_hidden()
    # The QR from before the outage is gone; the next rotation brings a fresh one.
    await expect(image).to_be_visible(timeout=8_000)


async def test_session_expired_event_shows_banner_and_keeps_the_view(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    session = panel.page.locator("#session-banner")
    await expect(session).to_be_hidden()
    await publish(demo, "session.expired", {})
    await expect(session).to_be_visible()
    await expect(session).to_contain_text("Sua sessão expirou")
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "expired")
    assert await panel.cards() == TENANT_A_NAMES
    await panel.shot("session-expired")

    await session.get_by_role("button", name="Novo token").click()
    await expect(panel.page.get_by_label("Token (JWT)")).to_be_focused()
    await panel.page.get_by_label("Token (JWT)").fill(demo.tokens["tenant-a"])
    await panel.page.get_by_label("Token (JWT)").press("Enter")
    await expect(session).to_be_hidden()
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")
    assert await panel.cards() == TENANT_A_NAMES
