"""A fleet of two Evolution servers behind one relay: placement, routing, events, failures."""

from __future__ import annotations

import pytest

from relay.auth import Role
from relay.store import Status
from simulator import PresetInstance
from tests.fleet.conftest import KEYS, MakeFleet
from tests.support import eventually, wait_stored

pytestmark = pytest.mark.timeout(60)


async def test_placement_fills_the_server_with_the_most_free_capacity(fleet: MakeFleet) -> None:
    """evo-a: capacity 2 with one recorded; evo-b: capacity 3: evo-b first, then ties by name."""
    env = await fleet(
        {"evo-a": [PresetInstance("old-a")]}, recorded={"old-a": ("evo-a", "t")},
        capacity={"evo-a": 2, "evo-b": 3},
    )  # fmt: skip
    placed = []
    for name in ("n1", "n2", "n3", "n4", "n5"):
        status, body = await env.call("POST", "instances", "t", {"instanceName": name})
        assert status == 201, body
        placed.append(body["instance"]["server"])
    # free: a=1, b=3 -> b (b=2) -> b (b=1; a=1, tie -> a) ... then a=0, b=1 -> b, then both 0 -> a
    assert placed == ["evo-b", "evo-b", "evo-a", "evo-b", "evo-a"]
    for name, server in zip(("n1", "n2", "n3", "n4", "n5"), placed, strict=True):
        row = await env.store.get_instance(name)
        assert row is not None and row.server == server
        assert env.sims[server].store.get(name) is not None  # created there, not elsewhere
        other = "evo-a" if server == "evo-b" else "evo-b"
        assert env.sims[other].store.get(name) is None


async def test_a_superadmin_may_name_the_server_others_may_not(fleet: MakeFleet) -> None:
    env = await fleet(capacity={"evo-a": 0, "evo-b": 100})
    body = {"instanceName": "chosen", "tenantId": "t", "server": "evo-a"}
    status, reply = await env.call("POST", "instances", None, body, role=Role.SUPERADMIN)
    assert status == 201, reply
    assert reply["instance"]["server"] == "evo-a"  # obeyed, although evo-a has no room
    status, reply = await env.call("POST", "instances", "t", {"instanceName": "x",
                                                              "server": "evo-a"})  # fmt: skip
    assert status == 403
    body = {"instanceName": "y", "tenantId": "t", "server": "evo-z"}
    status, reply = await env.call("POST", "instances", None, body, role=Role.SUPERADMIN)
    assert status == 400 and "evo-z" in str(reply)


async def test_every_route_reaches_the_instance_server_with_its_key(fleet: MakeFleet) -> None:
    env = await fleet(
        {"evo-a": [PresetInstance("on-a", state="open")],
         "evo-b": [PresetInstance("on-b", state="open")]},
        recorded={"on-a": ("evo-a", "t"), "on-b": ("evo-b", "t")},
    )  # fmt: skip
    routes = [("POST", "restart/{n}"), ("GET", "status/{n}"), ("GET", "websocket/{n}"),
              ("POST", "connect/{n}"), ("POST", "logout/{n}"), ("GET", "webhook/{n}")]  # fmt: skip
    for name, server in (("on-a", "evo-a"), ("on-b", "evo-b")):
        other = "evo-b" if server == "evo-a" else "evo-a"
        for method, path in routes:
            status, body = await env.call(method, path.format(n=name), "t",
                                          {} if method == "POST" else None)  # fmt: skip
            assert status == 200, (path, body)
        mine = [c for c in env.sims[server].calls.calls if name in c.path]
        assert len(mine) >= len(routes) and all(c.authorized for c in mine)
        assert not [c for c in env.sims[other].calls.calls if name in c.path]
    # Each simulator authorized the calls with its own key only.
    assert KEYS["evo-a"] != KEYS["evo-b"]


async def test_events_of_both_servers_reach_the_tenant_with_their_server(
    fleet: MakeFleet,
) -> None:
    env = await fleet(
        {"evo-a": [PresetInstance("qa")], "evo-b": [PresetInstance("qb")]},
        recorded={"qa": ("evo-a", "t"), "qb": ("evo-b", "t")},
    )  # fmt: skip
    panel = await env.client("t")
    other = await env.client("u")
    for name in ("qa", "qb"):
        status, body = await env.call("POST", f"connect/{name}", "t", {})
        assert status == 200, body
    await panel.wait(
        lambda r: {s["instanceName"] for s in r.named("instance.status")} >= {"qa", "qb"},
        "instance.status of both servers",
    )
    servers = {s["instanceName"]: s["server"] for s in panel.named("instance.status")}
    assert servers == {"qa": "evo-a", "qb": "evo-b"}
    (snapshot,) = panel.named("instances.snapshot")
    assert sorted((u["server"], u["state"]) for u in snapshot["upstream"]) in (
        [("evo-a", "up"), ("evo-b", "up")],
        [("evo-a", "down"), ("evo-b", "down")],
        [("evo-a", "down"), ("evo-b", "up")],
        [("evo-a", "up"), ("evo-b", "down")],
    )  # both servers are named; their state depends on the connect race
    assert not other.live()


async def test_one_server_down_affects_only_its_instances(fleet: MakeFleet) -> None:
    env = await fleet(
        {"evo-a": [PresetInstance("da", state="open")],
         "evo-b": [PresetInstance("db", state="open")]},
        recorded={"da": ("evo-a", "t"), "db": ("evo-b", "t")},
    )  # fmt: skip
    await wait_stored(env.store, "da", Status.WORKING)
    await wait_stored(env.store, "db", Status.WORKING)
    panel = await env.client("t")
    await env.sims["evo-a"].stop()
    await panel.wait(
        lambda r: any(u["server"] == "evo-a" and u["state"] == "down"
                      for u in r.named("upstream.status")),
        "upstream.status down for evo-a",
    )  # fmt: skip
    assert not any(u["server"] == "evo-b" and u["state"] == "down"
                   for u in panel.named("upstream.status"))  # fmt: skip
    status, body = await env.call("POST", "restart/da", "t", {})
    assert (status, body["code"]) == (503, "UPSTREAM_UNAVAILABLE")
    # The other server's instance is managed and followed as usual.
    await env.sims["evo-b"].drop("db", 401)
    await wait_stored(env.store, "db", Status.STOPPED)
    status, body = await env.call("POST", "connect/db", "t", {})
    assert status == 200, body
    async with env.http.get(f"{env.url}/readyz") as reply:
        ready = await reply.json()
    assert reply.status == 200  # one server down does not make the node unready
    assert {u["server"]: u["state"] for u in ready["upstream"]}["evo-a"] == "down"
    # Back: statuses true again.
    await env.sims["evo-a"].start("127.0.0.1", int(env.sims["evo-a"].base_url.rsplit(":", 1)[1]))
    await panel.wait(
        lambda r: (
            [u["state"] for u in r.named("upstream.status") if u["server"] == "evo-a"][-1:]
            == ["up"]
        ),
        "upstream.status up for evo-a",
    )
    await wait_stored(env.store, "da", Status.WORKING, within=20)


async def test_an_event_about_another_servers_instance_is_dropped(fleet: MakeFleet) -> None:
    """evo-b also has an instance named "mine" (behind the relay's back); the relay records
    "mine" on evo-a, so what evo-b says about it is dropped and counted."""
    env = await fleet(
        {"evo-a": [PresetInstance("mine")], "evo-b": [PresetInstance("mine")]},
        recorded={"mine": ("evo-a", "t")}, mode="global",
    )  # fmt: skip
    panel = await env.client("t")
    await eventually(lambda: env.sample("relay_upstream_up", {"server": "evo-b"}) == 1)
    await env.sims["evo-b"].emit("mine", "connection.update", {"instance": "mine",
                                                                "state": "open"})  # fmt: skip
    await eventually(lambda: env.sample("relay_events_dropped_total",
                                        {"reason": "other_server"}) >= 1)  # fmt: skip
    assert await env.status("mine") is Status.STOPPED
    assert not [s for s in panel.named("instance.status") if s["instanceName"] == "mine"]


async def test_servers_shows_the_fleet_to_a_superadmin(fleet: MakeFleet) -> None:
    env = await fleet(
        {"evo-a": [PresetInstance("owned"), PresetInstance("orphan-1")],
         "evo-b": [PresetInstance("orphan-2")]},
        recorded={"owned": ("evo-a", "t")}, capacity={"evo-a": 10},
    )  # fmt: skip
    status, body = await env.call("GET", "servers", "t")
    assert status == 403
    status, body = await env.call("GET", "servers", None, role=Role.SUPERADMIN)
    assert status == 200, body
    servers = {s["name"]: s for s in body["servers"]}
    assert set(servers) == {"evo-a", "evo-b"}
    a, b = servers["evo-a"], servers["evo-b"]
    assert (a["instances"], a["capacity"], a["unowned"]) == (1, 10, ["orphan-1"])
    assert (b["instances"], b["capacity"], b["unowned"]) == (0, None, ["orphan-2"])
    assert a["url"] == env.sims["evo-a"].base_url and a["version"] == "2.3.6"
    assert KEYS["evo-a"] not in str(body) and KEYS["evo-b"] not in str(body)
    # Adoption finds the orphan on whichever server holds it.
    body = {"instanceName": "orphan-2", "tenantId": "t2"}
    status, reply = await env.call("POST", "instances", None, body, role=Role.SUPERADMIN)
    assert status == 201, reply
    assert reply["adopted"] is True and reply["instance"]["server"] == "evo-b"


async def test_each_server_has_its_own_version_read_again_when_it_reconnects(
    fleet: MakeFleet,
) -> None:
    """2.2.x takes 27 event names, 2.3.x 31 (docs/upstream.md §10); servers get upgraded under
    a running relay, so the version is read again each time its connection starts."""
    env = await fleet(
        {"evo-a": [PresetInstance("old", state="open")],
         "evo-b": [PresetInstance("new", state="open")]},
        recorded={"old": ("evo-a", "t"), "new": ("evo-b", "t")},
    )  # fmt: skip
    env.sims["evo-a"].config.version = "2.2.3"
    body = {"enabled": True, "events": ["INSTANCE_CREATE"]}
    status, reply = await env.call("POST", "websocket/old", "t", body)
    assert status == 400 and "INSTANCE_CREATE" in str(reply)
    status, reply = await env.call("POST", "websocket/new", "t", body)
    assert status == 200, reply
    # evo-a is upgraded to 2.3.6 and restarted: the relay reads its version again.
    env.sims["evo-a"].config.version = "2.3.6"
    await env.sims["evo-a"].restart(down_for=0.2)
    await eventually(lambda: env.sample("relay_upstream_up", {"server": "evo-a"}) == 1, within=20)
    await wait_stored(env.store, "old", Status.WORKING, within=20)
    status, reply = await env.call("POST", "websocket/old", "t", body)
    assert status == 200, reply
