"""``PeerEvents``: what the other nodes of the cluster did, applied to this node's trackers.

The bus's reader hands over control signals (``connecting``, ``deleting``, ``delete_failed``
for the node that follows the instance's server; ``upstream``, a server's state as its follower
sees it, for every node) and the lifecycle events other nodes published (``instance.added``,
``instance.removed``, ``instance.status``), so that each tracker keeps its inventory and its
view of the rows true whichever node served the management call.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from relay.fleet import Fleet
from relay.hub.hub import ADDED, REMOVED, STATUS, Hub
from relay.tasks import Tasks

log = logging.getLogger(__name__)


class PeerEvents:
    def __init__(self, node: str, fleet: Fleet, hub: Hub, tasks: Tasks) -> None:
        self._node = node
        self._fleet = fleet
        self._hub = hub
        self._tasks = tasks

    def peer_control(self, op: str, server: str, value: str, node: str) -> None:
        if op == "upstream":
            self._upstream(server, value)
            return
        if node == self._node:
            return
        for upstream in self._fleet:
            if upstream.server.name == server:
                upstream.live.peer_signal(op, value)

    def _upstream(self, server: str, value: str) -> None:
        entry = json.loads(value)
        self._hub.upstream_entry(entry)
        for upstream in self._fleet:
            if upstream.server.name == server and not upstream.live.leading:
                upstream.live.upstream_state = (entry["state"],
                                                datetime.fromisoformat(entry["since"]))  # fmt: skip

    def peer_event(self, event: str, instance: str, payload_json: str, node: str) -> None:
        if event == ADDED:
            for upstream in self._fleet:
                self._tasks.spawn(upstream.live.peer_added(instance), f"peer-added-{instance}")
        elif event == REMOVED:
            for upstream in self._fleet:
                upstream.live.peer_removed(instance)
        elif event == STATUS:
            status = json.loads(payload_json).get("status")
            for upstream in self._fleet:
                upstream.live.peer_status(instance, str(status))
