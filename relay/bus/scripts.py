"""The bus's Lua scripts: each runs atomically in Redis, so numbering and keeping are one step.

Keys (``relay:`` prefix, one Redis database per cluster):

- ``relay:seq:{tenant}``: the tenant's last ``seq``. Created from the microsecond clock, like a
  single node's log (``relay.hub.history``), so a Redis that lost its data numbers above
  everything it gave out before, and an old ``lastSeq`` reads as a gap, not as a position.
- ``relay:hist:{tenant}``: a stream, entry id ``{seq}-1``, fields ``i`` (instance), ``e``
  (event), ``p`` (payload JSON with its ``seq``), ``o`` (the entry's id on the bus); at most
  ``RELAY_HISTORY_SIZE`` entries. It serves ``lastSeq`` and ``Last-Event-ID`` on any node.
- ``relay:bus``: the stream every node reads, in one order for the whole cluster. ``k`` is the
  kind: ``e`` an event (``t`` tenant, ``i``, ``e``, ``s`` seq, ``p``), ``r`` a reset (the
  tenant's history is gone: ``t``, ``s`` the seq it starts again after), ``c`` a control signal
  between nodes (``op``, ``server``, ``i`` its value). ``n`` names the node that wrote it.
- ``relay:kept:upstream``: each Evolution server's latest ``upstream.status``, as the node
  that follows it last said it, for nodes that start later.

``string.format('%d', ...)``: Lua numbers are doubles and ``..`` would print a 16-digit seq in
exponent notation; ``%d`` prints it whole (seqs stay below 2**53).
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "relay:"
BUS: Final = PREFIX + "bus"
EPOCH: Final = PREFIX + "epoch"
KEPT: Final = PREFIX + "kept:"  # + op: a hash server -> the latest value (relay:kept:upstream)


def seq_key(tenant_id: str) -> str:
    return f"{PREFIX}seq:{tenant_id}"


def history_key(tenant_id: str) -> str:
    return f"{PREFIX}hist:{tenant_id}"


# KEYS: seq, history, bus. ARGV: now_us, history size, bus length, tenant, instance, event,
# payload head (its JSON without the closing brace), separator ("," or ""), node.
PUBLISH: Final = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local seq = string.format('%d', redis.call('INCR', KEYS[1]))
local payload = ARGV[7] .. ARGV[8] .. '"seq":' .. seq .. '}'
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
    'k', 'e', 't', ARGV[4], 'i', ARGV[5], 'e', ARGV[6], 's', seq, 'p', payload, 'n', ARGV[9])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-1',
    'i', ARGV[5], 'e', ARGV[6], 'p', payload, 'o', id)
return seq
"""

# KEYS: seq, history, bus. ARGV: now_us. -> {seq, the bus's last id, history entries}
PRIME: Final = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local seq = redis.call('GET', KEYS[1])
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
return {seq, last_id, redis.call('XRANGE', KEYS[2], '-', '+')}
"""

# KEYS: seq, history, bus. ARGV: now_us, tenant, node, bus length. The tenant lost events
# (they could not be published): its history goes, and its seq jumps by one, so every lastSeq
# from before reads as a gap (recovered: false) on every node.
RESET: Final = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local seq = string.format('%d', redis.call('INCR', KEYS[1]))
redis.call('DEL', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'k', 'r', 't', ARGV[2], 's', seq,
    'n', ARGV[3])
return seq
"""
