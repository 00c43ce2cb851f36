"""The typed forms of what flows through the pipeline: the envelope and the event.

Evolution's envelope is ``{event, instance, data, server_url, date_time, sender, apikey}``
(docs/upstream.md §6.5). :func:`parse_envelope` removes ``apikey`` first (it is the instance token,
so nothing downstream may see it), validates the rest once, and stamps ``receivedAt`` because
``date_time`` is local time with a false ``Z`` (§6.5, §11.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SECRET_KEYS = frozenset({"apikey"})


class Envelope(BaseModel):
    """The fields the relay reads; unknown keys stay in the payload and are ignored here."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    event: str = Field(min_length=1, max_length=100)
    instance: str = Field(min_length=1, max_length=64)
    data: Any = None
    server_url: str | None = None
    date_time: str | None = None
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted event of a known instance; ``payload`` is what frontends receive."""

    name: str
    instance: str
    tenant_id: str
    data: Any
    payload: dict[str, Any]


def received_at(moment: datetime | None = None) -> str:
    """``2025-10-21T23:37:55.087Z``: the arrival time, really UTC."""
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_envelope(raw: Any) -> tuple[Envelope, dict[str, Any]]:
    """``(envelope, payload)``; payload: ``raw`` copied without ``apikey``, with ``receivedAt``.

    Raises ``ValueError`` (pydantic's ``ValidationError`` is one) for anything malformed.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"envelope is a {type(raw).__name__}, not an object")
    payload = dict(raw)
    for key in SECRET_KEYS:
        payload.pop(key, None)
    envelope = Envelope.model_validate(payload)
    payload["receivedAt"] = received_at()
    return envelope, payload
