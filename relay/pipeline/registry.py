"""The handler registry: handler modules register for the event names they want.

``registry.on("connection.update", "qrcode.updated")(handler)``; ``registry.on(ANY)`` gets every
event. :meth:`Registry.dispatch` runs the handlers in registration order; a failing handler is
logged with its event and instance and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from relay.pipeline.models import Event
from relay.store.models import StatusIntent

log = logging.getLogger(__name__)

ANY: Final = "*"
_CACHE_LIMIT: Final = 256


class EventContext(Protocol):
    """What event handlers may do. Calls other than ``publish`` never wait on I/O."""

    def events_for(self, instance: str) -> frozenset[str]:
        """The config names (``MESSAGES_UPSERT``) re-emitted for the instance."""

    def submit_status(self, instance: str, intent: StatusIntent) -> None:
        """Queue a status write, in arrival order, coalesced under load."""

    def instance_gone(self, instance: str, reason: str) -> None:
        """Evolution removed the instance by itself: delete its row, tell its tenant."""

    async def publish(self, event: Event) -> None:
        """Re-emit the event to its tenant's room."""


Handler = Callable[[Event, EventContext], Awaitable[None]]


class Registry:
    def __init__(self, context: EventContext) -> None:
        self._context = context
        self._by_name: dict[str, list[Handler]] = {}
        self._any: list[Handler] = []
        self._resolved: dict[str, tuple[Handler, ...]] = {}

    def on(self, *names: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                if name == ANY:
                    self._any.append(handler)
                else:
                    self._by_name.setdefault(name, []).append(handler)
            self._resolved.clear()
            return handler

        return register

    def handlers_for(self, name: str) -> tuple[Handler, ...]:
        found = self._resolved.get(name)
        if found is None:
            found = (*self._by_name.get(name, ()), *self._any)
            if len(self._resolved) < _CACHE_LIMIT:  # names come from upstream: bound them
                self._resolved[name] = found
        return found

    async def dispatch(self, event: Event) -> None:
        for handler in self.handlers_for(event.name):
            try:
                await handler(event, self._context)
            except Exception:
                # One handler's bug must not stop the others or the upstream read loop.
                log.exception(
                    "handler %s failed on %s of instance %s (tenant %s)",
                    getattr(handler, "__qualname__", handler),
                    event.name,
                    event.instance,
                    event.tenant_id,
                )
