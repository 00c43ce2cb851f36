"""Following Evolution's Socket.IO output (docs/upstream.md §6): subscription and reconciliation.

Data arrives from Evolution and leaves to ``relay.pipeline`` (events) and to the status writer
(reconciliation corrections).
"""

from relay.backoff import Backoff
from relay.upstream.reconcile import Reconciler
from relay.upstream.subscription import Subscription

__all__ = ["Backoff", "Reconciler", "Subscription"]
