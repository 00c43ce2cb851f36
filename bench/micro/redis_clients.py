"""How the cluster bus's client library was chosen: redis-py (with hiredis) against coredis.

The bus does two things per event (``relay.bus``): one call of the publishing Lua script, and,
on every node, reading the entry back with ``XREAD`` and taking its fields apart. This script
measures the client's own CPU (``time.process_time``: Redis's CPU is not counted) for both
shapes, with each library, on the machine's Redis (a database of its own, flushed):

- ``publish, one call per event``: EVALSHA awaited one by one;
- ``publish, pipelined``: batches of 256 EVALSHA in one round trip (what the bus does under load);
- ``read``: XREAD of 1,000 entries with the bus's seven fields, until 20,000 are read.

    python -m bench.micro.redis_clients [--url redis://127.0.0.1:6379/14] [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import coredis
import redis.asyncio as aioredis

from relay.bus import scripts

BATCH = 256
READ = 1000
PAYLOAD = '{"instanceName":"a-vendas","tenantId":"acme","status":"WORKING","server":"evo-1"'


def publish_args(number: int) -> tuple[list[str], list[Any]]:
    keys = [scripts.seq_key("acme"), scripts.history_key("acme"), scripts.BUS]
    args = [time.time_ns() // 1000, 1000, 100_000, "acme", f"i{number % 50}", "instance.status",
            PAYLOAD, ",", "bench"]  # fmt: skip
    return keys, args


async def timed(work: Callable[[], Awaitable[int]]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    count = await work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"per_s": round(count / wall), "client_cpu_us_per_op": round(cpu / count * 1e6, 2)}


async def with_redis_py(url: str, events: int) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        await client.flushdb()
        sha = await client.script_load(scripts.PUBLISH)

        async def one_by_one() -> int:
            for n in range(events // 4):
                keys, args = publish_args(n)
                await client.evalsha(sha, 3, *keys, *args)
            return events // 4

        async def pipelined() -> int:
            for start in range(0, events, BATCH):
                async with client.pipeline(transaction=False) as pipe:
                    for n in range(start, min(events, start + BATCH)):
                        keys, args = publish_args(n)
                        pipe.evalsha(sha, 3, *keys, *args)
                    await pipe.execute()
            return events

        async def read() -> int:
            position, seen = "0-0", 0
            while seen < events:
                reply: Any = await client.xread({scripts.BUS: position}, count=READ)
                for _stream, entries in reply:
                    for entry_id, fields in entries:
                        seen += bool(fields["p"])
                        position = entry_id
            return seen

        return {
            "publish, one call per event": await timed(one_by_one),
            "publish, pipelined": await timed(pipelined),
            "read": await timed(read),
        }
    finally:
        await client.aclose(close_connection_pool=True)


async def with_coredis(url: str, events: int) -> dict[str, Any]:
    client: Any = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        await client.flushdb()
        sha = await client.script_load(scripts.PUBLISH)

        async def one_by_one() -> int:
            for n in range(events // 4):
                keys, args = publish_args(n)
                await client.evalsha(sha, keys=keys, args=args)
            return events // 4

        async def pipelined() -> int:
            for start in range(0, events, BATCH):
                async with client.pipeline(transaction=False) as pipe:
                    for n in range(start, min(events, start + BATCH)):
                        keys, args = publish_args(n)
                        pipe.evalsha(sha, keys=keys, args=args)
            return events

        async def read() -> int:
            position, seen = "0-0", 0
            while seen < events:
                reply = await client.xread({scripts.BUS: position}, count=READ)
                for entries in (reply or {}).values():
                    for entry in entries:
                        seen += bool(entry.field_values["p"])
                        position = entry.identifier
            return seen

        return {
            "publish, one call per event": await timed(one_by_one),
            "publish, pipelined": await timed(pipelined),
            "read": await timed(read),
        }


async def main(url: str, events: int, rounds: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"redis-py + hiredis": [], "coredis": []}
    for _ in range(rounds):  # interleaved, so that the machine's load falls on both alike
        results["redis-py + hiredis"].append(await with_redis_py(url, events))
        results["coredis"].append(await with_coredis(url, events))
    best: dict[str, Any] = {}
    for library, runs in results.items():
        best[library] = {
            shape: min((run[shape] for run in runs), key=lambda f: f["client_cpu_us_per_op"])
            for shape in runs[0]
        }
    return {"events": events, "rounds": rounds, "best_of_rounds": best, "runs": results}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="redis://127.0.0.1:6379/14")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(json.dumps(asyncio.run(main(a.url, a.events, a.rounds)), indent=1))
