"""Where a webhook may point: http(s), and public addresses only.

Evolution calls the webhook URL from its own network. Pointed at ``169.254.169.254`` (cloud
metadata), ``127.0.0.1`` or a private range, it would make Evolution a proxy into that network
for any tenant admin (SSRF). The host is resolved here and every address it resolves to must be
global, unless ``RELAY_WEBHOOK_ALLOW_PRIVATE`` (an Evolution and a webhook receiver on one
private network). IP literals in any spelling (``0x7f000001``, ``[::ffff:127.0.0.1]``) resolve
to what they mean and are checked the same way.

A name that does not resolve at all is let through (logged): Evolution cannot call it either,
and refusing it would add nothing against the gap this check cannot close anyway, DNS
rebinding (the name resolves to a public address now and a private one when Evolution calls
it). An egress firewall on Evolution's host is the complete answer; docs/operations.md says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Final

import yarl

from relay.errors import ValidationFailed

log = logging.getLogger(__name__)

PRIVATE_HINT: Final = "use um endereço público (ou RELAY_WEBHOOK_ALLOW_PRIVATE=true no relay)"


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Raise ``ValidationFailed`` unless ``url`` is http(s) with a host that resolves to public
    addresses (any address with ``allow_private``)."""
    try:
        parsed = yarl.URL(url)
    except ValueError as exc:
        raise ValidationFailed(problems=["url: URL inválida"]) from exc
    host = parsed.raw_host
    if parsed.scheme not in ("http", "https") or not host:
        raise ValidationFailed(problems=["url: use uma URL http:// ou https:// com um host"])
    if allow_private:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        log.info("webhook host %s does not resolve here (%s); accepted as it is", host, exc)
        return
    blocked = sorted({str(info[4][0]) for info in infos if not is_public(str(info[4][0]))})
    if blocked:
        raise ValidationFailed(
            problems=[
                f"url: o host aponta para um endereço privado, local ou de metadados "
                f"({', '.join(blocked)}); {PRIVATE_HINT}"
            ]
        )
