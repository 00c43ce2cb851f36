"""systemd's notify protocol (sd_notify(3)), for ``Type=notify`` and ``WatchdogSec=``.

The protocol is one datagram of ``KEY=value`` lines to the ``AF_UNIX`` socket named by
``NOTIFY_SOCKET`` (``@`` at the start means the abstract namespace). It is small enough to own:
the PyPI packages for it are either unmaintained (sdnotify, last release 2017) or bind
libsystemd through a C extension (systemd-python), which needs headers to build.

- ``READY=1`` once the daemon serves (see ``relay.app.serve``), ``STATUS=`` free text for
  ``systemctl status``, ``STOPPING=1`` when shutdown begins.
- ``WATCHDOG=1`` from a task on the event loop, every half ``WATCHDOG_USEC``: a loop that stops
  turning stops the pings, and systemd kills and restarts the service.

Without ``NOTIFY_SOCKET`` (not under systemd, or ``Type=simple``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from typing import Final

log = logging.getLogger(__name__)

MIN_WATCHDOG_INTERVAL: Final = 0.05


class Notifier:
    """Sends notify datagrams; a no-op when ``address`` is None."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._failed = False
        self._last_status: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """From ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (this process only)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        pid = env.get("WATCHDOG_PID")
        if env.get("WATCHDOG_USEC", "").isdigit() and (pid is None or pid == str(os.getpid())):
            usec = int(env["WATCHDOG_USEC"]) or None
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two ``WATCHDOG=1``: half what systemd allows, as sd_watchdog_enabled
        advises; None when no watchdog is asked for."""
        if self._address is None or self._watchdog_usec is None:
            return None
        return max(self._watchdog_usec / 2_000_000, MIN_WATCHDOG_INTERVAL)

    def send(self, *lines: str) -> bool:
        """One datagram with ``lines``; False (logged once) if it could not be sent."""
        if self._address is None:
            return False
        target = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            # The supervisor's socket is gone or full: the daemon goes on, readiness aside.
            if not self._failed:
                log.warning("systemd notify socket %s: %s", self._address, exc)
            self._failed = True
            return False
        return True

    def ready(self, status: str) -> None:
        self._last_status = status
        self.send("READY=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        """``STATUS=text``, only when it changed."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def stopping(self, status: str = "stopping") -> None:
        self._last_status = status
        self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    async def watchdog_loop(self) -> None:
        """Ping from the event loop until cancelled; returns at once without a watchdog."""
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
