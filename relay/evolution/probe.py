"""What is wrong with an Evolution server, in one line an operator can act on.

``Prober.diagnose()`` tells apart the failures that look the same from a Socket.IO client
(python-socketio only says "Connection error", docs/upstream.md §6.3):

- ``unreachable``: nothing answers at the URL (refused, timed out, no route, no such host);
- ``not evolution``: something answers, but not with Evolution's JSON envelope;
- ``key refused``: Evolution answers 401 to the API key (REST), or 403 to the Socket.IO
  handshake;
- ``socket.io off``: the API works and ``/socket.io/`` is Express's 404 (``WEBSOCKET_ENABLED``
  is not true).

The key check is ``GET /instance/fetchInstances?instanceName=<a name nobody uses>``: Evolution
checks the key before the name on that route, so a wrong key is 401 and a right one is 404
(or an empty list), and it costs the server one indexed lookup. ``GET /`` is not used: it
fetches web.whatsapp.com on every call and fails offline (§3).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pydantic import SecretStr

from relay.errors import UpstreamTimeout, UpstreamUnavailable
from relay.evolution.envelope import Body, is_envelope
from relay.evolution.transport import CallObserver, Reply, Transport, public_url

KEY_CHECK_NAME: Final = "evo-relay-key-check"
HANDSHAKE: Final = "/socket.io/?EIO=4&transport=polling"
KEY_HINT: Final = "set RELAY_EVOLUTION_APIKEY to Evolution's AUTHENTICATION_API_KEY"


class UpstreamState(StrEnum):
    UP = "up"
    UNREACHABLE = "unreachable"
    NOT_EVOLUTION = "not evolution"
    KEY_REFUSED = "key refused"
    SOCKET_OFF = "socket.io off"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    state: UpstreamState
    detail: str  # what failed and what to do; never the key

    @property
    def ok(self) -> bool:
        return self.state is UpstreamState.UP


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, TimeoutError) or isinstance(exc, UpstreamTimeout):
        return "timed out"
    number = getattr(cause, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        return os.strerror(number).lower()
    text = str(cause or exc).split("[")[0].strip()
    return f"{type(cause).__name__}: {text}" if cause is not None else text


def _what(reply: Reply) -> str:
    kind = "JSON" if reply.body.is_json else ("an empty body" if reply.body.empty else "text")
    return f"HTTP {reply.status} with {kind}"


def _is_evolution_list_or_envelope(body: Body) -> bool:
    return is_envelope(body) or (body.is_json and isinstance(body.json, list))


class Prober:
    """Owns one short-lived HTTP session to the server (``async with``)."""

    def __init__(
        self, base_url: str, apikey: SecretStr, timeout: float, *,
        observe: CallObserver | None = None,
    ) -> None:  # fmt: skip
        self.url = public_url(base_url)
        self._transport = Transport(base_url, apikey, timeout, observe=observe, quiet=True)

    async def __aenter__(self) -> Prober:
        await self._transport.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._transport.close()

    def _unreachable(self, exc: Exception) -> Diagnosis:
        return Diagnosis(
            UpstreamState.UNREACHABLE,
            f"evolution at {self.url} is unreachable ({_cause(exc)}): check RELAY_EVOLUTION_URL "
            "and that Evolution is running",
        )

    async def api(self) -> Diagnosis:
        """Is it Evolution, and does it take the key? (REST)"""
        try:
            reply = await self._transport.call(
                "GET", "/instance/fetchInstances", params={"instanceName": KEY_CHECK_NAME},
                accept=range(400, 600), route="/instance/fetchInstances",
            )  # fmt: skip
        except (UpstreamUnavailable, UpstreamTimeout) as exc:
            return self._unreachable(exc)
        if reply.status == 401 and is_envelope(reply.body):
            return Diagnosis(
                UpstreamState.KEY_REFUSED,
                f"evolution at {self.url} refused the API key (HTTP 401): {KEY_HINT}",
            )
        if reply.status in (200, 404) and _is_evolution_list_or_envelope(reply.body):
            return Diagnosis(UpstreamState.UP, f"evolution at {self.url} accepted the API key")
        return Diagnosis(
            UpstreamState.NOT_EVOLUTION,
            f"{self.url} answers, but not as an Evolution API v2 server ({_what(reply)} to "
            "GET /instance/fetchInstances): check RELAY_EVOLUTION_URL (scheme, host, port)",
        )

    async def socket(self) -> Diagnosis:
        """Does the Socket.IO handshake go through with the key? (Loopback peers are let in
        with any key, §6.3: only ``api()`` can tell a wrong key there.)"""
        try:
            reply = await self._transport.call("GET", HANDSHAKE, accept=range(400, 600))
        except (UpstreamUnavailable, UpstreamTimeout) as exc:
            return self._unreachable(exc)
        if reply.status == 200:  # the session it opens times out on Evolution's side (~45 s)
            return Diagnosis(UpstreamState.UP, "Socket.IO handshake accepted")
        if reply.status == 404:
            return Diagnosis(
                UpstreamState.SOCKET_OFF,
                f"evolution at {self.url} has no Socket.IO output: set WEBSOCKET_ENABLED=true "
                "on Evolution",
            )
        if reply.status in (400, 403):
            return Diagnosis(
                UpstreamState.KEY_REFUSED,
                f"evolution at {self.url} refused the API key on its Socket.IO handshake "
                f"(HTTP {reply.status}): {KEY_HINT}",
            )
        return Diagnosis(
            UpstreamState.NOT_EVOLUTION,
            f"{self.url} answered the Socket.IO handshake with {_what(reply)}: check "
            "RELAY_EVOLUTION_URL",
        )

    async def diagnose(self) -> Diagnosis:
        """The first thing wrong, in the order an operator fixes them; ``up`` if nothing is."""
        found = await self.api()
        if not found.ok:
            return found
        return await self.socket()
