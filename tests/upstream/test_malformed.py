"""Malformed upstream envelopes (hypothesis): dropped and counted; the relay keeps running."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.store import Status
from simulator import PresetInstance
from tests.support import eventually, wait_stored
from tests.upstream.conftest import MakeLive

NAMES = ["connection.update", "qrcode.updated", "messages.upsert", "logout.instance", "x"]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
json_values = st.recursive(
    scalars | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(json_values, st.sampled_from(["m1", "other", ""]))
envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.one_of(st.sampled_from(NAMES), json_values),
        "instance": field_values,
        "data": json_values,
        "server_url": field_values,
        "date_time": field_values,
        "sender": field_values,
        "apikey": field_values,
    },
)
raw_events = st.tuples(st.sampled_from(NAMES), st.one_of(json_values, envelope_like))


def generated(count: int) -> list[tuple[str, Any]]:
    samples: list[tuple[str, Any]] = []

    @settings(max_examples=count, database=None, suppress_health_check=list(HealthCheck))
    @given(raw_events)
    def collect(sample: tuple[str, Any]) -> None:
        samples.append(sample)

    collect()
    return samples


async def test_malformed_envelopes_are_counted_and_harmless(live_env: MakeLive) -> None:
    env = await live_env([PresetInstance("m1", state="open")], {"m1": "t1"})
    await eventually(lambda: env.live.upstream.subscribed("m1"))
    samples = generated(400)
    for event, raw in samples:
        # What python-socketio calls for an event on /m1.
        await env.live.upstream.on_event("/m1", event, raw)
    malformed = env.dropped("malformed")
    unknown = env.dropped("unknown_instance")
    assert malformed > 0
    received = sum(
        s.value
        for m in env.metrics.events_received.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert malformed + unknown + received == len(samples)
    await env.live.writer.wait_idle()

    # Still running: a real event goes through and is written.
    await env.sim.drop("m1", 401)
    await wait_stored(env.store, "m1", Status.STOPPED)
    env.assert_no_secrets()
    assert all("apikey" not in p.payload for p in env.hub.published)
