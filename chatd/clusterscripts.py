"""The cluster's Redis keys and the Lua scripts that change more than one of them at once.

Keys, under the prefix ``name``: ``:events`` the stream; ``:epoch`` the chat's epoch (a
random token: a Redis that restarted empty has none, or another); ``:node:<node>`` a
node's lease (its incarnation, with a TTL); ``:nodes`` a hash node -> incarnation of the
nodes that joined; ``:snapshot`` and ``:snapshot:id`` the latest snapshot and the stream
id it was taken at.  Each script first checks the epoch, so a node that has not yet seen
a new epoch cannot write into it.  For one Redis (or a primary with replicas), not Redis
Cluster: the scripts touch keys they do not declare.
"""

from __future__ import annotations

from dataclasses import dataclass

# -> the epoch in force.  ARGV: the epoch we had ("" for none), a fresh token, "1" to end
# ours (Redis lost entries), the frames of the shared settings.  A new epoch starts from
# nothing but those settings, its first entry: every replica that reads the stream from
# its start then applies the same settings before anything else.
EPOCH = """
local cur = redis.call('GET', KEYS[1])
if cur and not (ARGV[3] == '1' and cur == ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2], 's', 'first:1', 'f', ARGV[4])
return ARGV[2]
"""

# -> -1 another epoch, 0 the node's name is held by a live lease, 1 claimed.  ARGV: node,
# incarnation, epoch, lease ms, the incarnation this process had before ("" for none).
# A lease that is ours already (a retried claim) or our earlier one's is taken over.  An
# earlier incarnation of the same node that nobody reaped yet is said gone here.
CLAIM = """
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
local held = redis.call('GET', KEYS[4])
if held and held ~= ARGV[2] and held ~= ARGV[5] then return 0 end
redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[4])
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and old ~= ARGV[2] then
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], 'g', ARGV[1] .. '~' .. old .. '/')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# -> -1 another epoch, 0 the lease is not ours any more, 1 refreshed.
REFRESH = """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# -> -1 another epoch, else how many nodes were said gone: each whose lease expired (or
# holds another incarnation) leaves the hash and gets one gone entry, atomically, so two
# nodes reaping at once append it once.
REAP = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return -1 end
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if redis.call('GET', ARGV[1] .. all[i]) ~= all[i + 1] then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('XADD', KEYS[2], '*', 'e', ARGV[2], 'g', all[i] .. '~' .. all[i + 1] .. '/')
    n = n + 1
  end
end
return n
"""

# A clean stop: the lease goes, and the node is said gone at once (its users left already,
# unless the last of their events did not make it), not a lease later.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  if redis.call('GET', KEYS[4]) == ARGV[3] then
    redis.call('XADD', KEYS[3], '*', 'e', ARGV[3], 'g', ARGV[1] .. '~' .. ARGV[2] .. '/')
  end
end
return 1
"""

# -> -1 another epoch, 0 a newer snapshot is stored already, 1 stored.  The stream is
# trimmed behind the snapshot this one replaces, not behind this one: a node that has
# just read the older one still finds every entry after it.
SNAPSHOT = """
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return -1 end
local function id(text)
  local ms, seq = string.match(text, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local cur = redis.call('GET', KEYS[2])
if cur then
  local a1, a2 = id(ARGV[1])
  local b1, b2 = id(cur)
  if a1 < b1 or (a1 == b1 and a2 <= b2) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
if cur then redis.call('XTRIM', KEYS[3], 'MINID', cur) end
return 1
"""


@dataclass(frozen=True)
class Keys:
    name: str
    node: str

    @property
    def stream(self) -> str:
        return f"{self.name}:events"

    @property
    def epoch(self) -> str:
        return f"{self.name}:epoch"

    @property
    def nodes(self) -> str:
        return f"{self.name}:nodes"

    @property
    def lease_prefix(self) -> str:
        return f"{self.name}:node:"

    @property
    def lease(self) -> str:
        return self.lease_prefix + self.node

    @property
    def snapshot(self) -> str:
        return f"{self.name}:snapshot"

    @property
    def snapshot_id(self) -> str:
        return f"{self.name}:snapshot:id"
