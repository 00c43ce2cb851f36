"""The stock upstream path (untested library versions): a public ``AsyncClient`` per namespace.

``test_subscription.py``, ``test_status_flow.py`` and ``test_reconcile.py`` run on this path
too (refusals, lazy namespaces, pairing, an Evolution restart); this module checks what is its
own: one connection per namespace, and a namespace's connection closed when it is left.
"""

from __future__ import annotations

import pytest

from relay.upstream.per_namespace import SocketPerNamespace
from simulator import PresetInstance
from tests.upstream.conftest import MakeLive, eventually


@pytest.mark.parametrize("live_env", ["stock"], indirect=True)
async def test_each_namespace_has_its_own_connection_until_it_is_left(
    live_env: MakeLive,
) -> None:
    presets = [PresetInstance("a1", state="open"), PresetInstance("b1", state="open")]
    env = await live_env(presets, {"a1": "t1", "b1": "t2"})
    sock = env.live.upstream._socket
    assert isinstance(sock, SocketPerNamespace)
    await eventually(lambda: sock.joined("/a1") and sock.joined("/b1"))
    sessions = {sock._root.eio.sid, sock._clients["/a1"].eio.sid, sock._clients["/b1"].eio.sid}
    assert len(sessions) == 3  # the root's, and one per namespace

    await env.sim.emit("a1", "messages.upsert", {"key": {"id": "m1"}})
    await env.sim.emit("b1", "messages.upsert", {"key": {"id": "m2"}})
    await eventually(lambda: env.hub.events("a1", "messages.upsert"))
    await eventually(lambda: env.hub.events("b1", "messages.upsert"))
    assert env.hub.events("b1", "messages.upsert")[0].tenant_id == "t2"

    left = sock._clients["/a1"]
    row = await env.store.get_instance("a1")
    assert row is not None
    await env.live.instance_removed(row)
    await eventually(lambda: not left.connected and "/a1" not in sock._clients)
    assert sock.joined("/b1") and sock.connected  # the others are not touched
    await env.sim.emit("b1", "messages.upsert", {"key": {"id": "m3"}})
    await eventually(lambda: len(env.hub.events("b1", "messages.upsert")) == 2)
