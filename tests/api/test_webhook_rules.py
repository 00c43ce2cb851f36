"""Webhook targets and headers: http(s) to public addresses only (unless
RELAY_WEBHOOK_ALLOW_PRIVATE), header names that are HTTP tokens, values without CR/LF."""

from __future__ import annotations

import pytest

from .conftest import Api, MakeApi

GOOD = {"enabled": True, "events": ["MESSAGES_UPSERT"]}


async def set_webhook(api: Api, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    body = {**GOOD, "url": url, **({"headers": headers} if headers is not None else {})}
    reply = await api.call("POST", "webhook/inst1", json_body=body)
    return reply.status, str(reply.body)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),  # cloud metadata
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://localhost/hook", "127.0.0.1"),
        ("http://[::1]/hook", "::1"),
        ("http://0x7f000001/hook", "127.0.0.1"),  # the same address, spelled in hex
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("http://192.168.0.10/hook", "192.168.0.10"),
        ("http://[::ffff:169.254.169.254]/hook", "::ffff:169.254.169.254"),
        ("http://0.0.0.0/hook", "0.0.0.0"),
    ],
)
async def test_private_link_local_and_loopback_targets_are_refused(
    api: Api, url: str, address: str
) -> None:
    await api.seed("inst1")
    status, body = await set_webhook(api, url)
    assert status == 400
    assert "VALIDATION_ERROR" in body and address in body
    assert "RELAY_WEBHOOK_ALLOW_PRIVATE" in body
    assert api.upstream_calls("inst1") == []  # Evolution never saw it


async def test_a_public_address_is_passed_on(api: Api) -> None:
    await api.seed("inst1")
    status, body = await set_webhook(api, "https://93.184.215.14/hook")
    assert status == 200, body
    stored = api.sim.instance("inst1").webhook
    assert stored is not None and stored.url == "https://93.184.215.14/hook"


async def test_private_targets_pass_when_allowed(make_api: MakeApi) -> None:
    api = await make_api(webhook_allow_private=True)
    await api.seed("inst1")
    status, body = await set_webhook(api, "http://10.0.0.5:9000/hook")
    assert status == 200, body


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
async def test_only_http_and_https(api: Api, url: str) -> None:
    await api.seed("inst1")
    status, _ = await set_webhook(api, url)
    assert status == 400


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-Token": "abc\r\nX-Injected: 1"}, 'cabeçalho "X-Token": o valor tem caracteres'),
        ({"X-Token": "abc\nevil"}, "caracteres de controle"),
        ({"X-Token": "abc\x00"}, "caracteres de controle"),
        ({"Bad Name": "v"}, "nome de cabeçalho inválido"),
        ({"X-A:b": "v"}, "nome de cabeçalho inválido"),
        ({"": "v"}, "nome de cabeçalho inválido"),
    ],
)
async def test_header_names_and_values_are_checked_without_echoing_values(
    api: Api, headers: dict[str, str], problem: str
) -> None:
    await api.seed("inst1")
    status, body = await set_webhook(api, "https://93.184.215.14/hook", headers)
    assert status == 400
    assert problem in body
    for value in headers.values():
        assert value not in body or value == "v"
    assert api.upstream_calls("inst1") == []


async def test_ordinary_headers_pass(api: Api) -> None:
    await api.seed("inst1")
    headers = {"Authorization": "Bearer abc.def", "X-Signature": "sha256=00ff\tx"}
    status, body = await set_webhook(api, "https://93.184.215.14/hook", headers)
    assert status == 200, body
