"""``Subscription``: follow Evolution's Socket.IO output, in ``instance`` or ``global`` mode.

- ``instance`` (default): one namespace ``/{name}`` per recorded instance, all over one
  connection (:mod:`relay.upstream.socket`), or over a connection each on untested library
  versions (:mod:`relay.upstream.per_namespace`). A namespace refused with "Invalid namespace"
  (lazy namespaces, docs/upstream.md §6.4) is retried alone, with backoff and jitter capped at
  30 s; the others are not held up.
- ``global``: the root namespace only (``WEBSOCKET_GLOBAL_EVENTS=true``); events are kept
  only for recorded instances, by ``payload.instance`` (the pipeline's tenant lookup).

A dropped connection is reconnected with a backoff capped at ``reconnect_cap`` (2 s), so that
the relay is back within seconds of Evolution answering again (a restart takes 9–13 s before
it answers, docs/upstream.md §12); then every namespace is joined again with fresh backoffs.
``on_subscribed(name)`` is called after each (re)subscription of an instance, and
``on_subscribed(None)`` after each (re)connection of the root namespace, so that the relay
reconciles what it may have missed (the first event after an Evolution restart creates the
namespace and is never received). ``on_state(up)`` is called once per change between up and
down. Trouble is logged once per change of state (connected, lost, or a new reason for failing,
as ``diagnose`` words it), not once per retry.

:meth:`Subscription.hurry` is for an instance that is about to emit its first events (a
``connect`` or ``restart`` call is under way): its namespace is retried every ``HURRY_EVERY``
seconds for ``HURRY_WINDOW`` seconds, so that its first QR, about a second after the namespace
comes to exist, is not missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

from prometheus_client import Gauge

from relay.backoff import Backoff
from relay.upstream.per_namespace import SocketPerNamespace
from relay.upstream.socket import ROOT, MultiplexedSocket, UpstreamSocket

log = logging.getLogger(__name__)

Feed = Callable[[str, Any], Awaitable[object]]
OnSubscribed = Callable[[str | None], None]
OnState = Callable[[bool], None]
# Why the connection failed, in one line an operator can act on (relay.evolution.probe).
Diagnose = Callable[[], Awaitable[str]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]

CONNECT_TIMEOUT = 10.0
HURRY_EVERY = 0.15
HURRY_WINDOW = 5.0


class Subscription:
    def __init__(
        self,
        url: str,
        apikey: str,
        mode: Literal["instance", "global"],
        *,
        feed: Feed,
        on_subscribed: OnSubscribed,
        on_state: OnState,
        spawn: Spawn,
        namespaces: Gauge,
        first_delay: float = 0.25,
        max_delay: float = 30.0,
        reconnect_cap: float = 2.0,
        diagnose: Diagnose | None = None,
        fast: bool = True,
    ) -> None:
        """``fast``: one multiplexed connection may be used (``relay.internals``, at start-up);
        else a connection per namespace, over python-socketio's public API."""
        self.mode = mode
        self._diagnose = diagnose
        self._feed = feed
        self._on_subscribed = on_subscribed
        self._on_state = on_state
        self._reconnect_cap = reconnect_cap
        self._up = False  # until the first connection: the tracker says "down" at start
        self._problem: str | None = None  # the last trouble logged; None while connected
        self._down_since: float | None = None
        self._hurried: dict[str, float] = {}  # namespace -> until (loop time)
        self._spawn = spawn
        self._namespaces = namespaces
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._socket: UpstreamSocket = (
            MultiplexedSocket(url, apikey, self)
            if fast
            else SocketPerNamespace(url, apikey, self, spawn)
        )
        self._wanted: set[str] = set()
        self._joined: set[str] = set()
        self._backoff: dict[str, Backoff] = {}
        self._retrying: dict[str, asyncio.Task[Any]] = {}
        self.up = asyncio.Event()
        self.tried = asyncio.Event()  # set once the first connect attempt has ended

    # -- what the relay asks --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._socket.connected

    def subscribed(self, name: str) -> bool:
        return self.mode == "global" or "/" + name in self._joined

    def subscribe(self, name: str) -> None:
        if self.mode == "global" or name in self._wanted:
            return
        self._wanted.add(name)
        if self._socket.connected:
            self._spawn(self._join("/" + name), f"upstream-join-{name}")

    def hurry(self, name: str) -> None:
        """The instance is about to emit its first events: join its namespace quickly."""
        namespace = "/" + name
        if self.mode == "global" or name not in self._wanted or namespace in self._joined:
            return
        self._hurried[namespace] = asyncio.get_running_loop().time() + HURRY_WINDOW
        retry = self._retrying.pop(namespace, None)
        if retry is not None:
            retry.cancel()
        if self._socket.connected:
            self._spawn(self._join(namespace), f"upstream-join-{name}")

    def unsubscribe(self, name: str) -> None:
        self._wanted.discard(name)
        namespace = "/" + name
        self._backoff.pop(namespace, None)
        self._hurried.pop(namespace, None)
        retry = self._retrying.pop(namespace, None)
        if retry is not None:
            retry.cancel()
        if namespace in self._joined:
            self._joined.discard(namespace)
            self._namespaces.set(len(self._joined))
            self._spawn(self._socket.leave(namespace), f"upstream-leave-{name}")

    async def run(self) -> None:
        """Connect, and reconnect whenever the connection drops, until cancelled."""
        backoff = Backoff(self._first_delay, self._reconnect_cap)
        while True:
            try:
                await self._socket.connect(CONNECT_TIMEOUT)
            except ConnectionError as exc:
                await self._failed(str(exc))
                self._set_state(up=False)
                self.tried.set()
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            self._backoff.clear()  # every namespace starts its retries afresh
            self._connected()
            self.tried.set()
            self.up.set()
            self._set_state(up=True)
            self._on_subscribed(None)
            for name in sorted(self._wanted):
                await self._join("/" + name)
            await self._socket.wait_closed()
            self.up.clear()
            self._joined.clear()
            self._namespaces.set(0)
            self._problem = "connection lost"
            self._down_since = time.monotonic()
            log.warning("evolution socket.io connection lost; reconnecting")
            self._set_state(up=False)
            await asyncio.sleep(backoff.next())

    def _set_state(self, *, up: bool) -> None:
        if self._up is up:
            return
        self._up = up
        self._on_state(up)

    async def close(self) -> None:
        for task in self._retrying.values():
            task.cancel()
        self._retrying.clear()
        await self._socket.close()

    # -- what the socket reports (SocketListener) ---------------------------------------------

    async def on_event(self, namespace: str, event: str, data: Any) -> None:
        if (namespace == ROOT) == (self.mode == "global"):
            await self._feed(event, data)

    async def on_joined(self, namespace: str) -> None:
        if namespace == ROOT:
            return
        if namespace[1:] not in self._wanted:  # unsubscribed while the CONNECT was in flight
            await self._socket.leave(namespace)
            return
        self._joined.add(namespace)
        self._backoff.pop(namespace, None)
        self._hurried.pop(namespace, None)
        self._namespaces.set(len(self._joined))
        log.debug("subscribed to instance %s", namespace[1:])
        self._on_subscribed(namespace[1:])

    async def on_refused(self, namespace: str, message: str) -> None:
        if namespace == ROOT or namespace[1:] not in self._wanted:
            return
        backoff = self._backoff.setdefault(namespace, Backoff(self._first_delay, self._max_delay))
        delay = backoff.next()
        until = self._hurried.get(namespace)
        if until is not None:
            if asyncio.get_running_loop().time() < until:
                delay = HURRY_EVERY
            else:
                del self._hurried[namespace]
        log_at = logging.INFO if backoff.attempts == 1 else logging.DEBUG
        log.log(
            log_at, "namespace of instance %s refused (%s); retrying in %.1f s",
            namespace[1:], message, delay,
        )  # fmt: skip
        self._retry_later(namespace, delay)

    async def on_left(self, namespace: str) -> None:
        if namespace == ROOT or namespace not in self._joined:
            return
        self._joined.discard(namespace)
        self._namespaces.set(len(self._joined))
        if self._socket.connected and namespace[1:] in self._wanted:
            # The server dropped this namespace alone; the connection is still up.
            backoff = self._backoff.setdefault(
                namespace, Backoff(self._first_delay, self._max_delay)
            )
            self._retry_later(namespace, backoff.next())

    # -- state changes, logged once each ------------------------------------------------------

    async def _failed(self, error: str) -> None:
        problem = f"connection failed ({error})"
        if self._diagnose is not None:
            try:
                problem = await self._diagnose()
            except Exception:
                # The diagnosis is a courtesy to the operator; the retry loop must go on.
                log.debug("diagnosing the evolution connection failed", exc_info=True)
        if self._down_since is None:
            self._down_since = time.monotonic()
        if problem != self._problem:
            log.warning(
                "evolution socket.io down: %s (retrying every %.0f s at most; logged again "
                "only when this changes)", problem, self._reconnect_cap,
            )  # fmt: skip
        else:
            log.debug("evolution socket.io still down: %s", problem)
        self._problem = problem

    def _connected(self) -> None:
        if self._down_since is not None:
            log.info(
                "evolution socket.io connected again after %.0f s down (%s mode, %d instances)",
                time.monotonic() - self._down_since, self.mode, len(self._wanted),
            )  # fmt: skip
        else:
            log.info(
                "evolution socket.io connected (%s mode, %d instances)",
                self.mode, len(self._wanted),
            )  # fmt: skip
        self._problem = None
        self._down_since = None

    # -- helpers ------------------------------------------------------------------------------

    async def _join(self, namespace: str) -> None:
        if namespace[1:] in self._wanted and namespace not in self._joined:
            await self._socket.join(namespace)

    def _retry_later(self, namespace: str, delay: float) -> None:
        if namespace in self._retrying:
            return
        self._retrying[namespace] = self._spawn(
            self._retry(namespace, delay), f"upstream-retry-{namespace[1:]}"
        )

    async def _retry(self, namespace: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            if self._retrying.get(namespace) is asyncio.current_task():
                del self._retrying[namespace]
        await self._join(namespace)
