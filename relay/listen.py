"""The listen address: checked before anything starts, and the OS's refusal made readable.

``check_listen`` binds (and releases) every address ``host`` resolves to, with ``SO_REUSEADDR``
as the server will, so a busy or forbidden port is reported in one line, with exit 71
(EX_OSERR), before the database is opened, and by ``evo-relay check`` too. The server's own
bind can still lose a race; ``cannot_listen`` words that failure the same way.
"""

from __future__ import annotations

import errno
import socket
from typing import Final

from relay.errors import CannotListen

_HINTS: Final[dict[int, str]] = {
    errno.EADDRINUSE: "another process is listening there (`ss -ltnp 'sport = :{port}'` shows "
    "which); stop it or set RELAY_PORT",
    errno.EACCES: "ports below 1024 need privileges: use a port >= 1024 behind a proxy, or "
    "grant CAP_NET_BIND_SERVICE (AmbientCapabilities= in the unit)",
    errno.EADDRNOTAVAIL: "no interface here has that address: fix RELAY_HOST",
}


def cannot_listen(host: str, port: int, exc: OSError) -> CannotListen:
    cause = (exc.strerror or str(exc)).lower()
    hint = _HINTS.get(exc.errno or 0, "fix RELAY_HOST / RELAY_PORT").format(port=port)
    return CannotListen([f"cannot listen on {host}:{port}: {cause}; {hint}"])


def check_listen(host: str, port: int) -> None:
    """Raise ``CannotListen`` if the server could not bind ``host:port`` right now."""
    if port == 0:
        return  # the OS picks a free port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(
            [f"cannot listen on {host}:{port}: the name does not resolve ({exc.strerror}); "
             "fix RELAY_HOST"]
        ) from exc  # fmt: skip
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise cannot_listen(host, port, exc) from exc
