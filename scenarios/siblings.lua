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

-- Blind concurrent writes beyond the bound fail with "too many siblings".
local writers, failures, finished = P.siblings_max + 4, 0, 0
for i = 1, writers do
  local cl = c:client { via = owners[1 + (i % 3)] }
  spawn(function()
    local ok, err = cl:put("hot", "v" .. i)
    if not ok then
      check(err == "too many siblings", "unexpected error: " .. tostring(err))
      failures = failures + 1
    end
    finished = finished + 1
  end)
end
while finished < writers do sleep(1) end
-- Each replica stays under the hard cap; the bound itself is what coordinators refuse past.
local hot_owners = c:preference_list("hot")
for i = 1, #hot_owners do
  -- With r=1 the coordinator answers from its own store, so this reads one replica.
  local mine = c:client { via = hot_owners[i] }:get("hot", { r = 1 })
  check(#mine <= 128, string.format("replica %d holds %d siblings", hot_owners[i], #mine))
end
-- A blind write through a coordinator already at the bound is refused.
local full = c:client { via = hot_owners[1] }
local before = #full:get("hot", { r = 1 })
if before >= P.siblings_max then
  local ok2, err2 = full:put("hot", "one more")
  check(not ok2 and err2 == "too many siblings", "a write past the bound was refused")
end
values = reader:get("hot", { r = 3 })
check(failures > 0, "writes past the bound were refused")
log(string.format("hot key: %d siblings across replicas, %d writes refused", #values, failures))
