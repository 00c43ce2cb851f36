"""What a client gets when it (re)connects: missed events, the snapshot, then what came after.

The positions (each tenant's current seq) are read *before* the snapshot's database read, and
the welcome is computed *after* it, synchronously with the client joining its room. So:

1. events the client missed up to the snapshot's position come first (resume), in order;
2. then ``instances.snapshot`` ``{instances, seq, recovered}``, whose ``seq`` is that position;
3. then the events published while the snapshot was being read (they may or may not already
   be in it; applying them again is harmless), and from then on live events.

Every event with ``seq <= snapshot.seq`` is before the snapshot and every later one after it,
with no gap and no duplicate. ``recovered`` is False when the client asked to resume
(``lastSeq``) and some of what it missed is no longer in the bounded history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relay.hub.history import Entry, History
from relay.store import Instance

# lastSeq as a client sends it: an int for a tenant's client, {tenantId: seq} for a SUPERADMIN.
LastSeq = int | dict[str, int] | None


class Rows:
    """A snapshot's instances, read once and encoded once: every client welcomed from the same
    read (``relay.hub.snapshots``) is sent the same JSON."""

    __slots__ = ("_json", "instances")

    def __init__(self, instances: list[Instance]) -> None:
        self.instances = instances
        self._json: str | None = None

    @property
    def json(self) -> str:
        if self._json is None:
            self._json = _dumps([instance_entry(instance) for instance in self.instances])
        return self._json


@dataclass(frozen=True, slots=True)
class Welcome:
    before: list[Entry]
    snapshot: dict[str, Any]  # all but its instances, which are ``rows``
    after: list[Entry]
    rows: Rows

    def snapshot_json(self) -> str:
        """``instances.snapshot``'s payload: ``{"instances": [...], "seq": ..., ...}``."""
        return '{"instances":' + self.rows.json + "," + _dumps(self.snapshot)[1:]


def instance_entry(instance: Instance) -> dict[str, Any]:
    """An instance as the snapshot and ``instance.added`` carry it: enough for a panel to draw
    it (status, why and since when, QR, profile) with no further HTTP call."""
    qr = instance.qrcode
    return {
        "instanceName": instance.name,
        "tenantId": instance.tenant_id,
        "status": instance.status.value,
        "statusReason": instance.status_reason,
        "statusAt": instance.status_at.isoformat(),
        "qrcode": qr.model_dump() if qr is not None else None,
        "profileName": instance.profile_name,
        "wuid": instance.wuid,
        "updatedAt": instance.updated_at.isoformat(),
        "server": instance.server,
    }


def resume_positions(history: History, last: LastSeq, scope: str | None) -> dict[str, int] | None:
    """Where the client says it stopped, per tenant; None when that cannot be honoured."""
    if scope is not None:
        return {scope: last} if isinstance(last, int) else None
    if not isinstance(last, dict):
        return None
    positions: dict[str, int] = {}
    for tenant_id in history.known_tenants():
        if tenant_id in last:
            positions[tenant_id] = last[tenant_id]
        elif history.log(tenant_id).entries:
            return None  # a tenant it never saw has had events since: cannot tell which
    return positions


def build(
    history: History,
    scope: str | None,
    positions: Mapping[str, int],
    rows: Rows,
    last: LastSeq,
) -> Welcome:
    """``scope`` is the tenant, or None for a SUPERADMIN (every tenant)."""
    if scope is None:
        positions = {**_first_seen(history, positions), **positions}
    recovered = True
    after = history.since(positions)
    if after is None:  # more than the history's size arrived during the snapshot read
        recovered, after = False, []
    before: list[Entry] = []
    if last is not None:
        resume_from = resume_positions(history, last, scope)
        missed = history.since(resume_from) if resume_from is not None else None
        if missed is None or resume_from is None:
            recovered = False
        else:
            before = [entry for entry in missed if entry.seq <= positions.get(entry.tenant_id, -1)]
            after = [entry for entry in after if entry.seq > resume_from.get(entry.tenant_id, -1)]
    seq: int | dict[str, int] = positions[scope] if scope is not None else dict(positions)
    snapshot = {"seq": seq, "recovered": recovered}
    return Welcome(before=before, snapshot=snapshot, after=after, rows=rows)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _first_seen(history: History, positions: Mapping[str, int]) -> dict[str, int]:
    """Tenants whose first event came after the positions were read: all of it is new."""
    first: dict[str, int] = {}
    for tenant_id in history.known_tenants():
        entries = history.log(tenant_id).entries
        if tenant_id not in positions and entries:
            first[tenant_id] = entries[0].seq - 1
    return first
