-- delete_partition.lua: deletes made while a replica is cut off stay deleted after the heal.
--
--   dynsim run scenarios/delete_partition.lua --seed 1
--
-- The cut-off replica still holds the old values. A delete is a tombstone whose past covers what
-- the client read, so when the replicas meet again (a read's merge, read repair, quiesce) the old
-- value is superseded, not resurrected. Collecting the tombstones before every replica holds them
-- is how stores resurrect data: here none is collected while the replica is cut off, however long
-- past the grace, and all are collected once repair has given every replica its tombstone.

scenario { name = "delete_partition", description = "deletes during a partition, no resurrection" }

local P = params {
  keys = { 30, "keys written, then deleted while one of their replicas is cut off" },
  grace = { 2000, "tombstone grace (ms)" },
}

local c = cluster.new { nodes = 5, n = 3, r = 2, w = 2, timeout = 300, tombstone_grace = P.grace,
                        latency = { dist = "exponential", mean = 1, offset = 0.2 } }
local function reaped()
  local total = 0
  for id = 1, 5 do total = total + c:node_stats(id).tombstones_reaped end
  return total
end
local client = c:client { timeout = 1000 }
-- During the partition each key is written through its first replica, which coordinates itself.
local via = {}
local function through(key)
  local first = c:preference_list(key)[1]
  via[first] = via[first] or c:client { via = first, timeout = 1000 }
  return via[first]
end

-- Keys whose third replica is node 5, so isolating node 5 cuts one replica of each off.
local cut = 5
local keys = {}
for i = 1, 100000 do
  if #keys == P.keys then break end
  local key = "cart" .. i
  if c:preference_list(key)[3] == cut then keys[#keys + 1] = key end
end
check(#keys == P.keys, "found " .. #keys .. " keys")

for _, key in ipairs(keys) do
  check(client:put(key, "milk", nil, { w = 3 }), "written to all three replicas: " .. key)
end

net.isolate(cut)
local deleted = 0
for _, key in ipairs(keys) do
  local coordinator = through(key)
  local values, ctx = coordinator:get(key)
  if values and coordinator:delete(key, ctx) then deleted = deleted + 1 end
end
check(deleted == #keys, "every delete succeeded through the two reachable replicas: " .. deleted)
local stale = c:client { via = cut, timeout = 1000 }
local still = stale:get(keys[1], { r = 1 })
check(still and still[1] == "milk", "the cut-off replica still holds the old value")
sleep(3 * P.grace)
check(reaped() == 0, reaped() .. " tombstones collected while a replica was cut off")

-- Heal and read at once, before any repair: the merge of a tombstone and the value it covers is
-- not-found (an empty list of values).
net.heal()
local resurrected = 0
for _, key in ipairs(keys) do
  local values = through(key):get(key, { r = 3 })
  if not values or #values > 0 then resurrected = resurrected + 1 end
end
check(resurrected == 0, resurrected .. " deleted keys came back on the first read after the heal")

local q = c:quiesce { max_ms = 10000 }
check(q.converged, q.divergent .. " keys divergent after quiesce")
-- After repair even the once cut-off replica answers alone with not-found.
local back = 0
for _, key in ipairs(keys) do
  local values = stale:get(key, { r = 1 })
  if not values or #values > 0 then back = back + 1 end
end
check(back == 0, back .. " keys still live on the once cut-off replica after quiesce")

-- Every replica now holds the tombstones: past the grace they are collected from all three.
sleep(3 * P.grace)
check(reaped() == 3 * #keys, reaped() .. " of " .. 3 * #keys .. " tombstones collected")
local stored = 0
for id = 1, 5 do stored = stored + c:node_stats(id).keys end
check(stored == 0, stored .. " keys still stored after collection")
local gone = 0
for _, key in ipairs(keys) do
  local values = stale:get(key, { r = 3 })
  if values == nil or #values == 0 then gone = gone + 1 end
end
check(gone == #keys, (#keys - gone) .. " collected keys came back")
local lw = lost_writes()
check(lw.lost == 0, lw.lost .. " acknowledged writes or deletes lost")
check(lw.reaped > 0, "the checker counted writes covered by collected tombstones")
report("deletes", deleted)
report("quiesce_reads", q.reads)
report("tombstones_collected", reaped())
report("writes_covered_by_collected_tombstones", lw.reaped)
