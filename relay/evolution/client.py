"""``EvolutionClient``: typed methods for every Evolution v2 route the relay uses.

Each method cites the docs/upstream.md section it follows. The quirks of §11 are handled here so
that callers only see typed results or errors from ``relay.errors``:

- connect/restart answering HTTP 200 ``{"error": true}`` (§3.2, §3.3);
- restart of a closed instance → connect (§3.3, §11.4);
- logout of a closed instance → ``already_logged_out`` (§3.4, §11.4);
- an empty body from ``/websocket/*`` → ``WebsocketOutputDisabled`` (§5.1, §11.2);
- nested websocket/webhook bodies from 2.1.0 on, flat before (§10);
- event names checked against the server version's list before any set call (§4, §10);
- create retried while a just-deleted name is still "in use" (§3.1, §3.5, §11.8).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import pydantic
from pydantic import SecretStr

from relay.errors import UpstreamError, UpstreamNameTaken, UpstreamRejected
from relay.evolution import replies
from relay.evolution.bodies import CreateBody, EventConfigBody, webhook_body, websocket_body
from relay.evolution.envelope import error_message, is_error_200
from relay.evolution.models import (
    ConnectionState,
    ConnectResult,
    CreatedInstance,
    DeleteResult,
    LogoutResult,
    ServerInfo,
    UpstreamInstance,
    WebhookConfig,
    WebsocketConfig,
)
from relay.evolution.replies import (
    check_events,
    json_object,
    json_object_or_null,
    parse,
    parse_webhook,
    require_name,
)
from relay.evolution.transport import CallObserver, Reply, Transport, public_url, segment

log = logging.getLogger(__name__)


class EvolutionClient:
    """One Evolution server, one ``aiohttp.ClientSession`` between ``start()`` and ``close()``.

    ``name_taken_grace`` is how long ``create`` keeps retrying a 403 "already in use" (Evolution
    deletes asynchronously, §3.5); ``retry_delay`` is the first pause, doubled up to 1 s.
    """

    def __init__(
        self,
        base_url: str,
        apikey: SecretStr,
        timeout: float,
        *,
        name_taken_grace: float = 5.0,
        retry_delay: float = 0.1,
        observe: CallObserver | None = None,
    ) -> None:
        self._transport = Transport(base_url, apikey, timeout, observe=observe)
        self._base_url = public_url(base_url)
        self._timeout = timeout
        self._name_taken_grace = name_taken_grace
        self._retry_delay = retry_delay
        self._server_info: ServerInfo | None = None
        self._server_info_lock = asyncio.Lock()

    @property
    def base_url(self) -> str:
        """The server's URL without credentials (safe to show and log)."""
        return self._base_url

    def __repr__(self) -> str:
        return f"EvolutionClient(base_url={self._base_url!r}, timeout={self._timeout})"

    async def start(self) -> None:
        await self._transport.start()

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- server -------------------------------------------------------------------------

    async def server_info(self) -> ServerInfo:
        """``GET /`` (§3): version and client name, cached after the first success."""
        async with self._server_info_lock:
            if self._server_info is None:
                reply = await self._transport.call("GET", "/")
                body = json_object(reply, "GET /")
                self._server_info = parse(ServerInfo, {**body, "upstream_status": reply.status})
                log.info(
                    "evolution server at %s is version %s",
                    self._base_url,
                    self._server_info.version,
                )
            return self._server_info

    def forget_server_info(self) -> None:
        """Read the version again on next use: the server may have been upgraded (§10)."""
        self._server_info = None

    async def validate_events(self, events: Sequence[str]) -> None:
        """Raise ``ValidationFailed`` listing every name the server's version rejects (§4, §10)."""
        check_events(events, await self._server_info_or_none())

    # ---- instances ----------------------------------------------------------------------

    async def create(
        self,
        name: str,
        *,
        token: str | SecretStr | None = None,
        events: Sequence[str] | None = None,
    ) -> CreatedInstance:
        """``POST /instance/create`` (§3.1), integration ``WHATSAPP-BAILEYS``.

        With ``events``, websocket output is configured as well: inline on 2.1.0 and later
        (always with an ``events`` array, §11.5), by a separate ``set_websocket`` before that.
        """
        require_name(name)
        info: ServerInfo | None = None
        if events is not None:
            info = await self._server_info_or_none()
            check_events(events, info)
        nested = info is None or info.nested_event_config
        secret = SecretStr(token) if isinstance(token, str) else token
        inline = EventConfigBody(enabled=True, events=list(events)) if events is not None else None
        body = CreateBody(instance_name=name, token=secret, websocket=inline if nested else None)
        reply = await self._create_retrying(name, body)
        result = replies.created_instance(reply, name)
        log.info("created instance %s on evolution (id %s)", name, result.instance_id)
        if events is not None and not nested:
            await self.set_websocket(name, True, list(events))
        return result

    async def _create_retrying(self, name: str, body: CreateBody) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._name_taken_grace
        delay = self._retry_delay
        while True:
            reply = await self._transport.call(
                "POST", "/instance/create", instance=name, json=body, accept=(403,)
            )
            if reply.status != 403:
                return reply
            message = error_message(reply.body, reply.reason)
            if "already in use" not in message.lower():
                log.info("create of instance %s rejected with 403: %s", name, message)
                raise UpstreamRejected(403, message)
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.info("instance name %s is taken on evolution: %s", name, message)
                raise UpstreamNameTaken(403, message)
            pause = min(delay, remaining)
            log.info("instance name %s still in use on evolution; retrying in %.2f s", name, pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, 1.0)

    async def fetch_instances(self, name: str | None = None) -> list[UpstreamInstance]:
        """``GET /instance/fetchInstances`` (§3.6). With ``name``, an unknown name gives ``[]``.

        The rows' ``token`` is dropped; it is never logged or returned.
        """
        params = {"instanceName": name} if name is not None else None
        reply = await self._transport.call(
            "GET",
            "/instance/fetchInstances",
            instance=name,
            params=params,
            accept=(404,) if name is not None else (),
        )
        if reply.status == 404:
            return []
        return replies.instance_rows(reply)

    async def connect(self, name: str, number: str | None = None) -> ConnectResult:
        """``GET /instance/connect/{name}`` (§3.2). ``number`` asks for a pairing code."""
        params = {"number": number} if number else None
        reply = await self._named("GET", "/instance/connect/", name, params=params)
        body = json_object(reply, "connect")
        if is_error_200(reply.body):
            message = error_message(reply.body, reply.reason)
            log.info("connect of instance %s refused with HTTP 200 error: %s", name, message)
            raise UpstreamRejected(reply.status, message)
        return ConnectResult.from_body(body, reply.status)

    async def connection_state(self, name: str) -> ConnectionState:
        """``GET /instance/connectionState/{name}`` (§3): the live state."""
        reply = await self._named("GET", "/instance/connectionState/", name)
        return replies.connection_state(reply, name)

    async def restart(self, name: str) -> ConnectResult:
        """``POST /instance/restart/{name}`` (§3.3); a closed instance is connected instead."""
        reply = await self._named("POST", "/instance/restart/", name)
        body = json_object(reply, "restart")
        if is_error_200(reply.body):
            log.info(
                "restart of instance %s refused with HTTP 200 error (%s); it is closed, "
                "connecting it instead",
                name,
                error_message(reply.body, reply.reason),
            )
            return await self.connect(name)
        return ConnectResult.from_body(body, reply.status)

    async def logout(self, name: str) -> LogoutResult:
        """``DELETE /instance/logout/{name}`` (§3.4); 400 "not connected" is already logged out."""
        reply = await self._named("DELETE", "/instance/logout/", name, accept=(400,))
        if reply.status == 400:
            message = error_message(reply.body, reply.reason)
            if "not connected" not in message.lower():
                log.info("logout of instance %s rejected with 400: %s", name, message)
                raise UpstreamRejected(400, message)
            log.info("instance %s was already logged out: %s", name, message)
            return LogoutResult(already_logged_out=True, upstream_status=400)
        return LogoutResult(already_logged_out=False, upstream_status=reply.status)

    async def delete(self, name: str) -> DeleteResult:
        """``DELETE /instance/delete/{name}`` (§3.5); raises ``UpstreamInstanceNotFound`` on 404."""
        reply = await self._named("DELETE", "/instance/delete/", name)
        log.info("deleted instance %s on evolution", name)
        return DeleteResult(upstream_status=reply.status)

    # ---- websocket / webhook ------------------------------------------------------------

    async def set_websocket(
        self, name: str, enabled: bool, events: Sequence[str]
    ) -> WebsocketConfig:
        """``POST /websocket/set/{name}`` (§5.1), nested body from 2.1.0 on, flat before (§10)."""
        info = await self._server_info_or_none()
        check_events(events, info)
        body = websocket_body(enabled, events, nested=info is None or info.nested_event_config)
        reply = await self._named("POST", "/websocket/set/", name, json=body)
        row = replies.websocket_row(reply, name)
        if row is None:
            raise UpstreamRejected(reply.status, "websocket/set answered null")
        return row

    async def find_websocket(self, name: str) -> WebsocketConfig | None:
        """``GET /websocket/find/{name}`` (§5.2): the config, or None when never set."""
        reply = await self._named("GET", "/websocket/find/", name)
        return replies.websocket_row(reply, name)

    async def set_webhook(self, name: str, config: WebhookConfig) -> WebhookConfig:
        """``POST /webhook/set/{name}`` (§5.3), nested body from 2.1.0 on, flat before (§10)."""
        info = await self._server_info_or_none()
        check_events(config.events, info)
        body = webhook_body(config, nested=info is None or info.nested_event_config)
        reply = await self._named("POST", "/webhook/set/", name, json=body)
        row = json_object_or_null(reply, "webhook/set")
        if row is None:
            raise UpstreamRejected(reply.status, "webhook/set answered null")
        return parse_webhook(row, reply.status)

    async def find_webhook(self, name: str) -> WebhookConfig | None:
        """``GET /webhook/find/{name}`` (§5.3): the config, or None when never set."""
        reply = await self._named("GET", "/webhook/find/", name)
        row = json_object_or_null(reply, "webhook/find")
        return None if row is None else parse_webhook(row, reply.status)

    # ---- helpers ------------------------------------------------------------------------

    async def _named(
        self,
        method: str,
        route: str,
        name: str,
        *,
        params: dict[str, str] | None = None,
        json: pydantic.BaseModel | None = None,
        accept: Sequence[int] = (),
    ) -> Reply:
        """A call on a ``{name}`` route, where a 404 means the instance is gone (§11.3)."""
        require_name(name)
        return await self._transport.call(
            method,
            route + segment(name),
            route=route + "{name}",
            instance=name,
            gone_on_404=True,
            params=params,
            json=json,
            accept=accept,
        )

    async def _server_info_or_none(self) -> ServerInfo | None:
        """The server's version, or None (taken as the newest) when ``GET /`` fails.

        ``GET /`` fetches web.whatsapp.com on every call and can fail offline (§3), which must
        not stop a websocket or webhook update on a 2.3 server.
        """
        try:
            return await self.server_info()
        except UpstreamError as exc:
            log.warning(
                "could not read the evolution version from GET / (%s); assuming 2.3 or later",
                exc,
            )
            return None
