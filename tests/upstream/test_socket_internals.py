"""Guard for the one private python-socketio API the upstream side uses (relay/upstream/socket.py).

Joining a namespace on a live connection sends the client's own CONNECT packet with
``AsyncClient._send_packet`` and ``packet_class``. pyproject pins python-socketio to 5.18.x;
this test fails loudly, naming what changed, if an upgrade moves any of it.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import socketio
from socketio import packet


def test_python_socketio_is_the_pinned_series() -> None:
    assert version("python-socketio").startswith("5.18."), version("python-socketio")


def test_private_client_api_used_to_join_namespaces_is_there() -> None:
    client = socketio.AsyncClient(handle_sigint=False)
    assert inspect.iscoroutinefunction(socketio.AsyncClient._send_packet)
    assert list(inspect.signature(socketio.AsyncClient._send_packet).parameters) == [
        "self", "pkt",
    ]  # fmt: skip
    assert client.packet_class is packet.Packet
    assert isinstance(client.namespaces, dict)
    connect = client.packet_class(packet.CONNECT, data={}, namespace="/inst-1")
    assert connect.encode() == "0/inst-1,{}"
    disconnect = client.packet_class(packet.DISCONNECT, namespace="/inst-1")
    assert disconnect.encode() == "1/inst-1,"
