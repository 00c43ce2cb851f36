"""The audit trail of mutating management calls: one row per call, success or failure.

:func:`audited` is the one place that writes it. The route layer wraps every mutating call in
it; the call fills in what it learns on the way (the instance's tenant once it is known to be
visible, the status Evolution answered with) on the :class:`Operation` it is given. Nothing
secret goes into ``detail``: no tokens, no API keys, no webhook headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from relay.auth import Principal
from relay.errors import DatabaseUnavailable, RelayError, UpstreamRejected
from relay.store.models import AuditEntry

from .context import Context

log = logging.getLogger(__name__)

T = TypeVar("T")

SUCCESS = "success"
FAILURE = "failure"


@dataclass(slots=True)
class Operation:
    """One mutating call as the audit log records it.

    ``tenant_id`` starts as the caller's tenant and becomes the instance's tenant only once the
    instance is known to be visible to the caller, so a row never reveals another tenant.
    """

    principal: Principal
    action: str
    instance_name: str | None = None
    tenant_id: str | None = None
    upstream_status: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tenant_id is None:
            self.tenant_id = self.principal.tenant


async def audited(ctx: Context, op: Operation, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` and record one audit row for it, whatever its outcome; re-raise errors."""
    started = time.monotonic()
    try:
        result = await work()
    except RelayError as exc:
        if isinstance(exc, UpstreamRejected):
            op.upstream_status = exc.upstream_status
        await _record(ctx, op, FAILURE, started, code=exc.code, status=exc.status)
        raise
    except Exception:
        # Recorded, then re-raised untouched: the error middleware logs it and answers 500.
        await _record(ctx, op, FAILURE, started, code="INTERNAL_ERROR", status=500)
        raise
    await _record(ctx, op, SUCCESS, started, code=None, status=None)
    return result


async def _record(
    ctx: Context, op: Operation, outcome: str, started: float, *, code: str | None,
    status: int | None,
) -> None:  # fmt: skip
    duration_ms = (time.monotonic() - started) * 1000
    detail = dict(op.detail)
    if code is not None:
        detail["code"] = code
        detail["status"] = status
    entry = AuditEntry(
        actor=op.principal.user,
        role=op.principal.role.value,
        tenant_id=op.tenant_id,
        instance_name=op.instance_name,
        action=op.action,
        outcome=outcome,
        upstream_status=op.upstream_status,
        duration_ms=round(duration_ms, 3),
        detail=detail,
    )
    log.info(
        "%s of instance %s (tenant %s) by %s (%s): %s%s in %.0f ms, upstream %s",
        op.action, op.instance_name, op.tenant_id, op.principal.user, op.principal.role.value,
        outcome, f" {code}" if code else "", duration_ms, op.upstream_status,
    )  # fmt: skip
    try:
        await ctx.store.record_audit(entry)
    except DatabaseUnavailable:
        # The call's own outcome must still reach the client; the row is lost, loudly.
        log.error(
            "audit row lost (database unavailable): %s of instance %s (tenant %s) by %s: %s",
            op.action, op.instance_name, op.tenant_id, op.principal.user, outcome,
        )  # fmt: skip
