"""The HTTP edge to Evolution: one aiohttp session, and aiohttp's errors translated on entry.

Everything that can go wrong on the wire becomes a ``relay.errors`` error here, with
``raise ... from exc`` (docs/upstream.md §1, §2, §3):

- cannot connect, connection dropped, bad URL → ``UpstreamUnavailable``;
- no answer within ``timeout`` seconds → ``UpstreamTimeout``;
- HTTP status >= 400 → ``UpstreamRejected(status, message)`` with the envelope's message
  flattened; a 404 in Evolution's envelope on a ``{name}`` route → ``UpstreamInstanceNotFound``.

Callers list the error statuses they want to interpret themselves in ``accept``.
The API key goes out as the ``apikey`` header and is never logged or put in a message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import yarl
from pydantic import BaseModel, SecretStr

from relay.errors import (
    UpstreamInstanceNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from relay.evolution.envelope import (
    Body,
    error_message,
    is_envelope,
    is_route_not_found,
    read_body,
)

log = logging.getLogger(__name__)

# (route template, outcome, seconds) for the relay_upstream_call_seconds histogram.
CallObserver = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class Reply:
    """A response that was not turned into an error: status, reason phrase and body."""

    status: int
    reason: str
    body: Body


def segment(name: str) -> str:
    """``name`` as one URL path segment, so ``/``, ``?`` or ``..`` can never change the route."""
    quoted = quote(name, safe="")
    if quoted.strip(".") == "":
        # "." and ".." would be folded away by URL normalisation; percent-encode them.
        quoted = quoted.replace(".", "%2E")
    return quoted


def public_url(base_url: str) -> str:
    """``base_url`` without user info or query, safe for ``repr`` and logs."""
    url = yarl.URL(base_url)
    return str(url.with_user(None).with_query(None).with_fragment(None))


class Transport:
    """Owns the ``aiohttp.ClientSession``; ``call`` sends one request and returns a ``Reply``."""

    def __init__(
        self,
        base_url: str,
        apikey: SecretStr,
        timeout: float,
        *,
        observe: CallObserver | None = None,
        quiet: bool = False,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._apikey = apikey
        self._timeout = timeout
        self._observe = observe
        # quiet: failures are the caller's to report (relay.evolution.probe), not logged here.
        self._log_at = logging.DEBUG if quiet else logging.WARNING
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"Transport(base_url={public_url(self._base)!r}, timeout={self._timeout})"

    @property
    def started(self) -> bool:
        return self._session is not None and not self._session.closed

    async def start(self) -> None:
        if self.started:
            return
        self._session = aiohttp.ClientSession(
            headers={"apikey": self._apikey.get_secret_value()},
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        instance: str | None = None,
        gone_on_404: bool = False,
        params: Mapping[str, str] | None = None,
        json: BaseModel | None = None,
        accept: Collection[int] = (),
        route: str | None = None,
    ) -> Reply:
        """Send ``method path`` and return the reply, or raise the translated error.

        ``instance`` names the instance in log lines. ``gone_on_404`` marks a ``{name}`` route,
        where Evolution's 404 envelope means the instance does not exist (§3, §11.3).
        ``route`` is the path's template for the latency histogram (default: ``path``
        without its query).
        """
        if self._session is None:
            raise RuntimeError("EvolutionClient is not started; call start() or use 'async with'")
        url = yarl.URL(self._base + path, encoded=True)
        data: bytes | None = None
        headers: dict[str, str] = {}
        if json is not None:
            data = json.model_dump_json(exclude_none=True).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        template = f"{method} {route or path.partition('?')[0]}"
        try:
            async with self._session.request(
                method, url, params=params, data=data, headers=headers
            ) as response:
                raw = await response.read()
                status, reason = response.status, response.reason or ""
        except TimeoutError as exc:
            self._observed(template, "timeout", started)
            log.log(
                self._log_at,
                "evolution %s %s timed out after %.1f s (instance %s)",
                method,
                path,
                self._timeout,
                instance,
            )
            raise UpstreamTimeout() from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: aiohttp's InvalidURL and friends on a malformed base URL.
            self._observed(template, "unreachable", started)
            log.log(
                self._log_at,
                "evolution %s %s unreachable (instance %s): %s: %s",
                method,
                path,
                instance,
                type(exc).__name__,
                exc,
            )
            raise UpstreamUnavailable() from exc
        elapsed_ms = self._observed(template, f"{status // 100}xx", started) * 1000
        log.debug(
            "evolution %s %s -> %d in %.0f ms (instance %s)",
            method,
            path,
            status,
            elapsed_ms,
            instance,
        )
        body = read_body(raw)
        if status >= 400 and status not in accept:
            raise self._rejection(method, path, instance, gone_on_404, status, reason, body)
        return Reply(status=status, reason=reason, body=body)

    def _observed(self, template: str, outcome: str, started: float) -> float:
        elapsed = time.monotonic() - started
        if self._observe is not None:
            self._observe(template, outcome, elapsed)
        return elapsed

    @staticmethod
    def _rejection(
        method: str,
        path: str,
        instance: str | None,
        gone_on_404: bool,
        status: int,
        reason: str,
        body: Body,
    ) -> UpstreamRejected:
        message = error_message(body, reason)
        if status == 404 and gone_on_404 and is_envelope(body) and not is_route_not_found(message):
            log.info("evolution %s %s: instance %s does not exist", method, path, instance)
            return UpstreamInstanceNotFound(status, message)
        log.info(
            "evolution %s %s rejected with %d (instance %s): %s",
            method,
            path,
            status,
            instance,
            message,
        )
        return UpstreamRejected(status, message)
