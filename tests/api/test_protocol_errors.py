"""What the server says to requests it cannot take: the JSON error shape, no echo of the
input, no token in the logs; 405 with ``Allow``; ``/metrics`` behind RELAY_METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from relay.app import serve
from relay.config import Settings
from tests.conftest import free_port

from .conftest import BASE, Api, MakeApi

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9." + "A" * 9000  # shaped like a JWT, far too long


@pytest.fixture
async def served(make_settings: Callable[..., Settings]) -> AsyncIterator[int]:
    """The real ``serve()`` (its runner is what answers unparsable requests)."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(make_settings(port=port), stop=stop))
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)  # polling a port with a bound, not a timing assertion
            continue
        writer.close()
        break
    yield port
    stop.set()
    await task


async def raw(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + FAKE_TOKEN.encode()
        + b"\r\n\r\n",
        b"GET /api/events?token=" + FAKE_TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(300))
        + b"\r\n",
    ],
    ids=["long-authorization", "long-url", "too-many-headers"],
)
async def test_unparsable_requests_get_the_json_shape_without_echo(
    served: int, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    status, headers, body = await raw(served, request_bytes)
    assert status.split(" ")[1] == "400"
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["code"] == "BAD_REQUEST"
    assert b"AAAA" not in body and b"eyJ" not in body
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "eyJ" not in text and "AAAAAAAA" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_405_says_which_methods_are_allowed(api: Api) -> None:
    reply = await api.call("PUT", f"{BASE}/logout/inst1")
    assert reply.status == 405
    assert reply.body["code"] == "METHOD_NOT_ALLOWED"
    assert reply.headers["Allow"] == "POST"


async def test_metrics_token_protects_metrics(make_api: MakeApi) -> None:
    api = await make_api(metrics_token="metrics-token-0123456789abcdef")
    assert (await api.call("GET", "/metrics", as_=None)).status == 401
    wrong = await api.call("GET", "/metrics", token="metrics-token-wrong-0123456789")
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    right = await api.call("GET", "/metrics", token="metrics-token-0123456789abcdef")
    assert right.status == 200 and b"relay_http_requests_total" in right.body


async def test_metrics_are_public_without_a_token(api: Api) -> None:
    assert (await api.call("GET", "/metrics", as_=None)).status == 200


async def test_upstream_calls_are_timed_by_route_and_outcome(api: Api) -> None:
    await api.seed("inst1")
    assert (await api.call("GET", "websocket/inst1")).status == 200
    api.fail_next("/websocket/find", status=500)
    assert (await api.call("GET", "websocket/inst1")).status == 502
    text = (await api.call("GET", "/metrics", as_=None)).body.decode()
    route = 'route="GET /websocket/find/{name}"'
    assert f'relay_upstream_call_seconds_count{{outcome="2xx",{route}}} 1.0' in text
    assert f'relay_upstream_call_seconds_count{{outcome="5xx",{route}}} 1.0' in text


def test_every_declared_metric_is_used_somewhere() -> None:
    """No metric is declared and never observed (relay_upstream_call_seconds was)."""
    from pathlib import Path

    from relay.metrics import Metrics

    root = Path(__file__).resolve().parents[2]
    sources = [p.read_text() for d in ("relay", "handlers") for p in (root / d).rglob("*.py")
               if p.name != "metrics.py"]  # fmt: skip
    metrics = Metrics()
    declared = [name for name, value in vars(metrics).items() if hasattr(value, "_name")]
    assert declared
    unused = [name for name in declared if not any(f".{name}" in text for text in sources)]
    helpers = {"upstream_calls": "observe_upstream_call"}
    unused = [name for name in unused
              if not any(helpers.get(name, "\0") in text for text in sources)]  # fmt: skip
    assert unused == []
