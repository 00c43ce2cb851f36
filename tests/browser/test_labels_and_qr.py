"""Everything the panel says, in Portuguese; and the QR's life: its countdown, its expiry, the
first QR's 60 s against a later one's 20 s.

The events are published through the relay's own hub (``Hub.publish``, the path every live
event takes) with the reasons and times the relay uses (docs/live-events.md), so each label
and each expiry is checked on its own. ``at``/``receivedAt`` in the past stand for a QR the
relay received that long ago.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import segno
from playwright.async_api import expect

from relay.appkeys import HUB
from relay.demo.wiring import SEED, TENANT_A, Demo
from tests.browser.conftest import Panel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)
NAME = "a-financeiro"  # closed in the simulator: nothing else moves it during a test
RAW = ("WORKING", "SCAN_QR_CODE", "STARTING", "STOPPED", "FAILED", "motivo", "api:")

# status, reason (as the relay writes it), label, reason in plain words
CASES = [
    ("STARTING", "connecting", "Iniciando", "Conectando ao WhatsApp"),
    ("SCAN_QR_CODE", "qrcode", "Aguardando leitura do QR", "QR code gerado"),
    ("WORKING", "open", "Conectado", "Conectado ao WhatsApp"),
    ("STOPPED", "logout", "Desconectado", "Sessão encerrada (logout)"),
    ("STOPPED", "logged out (401)", "Desconectado", "Sessão encerrada no celular"),
    ("FAILED", "closed (403)", "Falha",
     "Conexão encerrada: acesso negado pelo WhatsApp (número banido ou bloqueado)"),
    ("FAILED", "closed (440)", "Falha", "Conexão encerrada: a sessão foi aberta em outro lugar"),
    ("FAILED", "closed (402)", "Falha", "Conexão encerrada pelo WhatsApp (código 402)"),
    ("STOPPED", "refused (None): QR limit", "Desconectado", "Limite de QR atingido"),
    ("STARTING", "api:create", "Iniciando", "Criada pelo painel"),
    ("WORKING", "api:adopt", "Conectado", "Adotada do Evolution pelo painel"),
    ("STARTING", "api:connect", "Iniciando", "Conexão iniciada pelo painel"),
    ("SCAN_QR_CODE", "api:restart", "Aguardando leitura do QR", "Reiniciada pelo painel"),
    ("STOPPED", "api:logout", "Desconectado", "Desconectado pelo painel"),
    ("WORKING", "reconciled: open", "Conectado", "Conectado (conferido no Evolution)"),
    ("STARTING", "reconciled: connecting", "Iniciando", "Conectando (conferido no Evolution)"),
    ("STOPPED", "reconciled: close", "Desconectado", "Desconectado (conferido no Evolution)"),
    ("FAILED", "missing upstream", "Falha", "Não existe mais no Evolution"),
    ("WORKING", "test", "Conectado", "Teste"),
]  # fmt: skip


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def qr(code: str) -> dict[str, Any]:
    image = segno.make(code, error="l").png_data_uri(scale=4)
    return {"base64": image, "code": code, "pairingCode": None}


async def status(demo: Demo, state: str, reason: str, at: str, **more: Any) -> None:
    payload = {"instanceName": NAME, "tenantId": TENANT_A, "status": state,
               "previousStatus": None, "reason": reason, "at": at, **more}  # fmt: skip
    await demo.app[HUB].publish(TENANT_A, NAME, "instance.status", payload)


async def rotation(demo: Demo, code: str, received_seconds_ago: float) -> None:
    envelope = {"event": "qrcode.updated", "instance": NAME, "data": {"qrcode": qr(code)},
                "receivedAt": ago(received_seconds_ago)}  # fmt: skip
    await demo.app[HUB].publish(TENANT_A, NAME, "qrcode.updated", envelope)


async def live(panel: Panel) -> None:
    await panel.open("tenant-a")
    await expect(panel.page.locator("li.row")).to_have_count(len(TENANT_A_NAMES))
    await expect(panel.page.locator("#stream-state")).to_have_attribute("data-state", "live")


async def test_every_status_and_reason_in_portuguese_with_the_code_in_a_tooltip(
    panel: Panel, demo: Demo
) -> None:
    await live(panel)
    row = panel.row(NAME)
    for state, reason, label, words in CASES:
        await status(demo, state, reason, ago(0))
        await expect(row.locator(".reason")).to_have_text(words)
        await expect(row.locator(".reason")).to_have_attribute("title", f"Motivo: {reason}")
        await expect(row.locator(".badge")).to_have_text(label)
        await expect(row.locator(".badge")).to_have_attribute("title", f"Código: {state}")
    await expect(row.locator(".row-time")).to_have_text("agora")
    await status(demo, "STOPPED", "api:logout", ago(150))
    await expect(row.locator(".row-time")).to_have_text("há 2 min")
    await expect(row.locator(".row-time")).to_have_attribute(
        "title", re.compile(r"^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$")
    )
    text = await panel.page.locator("body").inner_text()
    assert not [raw for raw in RAW if raw in text], text  # codes only in tooltips
    summary = await panel.page.locator("#summary").inner_text()
    for label in ("Todas", "Conectado", "Aguardando leitura do QR", "Iniciando", "Desconectado",
                  "Falha"):  # fmt: skip
        assert label in summary, summary


async def test_the_qr_counts_down_and_is_never_shown_once_expired(panel: Panel, demo: Demo) -> None:
    await live(panel)
    row_qr = panel.row(NAME).locator(".row-qr")
    detail = await panel.open_detail(NAME)
    image = detail.locator("#detail-qr img.qr-img")
    left = detail.locator("#detail-qr .qr-left")
    note = detail.locator("#detail-qr .qr-note")

    # The first QR of a connection lives ~60 s: this one was received 56 s ago.
    await status(demo, "SCAN_QR_CODE", "qrcode", ago(56), qrcode=qr("2@first"))
    await expect(image).to_be_visible()
    await expect(left).to_have_text(re.compile(r"^0:0[1-4]$"))
    await expect(row_qr).to_be_enabled()
    await expect(image).to_be_hidden(timeout=7_000)  # at its second, with no event
    await expect(note).to_have_text("QR expirado — aguardando um novo do Evolution.")
    await expect(row_qr).to_be_disabled()
    await expect(panel.page.locator("#announcer")).to_contain_text("QR expirado")
    await panel.docs_shot("qr-expired")

    # A later QR lives ~20 s: received 5 s ago, 15 s are left.
    await rotation(demo, "2@second", 5)
    await expect(image).to_be_visible()
    await expect(left).to_have_text(re.compile(r"^0:1[4-5]$"))
    # Received 21 s ago: already expired, so never drawn.
    await rotation(demo, "2@third", 21)
    await expect(image).to_be_hidden()
    await expect(note).to_have_text("QR expirado — aguardando um novo do Evolution.")
    assert await image.get_attribute("src") is None

    # A new connection (STARTING) clears it; its first QR gets the 60 s again.
    await status(demo, "STARTING", "connecting", ago(2))
    await expect(note).to_have_text("Aguardando o QR code do Evolution…")
    await rotation(demo, "2@fourth", 1)
    await expect(image).to_be_visible()
    await expect(left).to_have_text(re.compile(r"^0:5[89]$"))
    await detail.get_by_role("button", name="QR grande").click()
    large = panel.page.locator("#qr-dialog")
    await expect(large.locator(".qr-left")).to_have_text(re.compile(r"^0:5\d$"))
    await expect(large.locator("img.qr-img")).to_have_attribute("src", qr("2@fourth")["base64"])
