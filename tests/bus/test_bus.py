"""The cluster bus against the machine's Redis (database 13, flushed): numbering, history,
priming and resets as two nodes see them, and the mirror a hub keeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from relay.bus import Bus, BusUnavailable
from relay.hub.history import Entry, History
from relay.tasks import Tasks
from tests.support import eventually

URL = "redis://127.0.0.1:6379/13"
pytestmark = pytest.mark.timeout(60)


@dataclass
class Node:
    """A bus with what its reader hands over, as a hub and its peers would see it."""

    bus: Bus
    events: list[tuple[str, int, str, str]] = field(default_factory=list)
    resets: list[tuple[str, int]] = field(default_factory=list)
    states: list[tuple[bool, bool]] = field(default_factory=list)
    controls: list[tuple[str, str, str, str]] = field(default_factory=list)
    peer_events: list[tuple[str, str]] = field(default_factory=list)

    def bus_event(self, tenant_id: str, instance: str, event: str, seq: int,
                  payload_json: str, ordinal: int, node: str) -> None:  # fmt: skip
        self.events.append((tenant_id, seq, event, payload_json))

    def bus_reset(self, tenant_id: str, seq: int) -> None:
        self.resets.append((tenant_id, seq))

    def bus_state(self, up: bool, *, data_lost: bool) -> None:
        self.states.append((up, data_lost))

    def peer_control(self, op: str, server: str, value: str, node: str) -> None:
        self.controls.append((op, server, value, node))

    def peer_event(self, event: str, instance: str, payload_json: str, node: str) -> None:
        self.peer_events.append((event, node))


@pytest.fixture
async def nodes() -> AsyncIterator[list[Node]]:
    flush = aioredis.Redis.from_url(URL)
    await flush.flushdb()
    await flush.aclose()
    tasks = Tasks()
    made = []
    for name in ("n1", "n2"):
        node = Node(Bus(URL, name, history_size=5, spawn=tasks.spawn))
        node.bus.bind(node, node)
        tasks.supervise(node.bus.run, f"bus-{name}")
        made.append(node)
    await eventually(lambda: all(node.bus.up for node in made), what="both readers up")
    yield made
    await tasks.close()
    for node in made:
        await node.bus.close()


async def test_every_node_sees_every_event_with_one_contiguous_seq_per_tenant(
    nodes: list[Node],
) -> None:
    n1, n2 = nodes
    seqs = []
    for number in range(6):
        publisher = n1 if number % 2 else n2
        seqs.append(await publisher.bus.publish("t-a", "inst", "qrcode.updated",
                                                f'{{"n":{number}'))  # fmt: skip
    await n1.bus.publish("t-b", "other", "connection.update", "{")
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    await eventually(lambda: len(n1.events) == 7 and len(n2.events) == 7, what="7 events each")
    assert n1.events == n2.events
    tenant_a = [(seq, json.loads(payload)) for tenant, seq, _, payload in n1.events
                if tenant == "t-a"]  # fmt: skip
    assert tenant_a == [(seq, {"n": n, "seq": seq}) for n, seq in enumerate(seqs)]
    ((_, seq_b, _, payload_b),) = [e for e in n1.events if e[0] == "t-b"]
    assert json.loads(payload_b) == {"seq": seq_b}
    # peers hear of the other node's events only
    assert {node for _, node in n1.peer_events} == {"n2"}
    assert {node for _, node in n2.peer_events} == {"n1"}


async def test_prime_gives_the_kept_history_once_the_reader_has_passed_it(
    nodes: list[Node],
) -> None:
    n1, n2 = nodes
    published = [await n1.bus.publish("t-a", "inst", "e", "{") for _ in range(8)]
    seq, kept = await n2.bus.prime("t-a")
    assert seq == published[-1]
    assert [k.seq for k in kept] == published[-5:]  # RELAY_HISTORY_SIZE = 5
    # the reader had already handed every one of them over when prime returned
    assert [e[1] for e in n2.events][-1] == published[-1]
    assert all(json.loads(k.payload_json)["seq"] == k.seq for k in kept)
    assert [k.ordinal for k in kept] == sorted(k.ordinal for k in kept)


async def test_a_tenant_never_seen_gets_a_clock_based_seq_and_an_empty_history(
    nodes: list[Node],
) -> None:
    seq, kept = await nodes[0].bus.prime("t-new")
    assert kept == []
    assert seq > 1_700_000_000_000_000  # microseconds since the epoch
    assert await nodes[1].bus.publish("t-new", "i", "e", "{") == seq + 1


async def test_a_reset_empties_the_history_and_moves_the_seq_on_for_every_node(
    nodes: list[Node],
) -> None:
    n1, n2 = nodes
    last = await n1.bus.publish("t-a", "inst", "e", "{")
    reset = await n2.bus.reset("t-a")
    assert reset == last + 1
    await eventually(lambda: n1.resets == [("t-a", reset)] == n2.resets, what="reset on both")
    seq, kept = await n1.bus.prime("t-a")
    assert (seq, kept) == (reset, [])
    assert await n1.bus.publish("t-a", "inst", "e", "{") == reset + 1


async def test_kept_signals_reach_nodes_that_start_later(nodes: list[Node]) -> None:
    n1, _ = nodes
    assert await n1.bus.signal("upstream", "evo-1", '{"state":"up"}', keep=True)
    await eventually(lambda: ("upstream", "evo-1", '{"state":"up"}', "n1") in n1.controls,
                     what="the signal on the bus")  # fmt: skip
    tasks = Tasks()
    late = Node(Bus(URL, "n3", history_size=5, spawn=tasks.spawn))
    late.bus.bind(late, late)
    tasks.supervise(late.bus.run, "bus-n3")
    try:
        await eventually(lambda: ("upstream", "evo-1", '{"state":"up"}', "") in late.controls,
                         what="the kept value read at start")  # fmt: skip
    finally:
        await tasks.close()
        await late.bus.close()


async def test_without_redis_publish_and_prime_fail_plainly() -> None:
    tasks = Tasks()
    bus = Bus("redis://127.0.0.1:9/0", "lonely", history_size=5, spawn=tasks.spawn)
    node = Node(bus)
    bus.bind(node, node)
    try:
        with pytest.raises(BusUnavailable):
            await bus.publish("t-a", "i", "e", "{")
        with pytest.raises(BusUnavailable):
            await bus.prime("t-a")
    finally:
        await tasks.close()  # the repair task that would reset t-a once Redis answers
        await bus.close()


def _entry(tenant: str, seq: int, ordinal: int) -> Entry:
    return Entry(tenant, "i", "e", seq, ordinal, f'{{"seq":{seq}}}')


def test_a_mirror_joins_the_kept_history_with_what_its_reader_appended_since() -> None:
    history = History(10, mirror=True)
    assert not history.is_primed("t") and history.current("t") == 0
    for seq in (105, 106):  # the reader saw these before the first client came
        history.receive("t", "i", "e", seq, "{}", seq)
    kept = [_entry("t", seq, seq) for seq in range(101, 106)]
    history.prime("t", 105, kept)
    assert history.is_primed("t")
    assert history.current("t") == 106
    assert [e.seq for e in history.log("t").entries] == [101, 102, 103, 104, 105, 106]
    assert history.receive("t", "i", "e", 106, "{}", 106) is None  # never twice
    assert [e.seq for e in history.since({"t": 103}) or []] == [104, 105, 106]
    history.reset("t", 200)
    assert history.since({"t": 106}) is None  # a gap: recovered false
    assert history.since({"t": 200}) == []


async def test_a_tenant_that_missed_events_is_reset_for_every_node_once_redis_answers(
    nodes: list[Node],
) -> None:
    """A publish that failed marks its tenant; the repair resets it as soon as Redis takes
    writes again (here at once), and every node's reader hears the reset."""
    n1, n2 = nodes
    before = await n1.bus.publish("t-a", "i", "e", "{")
    n1.bus._lose("t-a")  # what a failed publish does
    await eventually(lambda: n2.resets and n1.resets, what="the reset on both nodes")
    assert n1.resets == n2.resets == [("t-a", before + 1)]


async def test_concurrent_publishes_share_round_trips_and_keep_one_order(
    nodes: list[Node],
) -> None:
    n1, n2 = nodes
    seqs = await asyncio.gather(
        *(n1.bus.publish("t-a", "inst", "e", f'{{"n":{n}') for n in range(500))
    )
    assert sorted(seqs) == list(range(seqs[0], seqs[0] + 500))
    await eventually(lambda: len(n2.events) == 500, what="500 events on the other node")
    # the bus's order is the seqs' order, and each payload carries its own seq
    assert [seq for _, seq, _, _ in n2.events] == sorted(seqs)
    assert all(json.loads(payload)["seq"] == seq for _, seq, _, payload in n2.events)


async def test_publishing_goes_on_after_redis_forgets_its_scripts(nodes: list[Node]) -> None:
    n1, _ = nodes
    first = await n1.bus.publish("t-a", "inst", "e", "{")
    admin = aioredis.Redis.from_url(URL)
    try:
        await admin.script_flush()  # as a Redis restart does
    finally:
        await admin.aclose()
    assert await n1.bus.publish("t-a", "inst", "e", "{") == first + 1
