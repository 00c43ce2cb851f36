"""Fenced writes (a cluster's leases, relay/store/leases.py): a write carrying a term that is no
longer the server's writes nothing and says so; the current term's write lands."""

from __future__ import annotations

import pytest

from relay.store import Status, Store
from relay.store.leases import LeaseKeeper
from relay.store.store import LeaseLost


async def test_a_stale_terms_writes_land_nowhere(store: Store, database_url: str) -> None:
    await store.create_instance("acme", "f1", status=Status.WORKING, reason="created")
    await store.create_instance("acme", "f2", status=Status.WORKING, reason="created")
    old_keeper, new_keeper = await LeaseKeeper.connect(database_url), None
    try:
        old = await old_keeper.take("default", "node-a")
        assert old is not None
        await old_keeper.close()  # node-a's session ends: its lock goes, its term stays behind
        new_keeper = await LeaseKeeper.connect(database_url)
        new = await new_keeper.take("default", "node-b")
        assert new is not None and new > old

        history = await store.status_history("f1")
        with pytest.raises(LeaseLost):
            await store.update_status("f1", Status.STOPPED, "stale", term=old)
        with pytest.raises(LeaseLost):
            await store.delete_instance("f2", term=old)
        row = await store.get_instance("f1")
        assert row is not None and row.status is Status.WORKING
        assert await store.status_history("f1") == history  # no history row either
        assert await store.get_instance("f2") is not None

        update = await store.update_status("f1", Status.STOPPED, "current", term=new)
        assert update is not None and update.change is not None
        assert await store.delete_instance("f2", term=new)
        assert await store.get_instance("f2") is None
        # an unfenced write (a management reply, on any node) needs no term
        assert await store.update_status("f1", Status.WORKING, "api") is not None
    finally:
        if new_keeper is not None:
            await new_keeper.close()
