"""A TCP forwarder in front of the relay that a test cuts, as a network failure would.

Chromium's offline emulation leaves an open EventSource alone, so a dropped stream is made
here: the page is opened through :class:`CuttableLink`, ``cut()`` resets every connection it
carries and refuses new ones, and ``restore()`` lets the browser's own reconnect through.
"""

from __future__ import annotations

import asyncio

from yarl import URL

CHUNK = 64 * 1024


class CuttableLink:
    def __init__(self, target: str) -> None:
        url = URL(target)
        assert url.host is not None and url.port is not None, target
        self._host, self._port = url.host, url.port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.up = True

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Reset every connection now; refuse new ones until :meth:`restore`."""
        self.up = False
        for writer in list(self._open):
            writer.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if not self.up:
            client.transport.abort()
            return
        try:
            relay_in, relay = await asyncio.open_connection(self._host, self._port)
        except OSError:
            client.transport.abort()  # the relay is gone: the browser sees a reset
            return
        self._open |= {client, relay}
        try:
            await asyncio.gather(_pipe(client_in, relay), _pipe(relay_in, client))
        finally:
            self._open -= {client, relay}


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass  # cut() reset one side, or a peer went away: this direction is over
    finally:
        sink.close()
