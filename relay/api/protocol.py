"""HTTP requests aiohttp cannot parse: answered with the JSON error shape, never echoed.

aiohttp answers a request line or header over its limits (8190 bytes), too many headers or
a malformed line with a plain-text 400 that repeats the offending input, and logs it at ERROR
with a traceback that quotes the first bytes of it: the start of an ``Authorization`` header,
a ``?token=`` query. Both would put a token where it does not belong. :class:`Runner` is
aiohttp's ``AppRunner`` whose connections answer those with ``{"success": false, ...,
"code": "BAD_REQUEST"}`` and log one INFO line naming only the peer and the error class.

Internals used (aiohttp 3.14, guarded by tests/api/test_protocol_errors.py): ``AppRunner.
_make_server`` builds the ``web.Server`` (a protocol factory whose ``__call__`` creates one
``RequestHandler`` per connection from ``_loop`` and ``_kwargs``), and
``RequestHandler.handle_error(request, status, exc, message)`` makes the error response.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from relay.errors import MalformedRequest, RelayError

log = logging.getLogger(__name__)


class _RequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        log.info(
            "refused an unparsable HTTP request from %s: %s (the input is not logged)",
            request.remote, type(exc).__name__ if exc is not None else status,
        )  # fmt: skip
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        error: RelayError = MalformedRequest()
        body = {"success": False, "message": error.message, "code": error.code}
        response = web.json_response(body, status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` whose connections answer unparsable requests with the JSON shape."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        kwargs: dict[str, Any] = dict(made._kwargs)
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **kwargs,
        )
