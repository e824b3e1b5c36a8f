-- siblings.lua: concurrent writes become siblings; a put with the context reconciles them.
--
--   dynsim run scenarios/siblings.lua --seed 1
--
-- Two clients write one key at the same instant through different coordinators, neither having
-- seen the other's write: the vector clocks are concurrent, so a read returns both versions and a
-- context that descends both. A put with that context supersedes them. Then many concurrent blind
-- writes run into the sibling bound: a write whose coordinator already holds siblings_max
-- versions fails with a clear error instead of growing the set without limit. (Replicas accept
-- what other coordinators accepted, up to a hard cap of 128, so that they can still converge.)

scenario { name = "siblings", description = "concurrent writes, siblings, reconciliation, bound" }

local P = params {
  siblings_max = { 8, "the cluster's bound on siblings per key" },
}

local c = cluster.new { nodes = 5, n = 3, r = 2, w = 2, latency = 1,
                        siblings_max = P.siblings_max }
local key = "cart"
local owners = c:preference_list(key)

-- Two writers, each through a different replica of the key, at the same instant.
local a = c:client { via = owners[1] }
local b = c:client { via = owners[2] }
local done = 0
spawn(function() check(a:put(key, "milk"), "writer a failed"); done = done + 1 end)
spawn(function() check(b:put(key, "eggs"), "writer b failed"); done = done + 1 end)
while done < 2 do sleep(1) end

local reader = c:client {}
local values, ctx = reader:get(key, { r = 3 })
table.sort(values)
check(#values == 2, "expected 2 siblings, got " .. #values)
check(values[1] == "eggs" and values[2] == "milk", "siblings are the two written values")

-- The application merges the siblings and writes back with the context: one version remains.
check(reader:put(key, "eggs,milk", ctx), "reconciling put failed")
values = reader:get(key, { r = 3 })
check(#values == 1 and values[1] == "eggs,milk", "the context superseded both siblings")

-- A write with a stale context (the one read before the merge) is concurrent with the merge.
check(reader:put(key, "stale", ctx), "stale put failed")
values = reader:get(key, { r = 3 })
check(#values == 2, "a put with an old context is kept as a sibling, not lost")

-- The bound: blind writes through one coordinator are each concurrent with all before them (no
-- context), so each adds a sibling there; the write that would pass siblings_max is refused.
local hot = c:preference_list("hot")
local through = c:client { via = hot[1] }
for i = 1, P.siblings_max do
  check(through:put("hot", "v" .. i), "blind write " .. i .. " within the bound")
end
local ok, err = through:put("hot", "one too many")
check(not ok and err == "too many siblings", "the write past the bound was refused: " .. tostring(err))
local mine = through:get("hot", { r = 1 })
check(#mine == P.siblings_max, "the coordinator holds exactly the bound: " .. #mine)
-- Replicas may hold more (what other coordinators accepted), up to the hard cap of 128.
for i = 1, #hot do
  local held = c:client { via = hot[i] }:get("hot", { r = 1 })
  check(#held <= 128, string.format("replica %d holds %d siblings", hot[i], #held))
end
-- A put with the context of everything supersedes them all, bound or not.
local values, ctx = c:client {}:get("hot", { r = 3 })
check(c:client {}:put("hot", "resolved", ctx), "a resolving write is accepted")
values = c:client {}:get("hot", { r = 3 })
check(#values == 1 and values[1] == "resolved", "one version left after resolving")
