"""``Bus``: the cluster's one stream of live events, numbered and kept in Redis.

Every node publishes its tenants' events here (``publish``: one Lua script numbers the event
with the tenant's next ``seq``, appends it to the tenant's bounded history and to the bus,
atomically), and every node reads the whole bus in one order (``run``) and hands each entry to
its hub, which keeps a mirror of the history and fans the event out to its own clients,
encoding it once per node. A node delivers its own events the same way, so the order is the
bus's on every node.

The mirror of a tenant's history is filled lazily: the first client of a tenant on a node
``prime``s it (the tenant's seq and history, read atomically with the bus's last id; the call
returns once this node's reader has passed that id, so mirror and live stream meet with no gap
and no duplicate).

Redis trouble is neither fatal nor silent: ``publish`` raises :class:`BusUnavailable` (the
hub drops the live event, Postgres has the status), the tenant is remembered as having lost
events, and once the bus works again it is ``reset`` (its history goes and its seq moves on by
one, so every node's clients of it get a fresh snapshot with ``recovered: false``). The reader
reconnects with backoff and reports each change between up and down; a Redis that came back
empty (a new ``relay:epoch``) is reported as lost data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from relay.backoff import Backoff
from relay.bus import scripts

log = logging.getLogger(__name__)

BUS_LENGTH: Final = 100_000  # entries kept on the bus (approximately): a reader's slack
READ_COUNT: Final = 1000
READ_BLOCK_MS: Final = 1000
COMMAND_TIMEOUT: Final = 2.0
PRIME_WAIT: Final = 5.0
PUBLISH_BATCH: Final = 256  # events per round trip to Redis at most
CLOSE_WAIT: Final = 2.0


class BusUnavailable(Exception):
    """Redis cannot take or give the cluster's events right now (never reaches HTTP)."""


@dataclass(slots=True)
class _Outgoing:
    tenant_id: str
    keys_and_args: list[Any]
    done: asyncio.Future[int]


@dataclass(frozen=True, slots=True)
class Kept:
    """One event of a tenant's history in Redis."""

    seq: int
    instance: str
    event: str
    payload_json: str
    ordinal: int


class Receiver(Protocol):
    """What the bus's reader feeds (the hub, and the fleet's view of its peers)."""

    def bus_event(self, tenant_id: str, instance: str, event: str, seq: int,
                  payload_json: str, ordinal: int, node: str) -> None: ...  # fmt: skip

    def bus_reset(self, tenant_id: str, seq: int) -> None: ...

    def bus_state(self, up: bool, *, data_lost: bool) -> None: ...


class Peers(Protocol):
    """What the reader tells about the other nodes (``relay.cluster.peers``)."""

    def peer_control(self, op: str, server: str, value: str, node: str) -> None:
        """A control signal (from any node, this one included)."""

    def peer_event(self, event: str, instance: str, payload_json: str, node: str) -> None:
        """An event another node published (after the hub has delivered it)."""


Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]


def ordinal(entry_id: str) -> int:
    """A bus entry id (``ms-n``) as one increasing integer (the cluster-wide arrival order)."""
    ms, _, n = entry_id.partition("-")
    return (int(ms) << 20) | int(n or 0)


def _position(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


class Bus:
    def __init__(self, url: str, node: str, history_size: int, spawn: Spawn) -> None:
        self.node = node
        self._spawn = spawn
        self._url = url
        self._history_size = history_size
        self._redis = self._client(COMMAND_TIMEOUT)
        self._publish = self._redis.register_script(scripts.PUBLISH)
        self._prime = self._redis.register_script(scripts.PRIME)
        self._reset = self._redis.register_script(scripts.RESET)
        self._receiver: Receiver | None = None
        self._peers: Peers | None = None
        self._position = "0-0"
        self._epoch: str | None = None
        self._waiters: list[tuple[tuple[int, int], asyncio.Future[None]]] = []
        self._lost: set[str] = set()
        self._outbox: deque[_Outgoing] = deque()
        self._sender: asyncio.Task[Any] | None = None
        self._repairing: asyncio.Task[Any] | None = None
        self.up = False
        self.since = time.time()

    def _client(self, timeout: float | None) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self._url, decode_responses=True, socket_timeout=timeout,
            socket_connect_timeout=COMMAND_TIMEOUT, retry=Retry(NoBackoff(), 0),
            socket_keepalive=True,
        )  # fmt: skip

    def bind(self, receiver: Receiver, peers: Peers) -> None:
        self._receiver = receiver
        self._peers = peers

    async def close(self) -> None:
        if self._repairing is not None:
            self._repairing.cancel()
        await _close(self._redis)

    # -- writing -------------------------------------------------------------------------

    async def publish(self, tenant_id: str, instance: str, event: str, head: str) -> int:
        """Number and keep one event; ``head`` is its JSON without the closing brace (the
        script appends ``"seq"``). Returns the seq; the reader delivers it, here too.

        Events wait in an outbox that one sender drains, as many per round trip as have
        queued meanwhile (a pipeline of script calls): under load the cost of Redis's round
        trip is shared, and the bus gets the events in the order they were published."""
        separator = "" if head == "{" else ","
        keys = [scripts.seq_key(tenant_id), scripts.history_key(tenant_id), scripts.BUS]
        args = [_now_us(), self._history_size, BUS_LENGTH, tenant_id, instance, event, head,
                separator, self.node]  # fmt: skip
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._outbox.append(_Outgoing(tenant_id, [*keys, *args], done))
        if self._sender is None or self._sender.done():
            self._sender = self._spawn(self._send(), "bus-publisher")
        return await done

    async def _send(self) -> None:
        """Drain the outbox in batches, in order, until it is empty."""
        try:
            while self._outbox:
                count = min(len(self._outbox), PUBLISH_BATCH)
                batch = [self._outbox.popleft() for _ in range(count)]
                replies = await self._send_batch(batch)
                for item, reply in zip(batch, replies, strict=True):
                    if item.done.done():
                        continue  # its caller went away
                    if isinstance(reply, BaseException):
                        self._lose(item.tenant_id)
                        item.done.set_exception(BusUnavailable(str(reply) or type(reply).__name__))
                    else:
                        item.done.set_result(int(reply))
        finally:
            # Cancelled (shutdown) or a bug: nobody may wait forever on what is left.
            while self._outbox:
                item = self._outbox.popleft()
                if not item.done.done():
                    item.done.set_exception(BusUnavailable("the bus is closing"))

    async def _send_batch(self, batch: list[_Outgoing]) -> list[Any]:
        """One round trip: a script call per event; the script is loaded again if Redis lost
        it (a restart flushes scripts)."""
        for attempt in (1, 2):
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.evalsha(self._publish.sha, 3, *item.keys_and_args)
                    replies: list[Any] = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                _unless_cancelled(exc)
                return [exc] * len(batch)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in replies):
                try:
                    await self._redis.script_load(scripts.PUBLISH)
                except (RedisError, OSError) as exc:
                    _unless_cancelled(exc)
                    return [exc] * len(batch)
                continue
            return replies
        return replies

    async def signal(self, op: str, server: str, value: str, *, keep: bool = False) -> bool:
        """A control message to every node (not a tenant's event); best effort. ``keep``: also
        the latest value of ``op`` for ``server``, which a node that starts later reads."""
        fields = {"k": "c", "op": op, "server": server, "i": value, "n": self.node}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if keep:
                    pipe.hset(scripts.KEPT + op, server, value)
                pipe.xadd(scripts.BUS, fields, maxlen=BUS_LENGTH, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("cluster bus: could not tell the other nodes %s %s: %s", op, value, exc)
            return False
        return True

    def _lose(self, tenant_id: str) -> None:
        """``tenant_id`` missed an event: reset it as soon as the bus takes writes again."""
        if not self._lost:
            log.warning("cluster bus unavailable: live events are not delivered (statuses are "
                        "still written to Postgres); affected tenants get a fresh snapshot "
                        "when it is back")  # fmt: skip
        self._lost.add(tenant_id)
        if self._repairing is None or self._repairing.done():
            self._repairing = self._spawn(self._repair(), "bus-repair")

    async def _repair(self) -> None:
        backoff = Backoff(0.2, 2.0)
        while self._lost:
            tenant_id = next(iter(self._lost))
            try:
                await self.reset(tenant_id)
            except BusUnavailable as exc:
                _unless_cancelled(exc)
                await asyncio.sleep(backoff.next())
                continue
            self._lost.discard(tenant_id)
        log.info("cluster bus: tenants that missed live events were reset")

    async def reset(self, tenant_id: str) -> int:
        try:
            seq = await self._reset(
                keys=[scripts.seq_key(tenant_id), scripts.history_key(tenant_id), scripts.BUS],
                args=[_now_us(), tenant_id, self.node, BUS_LENGTH],
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc) or type(exc).__name__) from exc
        return int(seq)

    # -- reading -------------------------------------------------------------------------

    async def prime(self, tenant_id: str) -> tuple[int, list[Kept]]:
        """The tenant's seq and kept history, once this node's reader has caught up with it."""
        if not self.up:
            raise BusUnavailable("the bus is down")
        try:
            seq, last_id, kept = await self._prime(
                keys=[scripts.seq_key(tenant_id), scripts.history_key(tenant_id), scripts.BUS],
                args=[_now_us()],
            )
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc) or type(exc).__name__) from exc
        await self._reached(_position(last_id))
        return int(seq), [_kept(entry_id, fields) for entry_id, fields in kept]

    async def _reached(self, target: tuple[int, int]) -> None:
        if _position(self._position) >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, PRIME_WAIT)
        except TimeoutError:
            raise BusUnavailable("this node's reader is behind the bus") from None

    async def run(self) -> None:
        """Read the bus until cancelled, reconnecting with backoff; runs supervised."""
        # No socket timeout on the reader: redis-py's read timeout can swallow the task's
        # cancellation (the reader then never stops, and neither does shutdown). XREAD's BLOCK
        # bounds each read on a live server; TCP keepalive finds a dead one.
        reader = self._client(None)
        backoff = Backoff(0.1, 2.0)
        try:
            while True:
                try:
                    data_lost = await self._start_reading(reader)
                    backoff.reset()
                    self._set_state(True, data_lost=data_lost)
                    await self._read(reader)
                except (RedisError, OSError) as exc:
                    _unless_cancelled(exc)
                    self._set_state(False, data_lost=False, reason=str(exc))
                    await asyncio.sleep(backoff.next())
        finally:
            self._set_state(False, data_lost=False, quiet=True)
            await _close(reader)

    async def _start_reading(self, reader: aioredis.Redis) -> bool:
        """(Re)connect: check the epoch, and decide where to read from. True: Redis has lost
        what it held since this node last read it (restarted empty, or flushed)."""
        await reader.set(scripts.EPOCH, uuid.uuid4().hex, nx=True)
        epoch: Any = await reader.get(scripts.EPOCH)
        lost = self._epoch is not None and epoch != self._epoch
        if self._epoch is None or lost:
            last: Any = await reader.xrevrange(scripts.BUS, count=1)
            # First start: from now on. After a loss: the new bus from its start.
            self._position = last[0][0] if last and not lost else "0-0"
        self._epoch = epoch
        if self._peers is not None:
            kept: Any = await reader.hgetall(scripts.KEPT + "upstream")
            for server, value in kept.items():
                self._peers.peer_control("upstream", server, value, "")
        return lost

    async def _read(self, reader: aioredis.Redis) -> None:
        while True:
            reply: Any = await reader.xread({scripts.BUS: self._position}, count=READ_COUNT,
                                       block=READ_BLOCK_MS)  # fmt: skip
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    self._dispatch(entry_id, fields)
                    self._position = entry_id
            self._wake()

    def _dispatch(self, entry_id: str, fields: dict[str, Any]) -> None:
        receiver = self._receiver
        assert receiver is not None, "bind() before run()"
        try:
            kind = fields.get("k")
            if kind == "e":
                receiver.bus_event(fields["t"], fields["i"], fields["e"], int(fields["s"]),
                                   fields["p"], ordinal(entry_id), fields["n"])  # fmt: skip
                if fields["n"] != self.node and self._peers is not None:
                    self._peers.peer_event(fields["e"], fields["i"], fields["p"], fields["n"])
            elif kind == "r":
                receiver.bus_reset(fields["t"], int(fields["s"]))
            elif kind == "c" and self._peers is not None:
                self._peers.peer_control(fields["op"], fields["server"], fields["i"],
                                         fields["n"])  # fmt: skip
        except Exception:
            # One bad entry (a bug, or a foreign writer on this Redis) must not stop the reader.
            log.exception("cluster bus: entry %s could not be handled: %r", entry_id, fields)

    def _wake(self) -> None:
        if not self._waiters:
            return
        here = _position(self._position)
        waiting = []
        for target, waiter in self._waiters:
            if target <= here:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    def _set_state(self, up: bool, *, data_lost: bool, reason: str = "",
                   quiet: bool = False) -> None:  # fmt: skip
        if up == self.up:
            return
        self.up = up
        self.since = time.time()
        if not quiet:
            if up:
                log.info(
                    "cluster bus (redis) connected%s",
                    ": it lost its data, clients get fresh snapshots" if data_lost else "",
                )
            else:
                log.warning(
                    "cluster bus (redis) unavailable: %s; live events pause, HTTP and "
                    "snapshots go on; reconnecting",
                    reason or "connection lost",
                )
        if not up:
            for _target, waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(BusUnavailable("the bus went down"))
            self._waiters = []
        if self._receiver is not None:
            self._receiver.bus_state(up, data_lost=data_lost)


def _kept(entry_id: str, flat: list[str]) -> Kept:
    """An entry of ``relay:hist:<tenant>`` as a script returns it (fields as a flat list)."""
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    seq = int(entry_id.partition("-")[0])
    return Kept(seq, fields["i"], fields["e"], fields["p"], ordinal(fields["o"]))


def _unless_cancelled(exc: BaseException) -> None:
    """redis-py may turn the cancellation of a command in flight into a connection error: a
    loop that is being cancelled must end, not take it for an outage and retry."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc


async def _close(client: aioredis.Redis) -> None:
    """Close ``client`` and its pool, in bounded time: a connection cancelled in the middle of
    a blocking read can hold its lock, and shutdown must not wait on it."""
    try:
        await asyncio.wait_for(client.aclose(close_connection_pool=True), CLOSE_WAIT)
    except TimeoutError:
        log.debug("redis connections did not close within %.0f s; dropped", CLOSE_WAIT)
    except (RedisError, OSError) as exc:
        log.debug("closing redis connections: %s", exc)


def _now_us() -> int:
    return time.time_ns() // 1000
