-- kv679.lua: a replica loses its disk, and writes go on through it; nothing acknowledged is lost.
--
--   dynsim run scenarios/kv679.lua --seed 1
--
-- Riak's KV679: a vnode that lost its data came back under the same actor id, its counters
-- restarted from zero, and its new writes carried clock entries the other replicas had already
-- seen, so they were judged old and dropped although the client had been told they succeeded.
-- Here a node whose disk was wiped draws a new epoch before it sends anything, and (node, epoch)
-- is the actor: its new writes are new events. One node coordinates every write below, so its
-- counters climb on every key before the wipe, and the writes after the wipe reuse those numbers.

scenario { name = "kv679", description = "a wiped replica coordinates new writes; none is lost" }

local P = params {
  keys   = { 40, "keys the victim coordinates" },
  rounds = { 4, "writes per key before the wipe, and again after it" },
}

local c = cluster.new { nodes = 5, n = 3, r = 2, w = 2, timeout = 300, sync_writes = "all",
                        latency = { dist = "exponential", mean = 1, offset = 0.2 } }
local victim = 1

-- Keys the victim replicates, so that it coordinates the writes sent to it.
local keys = {}
for i = 1, 100000 do
  if #keys == P.keys then break end
  local key = "k" .. i
  for _, id in ipairs(c:preference_list(key)) do
    if id == victim then keys[#keys + 1] = key; break end
  end
end
check(#keys == P.keys, "found " .. #keys .. " keys the victim replicates")

local via = c:client { via = victim, timeout = 1000 }
local last = {}
local function write_round(tag, blind)
  for _, key in ipairs(keys) do
    local ctx = nil
    if not blind then
      local _, got = via:get(key)
      ctx = got
    end
    local value = tag .. ":" .. key
    if via:put(key, value, ctx) then last[key] = value end
  end
end

for r = 1, P.rounds do write_round("before" .. r, false) end
local epoch = c:node_stats(victim).epoch

c:crash(victim)
c:wipe(victim)
c:restart(victim)
check(c:node_stats(victim).keys == 0, "the wiped node starts empty")
check(c:node_stats(victim).epoch ~= epoch, "and under a new epoch")

-- The first round after the wipe is blind (the victim has nothing to derive a context from, as a
-- client that lost its context would); the rest read first.
write_round("after1", true)

-- Each blind write is concurrent with what the key held, so a read of all three replicas must
-- return it beside the old value. Under a reused actor it would carry a dot the old value's past
-- already covers, and every merge would drop it as stale: the KV679 loss. (The lost-write checker
-- cannot see that loss: it names writes by dot, and a reused dot is ambiguous. So read the values.)
local reader = c:client { timeout = 1000 }
local function holds(key, value)
  local values = reader:get(key, { r = 3 })
  for _, v in ipairs(values or {}) do
    if v == value then return true end
  end
  return false
end
local dropped = 0
for _, key in ipairs(keys) do
  if last[key] == "after1:" .. key and not holds(key, last[key]) then dropped = dropped + 1 end
end
check(dropped == 0, dropped .. " blind writes after the wipe were dropped as stale")

for r = 2, P.rounds do write_round("after" .. r, false) end

local q = c:quiesce { max_ms = 10000 }
check(q.converged, q.divergent .. " keys divergent after quiesce")
local lw = lost_writes()
check(lw.checked > 0 and lw.lost == 0, lw.lost .. " of " .. lw.checked .. " acknowledged writes lost")

-- Every key still returns its last acknowledged value, from all three replicas.
local missing = 0
for _, key in ipairs(keys) do
  if not holds(key, last[key]) then missing = missing + 1 end
end
check(missing == 0, missing .. " keys lost their last acknowledged value")
report("acknowledged_writes", lw.checked)
report("quiesce_reads", q.reads)
